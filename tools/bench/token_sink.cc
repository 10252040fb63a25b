#include "tools/bench/token_sink.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tools/bench/bench_payload.h"
#include "wirehub/control/v1/control.grpc.pb.h"

#include <grpcpp/grpcpp.h>

namespace wirehub::bench {
namespace {

namespace pb = ::wirehub::control::v1;

// Counts reactors whose OnDone() ran, so the sink knows when it may
// destroy them. It outlives them. Thread-safe.
class DoneCounter {
 public:
  void Done() {
    absl::MutexLock lock(&mu_);
    ++done_;
  }
  // Whether `count` are done by `deadline`.
  bool WaitFor(size_t count, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto all = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_ >= count; };
    return mu_.AwaitWithDeadline(absl::Condition(&all), deadline);
  }

 private:
  absl::Mutex mu_;
  size_t done_ ABSL_GUARDED_BY(mu_) = 0;
};

std::shared_ptr<grpc::Channel> Dial(const std::string& target, int index) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 1);
  // Channels with equal arguments share one subchannel, so one TCP
  // connection: a distinct argument gives each its own.
  args.SetInt("wirehub.bench.channel_index", index);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Dials `count` connections to control and waits until each is connected.
absl::StatusOr<std::vector<std::unique_ptr<pb::ControlService::Stub>>> Connect(
    const TokenPlan& plan, size_t count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (size_t i = 0; i < count; ++i) channels.push_back(Dial(plan.target, static_cast<int>(i)));
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(plan.connect_timeout);
  std::vector<std::unique_ptr<pb::ControlService::Stub>> stubs;
  for (const std::shared_ptr<grpc::Channel>& channel : channels) {
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat("cannot reach control at ", plan.target));
    }
    stubs.push_back(pb::ControlService::NewStub(channel));
  }
  return stubs;
}

// StreamLane is one PublishStream. Tokens queue in it and go out one write
// at a time: one request per token, or (batched) every queued token up to
// max_batch_items as one batch request. Answers arrive in request order.
// Thread-safe: the pacing thread pushes, kicks and closes; gRPC's threads
// run the reactions.
class StreamLane final
    : public grpc::ClientBidiReactor<pb::PublishStreamRequest, pb::PublishStreamResponse> {
 public:
  StreamLane(const TokenPlan& plan, bool batched, AckCounter* acks, DoneCounter* done)
      : plan_(plan), batched_(batched), acks_(acks), done_(done) {}

  // Opens the stream. The hold keeps OnDone() away until Close(): the
  // pacing thread starts writes from outside the reactions.
  void Start(pb::ControlService::Stub* stub) {
    stub->async()->PublishStream(&context_, this);
    AddHold();
    StartRead(&response_);
    StartCall();
  }

  void Push(const Token& token) {
    absl::MutexLock lock(&mu_);
    if (broken_) {
      acks_->Lost(1, "PublishStream broke");
      return;
    }
    pending_.push_back(token);
  }

  // Starts a write unless one is in flight.
  void Kick() {
    {
      absl::MutexLock lock(&mu_);
      if (write_in_flight_ || !TakeRequest()) return;
    }
    StartWrite(&request_);
  }

  // Half-closes the stream once its last write completed; tokens still
  // queued are lost. Ends the hold: OnDone() follows the server's status.
  void Close() {
    bool writes_done = false;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      if (!pending_.empty()) {
        acks_->Lost(pending_.size(), "not sent before the end of the run");
        pending_.clear();
      }
      if (!write_in_flight_ && !writes_done_) writes_done = writes_done_ = true;
    }
    if (writes_done) StartWritesDone();
    RemoveHold();
  }

  void Cancel() { context_.TryCancel(); }

 private:
  void OnWriteDone(bool ok) override {
    bool write = false;
    bool writes_done = false;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (!ok) Break("PublishStream write failed");
      write = TakeRequest();
      if (!write && closing_ && !writes_done_) writes_done = writes_done_ = true;
    }
    if (write) StartWrite(&request_);
    if (writes_done) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The server ended the stream: what it did not answer is lost.
        Break("PublishStream ended before answering");
        return;
      }
      if (!broken_ && !unanswered_.empty()) {
        const uint64_t items = unanswered_.front();
        unanswered_.pop_front();
        acks_->Answered(&unanswered_sent_, items, MonotonicNowNs());
        Settle(items);
      }
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      acks_->NoteError(absl::StrCat("PublishStream: ", status.error_message()));
    }
    // The last touch of this lane: the sink may destroy it once counted.
    done_->Done();
  }

  // Moves the next request out of pending_ into request_ and marks the
  // write in flight; false when there is nothing to send.
  bool TakeRequest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (broken_ || pending_.empty()) return false;
    request_.Clear();
    size_t items = 1;
    if (!batched_) {
      Fill(pending_.front(), &request_);
    } else {
      items = std::min(pending_.size(), std::max<size_t>(1, plan_.max_batch_items));
      for (size_t i = 0; i < items; ++i) Fill(pending_[i], request_.add_items());
    }
    for (size_t i = 0; i < items; ++i) unanswered_sent_.push_back(pending_[i].sent_ns);
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(items));
    unanswered_.push_back(items);
    write_in_flight_ = true;
    return true;
  }

  void Fill(const Token& token, pb::PublishStreamRequest* request)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    BenchPayload payload;
    payload.seq = token.seq;
    payload.ts_ns = token.sent_ns;
    FormatBenchPayload(payload, plan_.payload_bytes, &data_);
    request->set_channel(plan_.channels[token.conversation]);
    request->set_data(data_);
    request->set_request_id(++next_request_id_);
  }

  // Accounts the answer in response_ to a request of `items` tokens.
  void Settle(uint64_t items) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int results = response_.results_size();
    if (results == 0) {
      // A single publication's answer, or a whole batch refused.
      if (response_.error_code() == 0 && items == 1) {
        acks_->Accepted(1);
      } else {
        acks_->Refused(items, response_.error_code() != 0
                                  ? response_.error_message()
                                  : std::string("a batch answered without results"));
      }
      return;
    }
    for (const pb::PublishStreamResponse& result : response_.results()) {
      if (result.error_code() == 0) {
        acks_->Accepted(1);
      } else {
        acks_->Refused(1, result.error_message());
      }
    }
    if (static_cast<uint64_t>(results) != items) {
      const uint64_t answered = std::min<uint64_t>(items, static_cast<uint64_t>(results));
      if (items > answered) acks_->Lost(items - answered, "a batch answered with too few results");
    }
  }

  // Loses everything queued or unanswered; nothing more is sent.
  void Break(std::string_view why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (broken_) return;
    broken_ = true;
    uint64_t lost = pending_.size();
    for (uint64_t items : unanswered_) lost += items;
    pending_.clear();
    unanswered_.clear();
    unanswered_sent_.clear();
    if (lost > 0) acks_->Lost(lost, why);
  }

  const TokenPlan& plan_;
  const bool batched_;
  AckCounter* const acks_;
  DoneCounter* const done_;
  grpc::ClientContext context_;

  absl::Mutex mu_;
  std::deque<Token> pending_ ABSL_GUARDED_BY(mu_);
  // The token count of every request written and not yet answered, oldest
  // first.
  std::deque<uint64_t> unanswered_ ABSL_GUARDED_BY(mu_);
  // The send time of every token in those requests, in order.
  std::deque<int64_t> unanswered_sent_ ABSL_GUARDED_BY(mu_);
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_request_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::string data_ ABSL_GUARDED_BY(mu_);
  // The write in flight: filled under mu_ by whoever set write_in_flight_,
  // read by gRPC until OnWriteDone().
  pb::PublishStreamRequest request_;
  // The read in flight: written by gRPC, read in OnReadDone().
  pb::PublishStreamResponse response_;
};

// StreamSink sends over StreamLanes: kStream has one per conversation,
// kMultiplexed plan.streams of them.
class StreamSink final : public TokenSink {
 public:
  StreamSink(TokenPlan plan, AckCounter* acks) : plan_(std::move(plan)), acks_(acks) {}

  absl::Status Start() {
    const bool batched = plan_.api == TokenApi::kMultiplexed;
    const size_t lanes = batched ? std::max<size_t>(1, plan_.streams) : plan_.channels.size();
    const size_t per_connection = std::max<size_t>(1, plan_.streams_per_connection);
    const size_t connections = batched ? 1 : (lanes + per_connection - 1) / per_connection;
    absl::StatusOr<std::vector<std::unique_ptr<pb::ControlService::Stub>>> stubs =
        Connect(plan_, connections);
    if (!stubs.ok()) return stubs.status();
    stubs_ = *std::move(stubs);
    touched_.assign(lanes, false);
    for (size_t i = 0; i < lanes; ++i) {
      lanes_.push_back(std::make_unique<StreamLane>(plan_, batched, acks_, &done_));
      lanes_.back()->Start(stubs_[i % stubs_.size()].get());
    }
    return absl::OkStatus();
  }

  void Push(const Token& token) override {
    const size_t lane = token.conversation % lanes_.size();
    lanes_[lane]->Push(token);
    if (!touched_[lane]) {
      touched_[lane] = true;
      touched_list_.push_back(lane);
    }
  }

  void Flush() override {
    for (size_t lane : touched_list_) {
      touched_[lane] = false;
      lanes_[lane]->Kick();
    }
    touched_list_.clear();
  }

  bool Close(absl::Duration timeout) override {
    for (auto& lane : lanes_) lane->Close();
    if (done_.WaitFor(lanes_.size(), absl::Now() + timeout)) return true;
    acks_->NoteError("a PublishStream did not end: cancelled");
    for (auto& lane : lanes_) lane->Cancel();
    return done_.WaitFor(lanes_.size(), absl::Now() + absl::Seconds(10));
  }

 private:
  // The sink's own copy: the lanes read it until they are done.
  const TokenPlan plan_;
  AckCounter* const acks_;
  // Declared before the lanes: they count themselves done here.
  DoneCounter done_;
  std::vector<std::unique_ptr<pb::ControlService::Stub>> stubs_;
  std::vector<std::unique_ptr<StreamLane>> lanes_;
  // Lanes pushed to since the last Flush().
  std::vector<bool> touched_;
  std::vector<size_t> touched_list_;
};

// UnarySink makes one Publish call per token, a conversation's calls one
// after the other (so its tokens keep their order), at most
// max_unary_in_flight at once over all conversations.
// Thread-safe: the pacing thread pushes and flushes, calls complete on
// gRPC's threads and start the next ones.
class UnarySink final : public TokenSink {
 public:
  UnarySink(TokenPlan plan, AckCounter* acks)
      : plan_(std::move(plan)),
        acks_(acks),
        queued_(plan_.channels.size()),
        busy_(plan_.channels.size()) {}

  absl::Status Start() {
    const size_t per_connection = std::max<size_t>(1, plan_.streams_per_connection);
    const size_t concurrent = std::min(plan_.channels.size(), plan_.max_unary_in_flight);
    absl::StatusOr<std::vector<std::unique_ptr<pb::ControlService::Stub>>> stubs =
        Connect(plan_, std::max<size_t>(1, (concurrent + per_connection - 1) / per_connection));
    if (!stubs.ok()) return stubs.status();
    stubs_ = *std::move(stubs);
    return absl::OkStatus();
  }

  void Push(const Token& token) override {
    absl::MutexLock lock(&mu_);
    std::deque<Token>& queue = queued_[token.conversation];
    // Invariant: a conversation is in ready_ when it has tokens queued
    // and no call in flight.
    if (queue.empty() && !busy_[token.conversation]) ready_.push_back(token.conversation);
    queue.push_back(token);
  }

  void Flush() override { StartCalls(TakeCalls()); }

  bool Close(absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    // Tokens not sent by now (the drain timed out) are lost, and no call
    // starts any more.
    closing_ = true;
    uint64_t lost = 0;
    for (std::deque<Token>& queue : queued_) {
      lost += queue.size();
      queue.clear();
    }
    ready_.clear();
    if (lost > 0) acks_->Lost(lost, "not sent before the end of the run");
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_flight_.empty(); };
    if (mu_.AwaitWithTimeout(absl::Condition(&idle), timeout)) return true;
    acks_->NoteError("Publish calls did not finish: cancelled");
    for (Call* call : in_flight_) call->context.TryCancel();
    return mu_.AwaitWithTimeout(absl::Condition(&idle), absl::Seconds(10));
  }

 private:
  struct Call {
    grpc::ClientContext context;
    pb::PublishRequest request;
    pb::PublishResponse response;
    uint32_t conversation = 0;
    int64_t sent_ns = 0;
  };

  // Takes a token of each ready conversation while there is room.
  std::vector<Call*> TakeCalls() {
    std::vector<Call*> calls;
    absl::MutexLock lock(&mu_);
    while (!closing_ && !ready_.empty() && in_flight_.size() < plan_.max_unary_in_flight) {
      const uint32_t conversation = ready_.front();
      ready_.pop_front();
      std::deque<Token>& queue = queued_[conversation];
      auto call = std::make_unique<Call>();
      call->conversation = conversation;
      call->sent_ns = queue.front().sent_ns;
      BenchPayload payload;
      payload.seq = queue.front().seq;
      payload.ts_ns = queue.front().sent_ns;
      queue.pop_front();
      FormatBenchPayload(payload, plan_.payload_bytes, &data_);
      call->request.set_channel(plan_.channels[conversation]);
      call->request.set_data(data_);
      call->context.set_deadline(std::chrono::system_clock::now() +
                                 absl::ToChronoMilliseconds(plan_.call_timeout));
      busy_[conversation] = true;
      in_flight_.insert(call.get());
      calls.push_back(call.release());
    }
    return calls;
  }

  void StartCalls(const std::vector<Call*>& calls) {
    for (Call* call : calls) {
      stubs_[call->conversation % stubs_.size()]->async()->Publish(
          &call->context, &call->request, &call->response,
          [this, call](grpc::Status status) { OnCallDone(call, status); });
    }
  }

  void OnCallDone(Call* call, const grpc::Status& status) {
    acks_->Answered(call->sent_ns, MonotonicNowNs());
    if (status.ok()) {
      acks_->Accepted(1);
    } else {
      acks_->Refused(1, absl::StrCat("Publish: ", status.error_message()));
    }
    std::unique_ptr<Call> done(call);
    {
      absl::MutexLock lock(&mu_);
      busy_[call->conversation] = false;
      if (!queued_[call->conversation].empty()) ready_.push_back(call->conversation);
    }
    StartCalls(TakeCalls());
    // Last: once in_flight_ is empty, Close() returns and the sink may go.
    absl::MutexLock lock(&mu_);
    in_flight_.erase(call);
  }

  const TokenPlan plan_;
  AckCounter* const acks_;
  std::vector<std::unique_ptr<pb::ControlService::Stub>> stubs_;

  absl::Mutex mu_;
  std::vector<std::deque<Token>> queued_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> busy_ ABSL_GUARDED_BY(mu_);
  std::deque<uint32_t> ready_ ABSL_GUARDED_BY(mu_);
  std::unordered_set<Call*> in_flight_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::string data_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<TokenSink>> StartTokenSink(const TokenPlan& plan, AckCounter* acks) {
  if (plan.api == TokenApi::kUnary) {
    auto unary = std::make_unique<UnarySink>(plan, acks);
    if (absl::Status s = unary->Start(); !s.ok()) return s;
    return unary;
  }
  auto streams = std::make_unique<StreamSink>(plan, acks);
  if (absl::Status s = streams->Start(); !s.ok()) return s;
  return streams;
}

}  // namespace wirehub::bench

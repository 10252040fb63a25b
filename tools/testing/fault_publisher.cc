#include "tools/testing/fault_publisher.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/grpc_code_name.h"
#include "common/json_writer.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::faults {

namespace v1 = ::wirehub::control::v1;

std::string PublicationKey(const std::string& key_prefix, int64_t seq) {
  return absl::StrCat(key_prefix, "-", seq);
}

std::string PublicationData(int64_t seq, const std::string& channel) {
  std::string out = absl::StrCat("{\"seq\":", seq, ",\"ch\":");
  AppendJsonString(channel, &out);
  out += '}';
  return out;
}

absl::Duration RetryBackoff(int attempts) {
  absl::Duration backoff = absl::Milliseconds(50);
  for (int i = 1; i < attempts && backoff < absl::Milliseconds(500); ++i) backoff *= 2;
  return std::min(backoff, absl::Milliseconds(500));
}

namespace {

// How long a stream that broke waits before the next one to its control.
constexpr absl::Duration kReconnectDelay = absl::Milliseconds(100);

// One publication on its way. Exactly one place holds it at a time: the
// pacer, a ControlStream's queue or its in-flight requests, or (between
// two of those) the thread moving it.
struct Publication {
  int64_t seq = 0;
  size_t channel = 0;
  size_t control = 0;  // Where the current (or next) attempt goes.
  int attempts = 0;
  // An earlier attempt may have published it: a stream broke with it in
  // flight, or it failed with a code that does not say nothing happened.
  bool outcome_unknown = false;
  absl::Time first_try;
  absl::Time not_before = absl::InfinitePast();
  absl::Time sent;
};

// Codes after which the publication may still have been made.
bool OutcomeUnknown(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
      return true;
    default:
      return false;
  }
}

class ControlStream;

// The whole run: the pacer, the outcomes and the streams.
// Thread-safe.
class FaultRun {
 public:
  explicit FaultRun(const FaultPublisherOptions& options);

  // Run()
  //
  // Makes every publication and waits for each to be answered or given up.
  // Once only.
  FaultSummary Run();

  // Resolved()
  //
  // `p` got `offset` in `epoch`.
  void Resolved(const Publication& p, uint64_t offset, const std::string& epoch);

  // Failed()
  //
  // One attempt of `p` failed with `code`; retries it on the next control
  // unless its deadline has passed.
  void Failed(Publication p, const std::string& code, bool outcome_unknown);

  // Reroute()
  //
  // `p`, not sent, leaves a control that stopped answering for the next one
  // that answers (no attempt spent).
  void Reroute(Publication p);

  const FaultPublisherOptions& options() const { return options_; }

 private:
  // The control `from` or the first after it that answers (or `from` when
  // none does).
  size_t Answering(size_t from) const;
  bool HasRoom() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return outstanding_ < options_.max_in_flight;
  }
  bool AllAnswered() const ABSL_SHARED_LOCKS_REQUIRED(mu_) { return outstanding_ == 0; }

  const FaultPublisherOptions options_;
  std::vector<std::unique_ptr<ControlStream>> streams_;  // Fixed once built.
  absl::Mutex mu_;
  FaultSummary summary_ ABSL_GUARDED_BY(mu_);
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // Made and not yet answered or given up.
};

// One control replica and the PublishStream to it, opened again whenever
// it breaks, until Stop(). Its thread writes; a reader thread per stream
// matches each response with the oldest request in flight.
// Thread-safe.
class ControlStream {
 public:
  ControlStream(size_t index, const std::string& address, FaultRun* run)
      : index_(index),
        run_(run),
        stub_(v1::ControlService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  ControlStream(const ControlStream&) = delete;
  ControlStream& operator=(const ControlStream&) = delete;
  ~ControlStream() { Stop(); }

  // Start()
  //
  // Starts the writer thread.
  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }

  // Enqueue()
  //
  // Queues `p` for the next request to this control.
  void Enqueue(Publication p) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(p);
    cv_.Signal();
  }

  // Stop()
  //
  // Ends the stream (every publication must be answered by now) and waits
  // for its threads.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

  // answering()
  //
  // False from a break of the stream until its next response.
  bool answering() const { return answering_.load(std::memory_order_relaxed); }

 private:
  struct Request {
    std::vector<Publication> publications;
    absl::Time sent;
  };

  void Loop() {
    for (;;) {
      if (!OneStream()) return;
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + kReconnectDelay;
      while (!stopping_ && absl::Now() < until) cv_.WaitWithDeadline(&mu_, until);
      if (stopping_ && queue_.empty()) return;
    }
  }

  // Runs one stream until it breaks (returns true) or the run stops
  // (returns false).
  bool OneStream() {
    const FaultPublisherOptions& options = run_->options();
    grpc::ClientContext rpc;  // No deadline: requests have their own (answer_timeout).
    std::unique_ptr<grpc::ClientReaderWriter<v1::PublishStreamRequest, v1::PublishStreamResponse>>
        stream = stub_->PublishStream(&rpc);
    {
      absl::MutexLock lock(&mu_);
      broken_ = false;
    }
    std::thread reader([this, &stream] {
      v1::PublishStreamResponse response;
      while (stream->Read(&response)) OnResponse(response);
      absl::MutexLock lock(&mu_);
      broken_ = true;
      cv_.SignalAll();
    });

    bool stopped = false;
    bool answer_timed_out = false;
    for (;;) {
      std::vector<Publication> batch;
      {
        absl::MutexLock lock(&mu_);
        for (;;) {
          if (broken_) break;
          const absl::Time now = absl::Now();
          if (!in_flight_.empty() && now - in_flight_.front().sent >= options.answer_timeout) {
            answer_timed_out = true;
            break;
          }
          if (stopping_ && queue_.empty() && in_flight_.empty()) {
            stopped = true;
            break;
          }
          absl::Time wake = now + absl::Seconds(1);
          if (!in_flight_.empty())
            wake = std::min(wake, in_flight_.front().sent + options.answer_timeout);
          for (auto it = queue_.begin();
               it != queue_.end() && batch.size() < static_cast<size_t>(options.batch);) {
            if (it->not_before <= now) {
              it->control = index_;
              it->sent = now;
              ++it->attempts;
              batch.push_back(*it);
              it = queue_.erase(it);
            } else {
              wake = std::min(wake, it->not_before);
              ++it;
            }
          }
          if (!batch.empty()) {
            in_flight_.push_back({batch, now});
            break;
          }
          cv_.WaitWithDeadline(&mu_, wake);
        }
      }
      if (batch.empty()) break;
      v1::PublishStreamRequest request;
      for (const Publication& p : batch) {
        v1::PublishStreamRequest* item = request.add_items();
        const std::string& channel = options.channels[p.channel];
        item->set_channel(channel);
        item->set_data(PublicationData(p.seq, channel));
        item->set_idempotency_key(PublicationKey(options.key_prefix, p.seq));
        item->set_request_id(static_cast<uint64_t>(p.seq));
      }
      // A false Write: the stream has ended, and the reader says so.
      if (!stream->Write(request)) {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(&broken_));
      }
    }
    // A broken stream has ended already: Finish() says why. One that went
    // unanswered is ended here.
    if (stopped) {
      stream->WritesDone();
    } else if (answer_timed_out) {
      rpc.TryCancel();
    }
    reader.join();
    const grpc::Status status = stream->Finish();
    if (stopped) return false;

    // Every request in flight is lost; what is queued moves on unsent.
    answering_.store(false, std::memory_order_relaxed);
    std::deque<Request> lost;
    std::deque<Publication> unsent;
    {
      absl::MutexLock lock(&mu_);
      lost.swap(in_flight_);
      unsent.swap(queue_);
    }
    const std::string code = answer_timed_out
                                 ? std::string("stream:ANSWER_TIMEOUT")
                                 : absl::StrCat("stream:", GrpcCodeName(status.error_code()));
    for (Request& r : lost) {
      for (Publication& p : r.publications) run_->Failed(p, code, /*outcome_unknown=*/true);
    }
    for (Publication& p : unsent) run_->Reroute(p);
    return true;
  }

  // Reader thread: answers the oldest request in flight.
  void OnResponse(const v1::PublishStreamResponse& response) {
    answering_.store(true, std::memory_order_relaxed);
    Request request;
    {
      absl::MutexLock lock(&mu_);
      if (in_flight_.empty()) return;  // Not ours to answer; cannot happen.
      request = std::move(in_flight_.front());
      in_flight_.pop_front();
      cv_.SignalAll();
    }
    for (size_t i = 0; i < request.publications.size(); ++i) {
      const Publication& p = request.publications[i];
      if (response.results_size() == 0) {
        // The whole request was refused.
        const int code = response.error_code() != 0 ? response.error_code()
                                                    : static_cast<int>(grpc::StatusCode::INTERNAL);
        run_->Failed(p, GrpcCodeName(code), OutcomeUnknown(code));
        continue;
      }
      if (i >= static_cast<size_t>(response.results_size())) {
        run_->Failed(p, "MISSING_RESULT", /*outcome_unknown=*/true);
        continue;
      }
      const v1::PublishStreamResponse& result = response.results(static_cast<int>(i));
      if (result.error_code() != 0) {
        run_->Failed(p, GrpcCodeName(result.error_code()), OutcomeUnknown(result.error_code()));
      } else {
        run_->Resolved(p, result.offset(), result.epoch());
      }
    }
  }

  const size_t index_;
  FaultRun* const run_;
  const std::unique_ptr<v1::ControlService::Stub> stub_;
  std::thread thread_;
  std::atomic<bool> answering_{true};

  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<Publication> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Request> in_flight_ ABSL_GUARDED_BY(mu_);  // Oldest first, as answered.
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

FaultRun::FaultRun(const FaultPublisherOptions& options)
    : options_(options), summary_(options.channels, options.Total()) {
  for (size_t i = 0; i < options_.controls.size(); ++i) {
    streams_.push_back(std::make_unique<ControlStream>(i, options_.controls[i], this));
  }
}

size_t FaultRun::Answering(size_t from) const {
  for (size_t k = 0; k < streams_.size(); ++k) {
    const size_t i = (from + k) % streams_.size();
    if (streams_[i]->answering()) return i;
  }
  return from;
}

FaultSummary FaultRun::Run() {
  for (const std::unique_ptr<ControlStream>& stream : streams_) stream->Start();
  const int64_t total = options_.Total();
  const absl::Time start = absl::Now();
  const absl::Duration interval = absl::Seconds(1) / options_.rate;
  for (int64_t seq = 1; seq <= total; ++seq) {
    absl::SleepFor(start + interval * (seq - 1) - absl::Now());
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &FaultRun::HasRoom));
      ++outstanding_;
    }
    Publication p;
    p.seq = seq;
    p.channel = static_cast<size_t>((seq - 1) % static_cast<int64_t>(options_.channels.size()));
    p.control = Answering(p.channel % streams_.size());
    p.first_try = absl::Now();
    streams_[p.control]->Enqueue(p);
  }
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &FaultRun::AllAnswered));
  }
  for (const std::unique_ptr<ControlStream>& stream : streams_) stream->Stop();
  absl::MutexLock lock(&mu_);
  return summary_;
}

void FaultRun::Resolved(const Publication& p, uint64_t offset, const std::string& epoch) {
  absl::MutexLock lock(&mu_);
  summary_.RecordPosition(p.seq, p.channel, offset, epoch, p.attempts, p.outcome_unknown);
  --outstanding_;
}

void FaultRun::Failed(Publication p, const std::string& code, bool outcome_unknown) {
  const absl::Time now = absl::Now();
  p.outcome_unknown = p.outcome_unknown || outcome_unknown;
  {
    absl::MutexLock lock(&mu_);
    summary_.RecordFailure(code, now - p.sent);
    if (now - p.first_try >= options_.deadline) {
      summary_.RecordGivenUp(p.seq, p.channel, p.attempts);
      --outstanding_;
      return;
    }
  }
  p.control = (p.control + 1) % streams_.size();
  p.not_before = now + RetryBackoff(p.attempts);
  streams_[p.control]->Enqueue(p);
}

void FaultRun::Reroute(Publication p) {
  p.control = Answering((p.control + 1) % streams_.size());
  streams_[p.control]->Enqueue(p);
}

}  // namespace

FaultSummary RunFaultPublisher(const FaultPublisherOptions& options) {
  FaultRun run(options);
  return run.Run();
}

}  // namespace wirehub::faults

#include "tools/bench/rate_publisher.h"

#include <algorithm>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/peer_publisher.h"
#include "wirehub/control/v1/control.grpc.pb.h"

#include <grpcpp/grpcpp.h>

namespace wirehub::bench {
namespace {

namespace pb = ::wirehub::control::v1;

// Sink delivers publications to one kind of server. Used by the publisher's
// thread only (a stream sink also runs a reader thread of its own).
class Sink {
 public:
  virtual ~Sink() = default;
  // Sends `data` to channels[first, first + count).
  virtual void Send(size_t first, size_t count, std::string_view data) = 0;
  // End of one scheduling tick: push out what was buffered.
  virtual void Flush() {}
  // Waits for outstanding acknowledgements and fills accepted/failed.
  virtual void Finish(PublishOutcome* outcome) = 0;
};

// Counts of acknowledged publications shared with a reader thread.
struct AckCounts {
  std::mutex mu;
  uint64_t accepted = 0;
  uint64_t failed = 0;
  std::string first_error;

  void Add(bool ok, std::string_view error) {
    std::lock_guard<std::mutex> lock(mu);
    if (ok) {
      ++accepted;
      return;
    }
    ++failed;
    if (first_error.empty()) first_error = std::string(error);
  }
  void CopyTo(PublishOutcome* outcome) {
    std::lock_guard<std::mutex> lock(mu);
    outcome->accepted = accepted;
    outcome->failed = failed;
    if (outcome->first_error.empty()) outcome->first_error = first_error;
  }
};

std::shared_ptr<grpc::Channel> Dial(const std::string& target) {
  grpc::ChannelArguments args;
  // The bench measures the server, not a tiny client window.
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

class UnarySink : public Sink {
 public:
  UnarySink(const PublishPlan& plan, std::unique_ptr<pb::ControlService::Stub> stub)
      : plan_(plan), stub_(std::move(stub)) {}

  void Send(size_t first, size_t, std::string_view data) override {
    pb::PublishRequest request;
    request.set_channel(plan_.channels[first]);
    request.set_data(data.data(), data.size());
    pb::PublishResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(plan_.call_timeout));
    grpc::Status status = stub_->Publish(&context, request, &response);
    counts_.Add(status.ok(), status.error_message());
  }

  void Finish(PublishOutcome* outcome) override { counts_.CopyTo(outcome); }

 private:
  const PublishPlan& plan_;
  std::unique_ptr<pb::ControlService::Stub> stub_;
  AckCounts counts_;
};

class BroadcastSink : public Sink {
 public:
  BroadcastSink(const PublishPlan& plan, std::unique_ptr<pb::ControlService::Stub> stub)
      : plan_(plan), stub_(std::move(stub)) {}

  void Send(size_t first, size_t count, std::string_view data) override {
    pb::BroadcastRequest request;
    for (size_t i = first; i < first + count; ++i) request.add_channels(plan_.channels[i]);
    request.set_data(data.data(), data.size());
    pb::BroadcastResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(plan_.call_timeout));
    grpc::Status status = stub_->Broadcast(&context, request, &response);
    if (!status.ok()) {
      for (size_t i = 0; i < count; ++i) counts_.Add(false, status.error_message());
      return;
    }
    for (const pb::BroadcastResult& result : response.results()) {
      counts_.Add(result.error_code() == 0, result.error_message());
    }
  }

  void Finish(PublishOutcome* outcome) override { counts_.CopyTo(outcome); }

 private:
  const PublishPlan& plan_;
  std::unique_ptr<pb::ControlService::Stub> stub_;
  AckCounts counts_;
};

// One PublishStream for the run: writes are buffered within a tick and
// acknowledgements are read on a second thread.
class StreamSink : public Sink {
 public:
  StreamSink(const PublishPlan& plan, std::unique_ptr<pb::ControlService::Stub> stub)
      : plan_(plan), stub_(std::move(stub)) {
    stream_ = stub_->PublishStream(&context_);
    reader_ = std::thread([this] {
      pb::PublishStreamResponse response;
      while (stream_->Read(&response)) {
        counts_.Add(response.error_code() == 0, response.error_message());
      }
    });
  }

  ~StreamSink() override {
    if (reader_.joinable()) {
      context_.TryCancel();
      reader_.join();
    }
  }

  void Send(size_t first, size_t, std::string_view data) override {
    if (queued_ == batch_.size()) batch_.emplace_back();
    pb::PublishStreamRequest& request = batch_[queued_++];
    request.set_channel(plan_.channels[first]);
    request.set_data(data.data(), data.size());
    request.set_request_id(++next_id_);
  }

  void Flush() override {
    // All of a tick's writes but the last carry the buffer hint, so a tick
    // goes out in as few HTTP/2 frames as gRPC allows.
    for (size_t i = 0; i < queued_ && !broken_; ++i) {
      grpc::WriteOptions options;
      if (i + 1 < queued_) options.set_buffer_hint();
      if (!stream_->Write(batch_[i], options)) broken_ = true;
    }
    queued_ = 0;
  }

  void Finish(PublishOutcome* outcome) override {
    Flush();
    if (!broken_) stream_->WritesDone();
    // The server answers every request before ending the stream.
    reader_.join();
    grpc::Status status = stream_->Finish();
    counts_.CopyTo(outcome);
    if (!status.ok() && outcome->first_error.empty()) {
      outcome->first_error = absl::StrCat("PublishStream: ", status.error_message());
    }
  }

 private:
  const PublishPlan& plan_;
  std::unique_ptr<pb::ControlService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::PublishStreamRequest, pb::PublishStreamResponse>>
      stream_;
  std::thread reader_;
  AckCounts counts_;
  // Requests of the current tick; their storage is reused.
  std::vector<pb::PublishStreamRequest> batch_;
  size_t queued_ = 0;
  uint64_t next_id_ = 0;
  bool broken_ = false;
};

class PeerSink : public Sink {
 public:
  PeerSink(const PublishPlan& plan, std::unique_ptr<PeerPublisher> publisher)
      : plan_(plan), publisher_(std::move(publisher)) {}

  void Send(size_t first, size_t, std::string_view data) override {
    absl::Status status = publisher_->Publish(plan_.channels[first], data);
    counts_.Add(status.ok(), AsStd(status.message()));
  }

  void Finish(PublishOutcome* outcome) override {
    absl::Status status = publisher_->Flush();
    if (!status.ok()) counts_.Add(false, AsStd(status.message()));
    // A NATS publish is acknowledged by the flush as a whole; a failed flush
    // is counted once above.
    counts_.CopyTo(outcome);
  }

 private:
  const PublishPlan& plan_;
  std::unique_ptr<PeerPublisher> publisher_;
  AckCounts counts_;
};

// Publications spread over several control replicas, one sink each.
class SpreadSink : public Sink {
 public:
  SpreadSink(std::vector<std::unique_ptr<PublishPlan>> plans,
             std::vector<std::unique_ptr<Sink>> sinks)
      : plans_(std::move(plans)), sinks_(std::move(sinks)) {}

  ~SpreadSink() override {
    // The sinks borrow the plans: they go first.
    sinks_.clear();
  }

  void Send(size_t first, size_t count, std::string_view data) override {
    const size_t batch = first / std::max<size_t>(1, count);
    sinks_[(batch + 1) % sinks_.size()]->Send(first, count, data);
  }

  void Flush() override {
    for (auto& sink : sinks_) sink->Flush();
  }

  void Finish(PublishOutcome* outcome) override {
    for (auto& sink : sinks_) {
      PublishOutcome part;
      sink->Finish(&part);
      outcome->accepted += part.accepted;
      outcome->failed += part.failed;
      if (outcome->first_error.empty()) outcome->first_error = part.first_error;
    }
  }

 private:
  std::vector<std::unique_ptr<PublishPlan>> plans_;
  std::vector<std::unique_ptr<Sink>> sinks_;
};

absl::StatusOr<std::pair<std::string, int>> SplitHostPort(const std::string& target) {
  size_t colon = target.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(target.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("target must be HOST:PORT, got ", target));
  }
  return std::make_pair(target.substr(0, colon), port);
}

absl::StatusOr<std::unique_ptr<Sink>> MakeSink(const PublishPlan& plan) {
  if (plan.targets.size() > 1) {
    std::vector<std::unique_ptr<PublishPlan>> plans;
    std::vector<std::unique_ptr<Sink>> sinks;
    for (const std::string& target : plan.targets) {
      auto one = std::make_unique<PublishPlan>(plan);
      one->target = target;
      one->targets.clear();
      absl::StatusOr<std::unique_ptr<Sink>> sink = MakeSink(*one);
      if (!sink.ok()) return sink.status();
      plans.push_back(std::move(one));
      sinks.push_back(*std::move(sink));
    }
    return std::make_unique<SpreadSink>(std::move(plans), std::move(sinks));
  }
  switch (plan.api) {
    case PublishApi::kUnary:
    case PublishApi::kBroadcast:
    case PublishApi::kStream: {
      std::shared_ptr<grpc::Channel> channel = Dial(plan.target);
      if (!channel->WaitForConnected(std::chrono::system_clock::now() +
                                     absl::ToChronoMilliseconds(plan.call_timeout))) {
        return absl::UnavailableError(absl::StrCat("cannot reach control at ", plan.target));
      }
      auto stub = pb::ControlService::NewStub(channel);
      if (plan.api == PublishApi::kUnary) return std::make_unique<UnarySink>(plan, std::move(stub));
      if (plan.api == PublishApi::kBroadcast) {
        return std::make_unique<BroadcastSink>(plan, std::move(stub));
      }
      return std::make_unique<StreamSink>(plan, std::move(stub));
    }
    case PublishApi::kNchan:
    case PublishApi::kNats: {
      absl::StatusOr<std::pair<std::string, int>> host_port = SplitHostPort(plan.target);
      if (!host_port.ok()) return host_port.status();
      absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
          plan.api == PublishApi::kNchan
              ? ConnectNchanPublisher(host_port->first, host_port->second, plan.call_timeout)
              : ConnectNatsPublisher(host_port->first, host_port->second, plan.call_timeout);
      if (!publisher.ok()) return publisher.status();
      return std::make_unique<PeerSink>(plan, *std::move(publisher));
    }
  }
  return absl::InvalidArgumentError("unknown publish api");
}

}  // namespace

std::string_view PublishApiName(PublishApi api) {
  switch (api) {
    case PublishApi::kUnary:
      return "unary";
    case PublishApi::kBroadcast:
      return "broadcast";
    case PublishApi::kStream:
      return "stream";
    case PublishApi::kNchan:
      return "http";
    case PublishApi::kNats:
      return "nats";
  }
  return "unknown";
}

absl::StatusOr<PublishApi> ParsePublishApi(std::string_view name) {
  for (PublishApi api : {PublishApi::kUnary, PublishApi::kBroadcast, PublishApi::kStream,
                         PublishApi::kNchan, PublishApi::kNats}) {
    if (PublishApiName(api) == name) return api;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown publish api '", AsAbsl(name), "' (unary, broadcast, stream)"));
}

absl::StatusOr<PublishOutcome> RunPublisher(const PublishPlan& plan,
                                            const std::atomic<bool>* stop) {
  const size_t channels = plan.channels.size();
  if (channels == 0 || plan.rate <= 0) {
    return absl::InvalidArgumentError("a publish plan needs channels and a positive rate");
  }
  size_t batch = plan.api == PublishApi::kBroadcast ? std::max<size_t>(1, plan.broadcast_batch) : 1;
  batch = std::min(batch, channels);
  if (channels % batch != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("broadcast batch ", batch, " must divide the channel count ", channels));
  }
  absl::StatusOr<std::unique_ptr<Sink>> sink = MakeSink(plan);
  if (!sink.ok()) return sink.status();

  PublishOutcome outcome;
  outcome.last_seq.assign(channels, 0);
  const uint64_t total = static_cast<uint64_t>(plan.rate * absl::ToDoubleSeconds(plan.duration));
  const double ns_per_publication = 1e9 / plan.rate;
  std::string data;
  const int64_t start = MonotonicNowNs();
  uint64_t k = 0;
  while (k < total && (stop == nullptr || !stop->load(std::memory_order_relaxed))) {
    int64_t now = MonotonicNowNs();
    uint64_t due = std::min<uint64_t>(
        total, static_cast<uint64_t>(static_cast<double>(now - start) / ns_per_publication) + 1);
    if (k >= due) {
      int64_t next = start + static_cast<int64_t>(static_cast<double>(k) * ns_per_publication);
      int64_t wait_ns = next - now;
      // Sleeping costs ~60 us of timer slack; above ~20k/s a tick carries a
      // batch anyway, so never sleep less than 200 us.
      absl::SleepFor(absl::Nanoseconds(std::max<int64_t>(wait_ns, 200'000)));
      continue;
    }
    int64_t lag = now - (start + static_cast<int64_t>(static_cast<double>(k) * ns_per_publication));
    outcome.max_lag = std::max(outcome.max_lag, absl::Nanoseconds(lag));
    while (k < due) {
      size_t first = k % channels;
      BenchPayload payload;
      payload.seq = SeqOf(k, channels);
      payload.ts_ns = MonotonicNowNs();
      FormatBenchPayload(payload, plan.payload_bytes, &data);
      (*sink)->Send(first, batch, data);
      for (size_t i = first; i < first + batch; ++i) outcome.last_seq[i] = payload.seq;
      outcome.sent += batch;
      k += batch;
    }
    (*sink)->Flush();
  }
  (*sink)->Finish(&outcome);
  outcome.elapsed = absl::Nanoseconds(MonotonicNowNs() - start);
  return outcome;
}

}  // namespace wirehub::bench

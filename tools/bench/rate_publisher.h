// RatePublisher: publications at a fixed rate, each stamped with its send
// time and its channel's sequence number.
#ifndef WIREHUB_TOOLS_BENCH_RATE_PUBLISHER_H_
#define WIREHUB_TOOLS_BENCH_RATE_PUBLISHER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/latency_histogram.h"

namespace wirehub::bench {

// How publications reach the server.
enum class PublishApi {
  kUnary,      // ControlService.Publish, one call per publication.
  kBroadcast,  // ControlService.Broadcast, one call per batch of channels.
  kStream,     // ControlService.PublishStream, one stream for the run.
  kNchan,      // HTTP POST /pub/CHANNEL on a keep-alive connection.
  kNats,       // PUB over the NATS client protocol.
};

std::string_view PublishApiName(PublishApi api);
absl::StatusOr<PublishApi> ParsePublishApi(std::string_view name);

struct PublishPlan {
  PublishApi api = PublishApi::kUnary;
  // "HOST:PORT" of wirehub-control (gRPC) or of the peer's publish listener.
  std::string target;
  // Several control replicas (wirehub): when it holds more than one
  // target, `target` is ignored and the publications of batch b (channel b
  // unless broadcasting) go to targets[(b + 1) % size], each replica on its
  // own connection and stream, so a channel's publications keep their
  // order.
  std::vector<std::string> targets;
  // Publication k goes to channels[k % size] with sequence number
  // k / size + 1: round-robin, so every channel sees 1, 2, 3, ...
  std::vector<std::string> channels;
  // Publications per second (a Broadcast to n channels counts n).
  double rate = 10;
  absl::Duration duration = absl::Seconds(10);
  size_t payload_bytes = 100;
  // Channels per Broadcast call; must divide channels.size() so a batch
  // never spans two rounds (one payload, one sequence number).
  size_t broadcast_batch = 100;
  absl::Duration call_timeout = absl::Seconds(5);
};

struct PublishOutcome {
  // Publications sent, accepted by the server, and refused or failed.
  uint64_t sent = 0;
  uint64_t accepted = 0;
  uint64_t failed = 0;
  // The last sequence number sent on each channel (same order as
  // PublishPlan::channels); 0 for a channel that got none.
  std::vector<uint64_t> last_seq;
  // From the first send until the last acknowledgement.
  absl::Duration elapsed;
  // How far behind its schedule the publisher fell at worst: it sends late
  // publications at once, so a large value means the rate was not held.
  absl::Duration max_lag;
  std::string first_error;
  // From each publication's send time to control's answer (the token
  // publisher only; empty otherwise).
  LatencyHistogram answer_latency;
};

// RunPublisher()
//
// Publishes plan.rate publications per second for plan.duration (or until
// *stop), then waits for outstanding acknowledgements. Errors only when it
// cannot start (no connection, bad plan); per-publication failures are
// counted in the outcome.
absl::StatusOr<PublishOutcome> RunPublisher(const PublishPlan& plan,
                                            const std::atomic<bool>* stop = nullptr);

// The sequence number of publication k and its channel index.
inline uint64_t SeqOf(uint64_t k, size_t channels) { return k / channels + 1; }

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_RATE_PUBLISHER_H_

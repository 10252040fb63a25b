// ClientGroup: all of a case's subscribers, on client threads of this
// process and, past what one process may hold open, in child wirehub-bench
// processes.
#ifndef WIREHUB_TOOLS_BENCH_CLIENT_GROUP_H_
#define WIREHUB_TOOLS_BENCH_CLIENT_GROUP_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/latency_histogram.h"
#include "tools/bench/reply_timings.h"
#include "tools/bench/sequence_tracker.h"

namespace wirehub::bench {

// ClientGroupSpec says who the group's clients are and where they run.
//
// The group has W = threads * processes workers, each one ClientPool on its
// own thread. Global client g is worker (g % W)'s local client g / W and
// subscribes channel ChannelOfClient(spec, g): g % channels, or with
// channel_subscribers the channel whose share of the clients g falls in.
// Workers [p * threads, (p + 1) * threads)
// run in process p; process 0 is the calling one, the others are children
// started as `wirehub-bench clients`.
struct ClientGroupSpec {
  ClientProtocol protocol = ClientProtocol::kWirehub;
  // kWirehub: JSON or the centrifuge-protobuf subprotocol.
  WireFormat wire = WireFormat::kJson;
  std::string host = "127.0.0.1";
  // Worker w's clients connect to ports[w % size] (several edges): there
  // must be at least as many workers as ports.
  std::vector<int> ports;
  std::vector<std::string> source_addresses = {"127.0.0.1"};
  // The request path; "{channel}" in it becomes the client's channel.
  std::string resource = "/";
  // kWirehub: the HS256 secret of the clients' connection tokens (subject
  // "u<g>"), valid from token_issued_at to token_expires_at.
  std::string token_secret;
  absl::Time token_issued_at;
  absl::Time token_expires_at;
  size_t clients = 0;
  size_t channels = 1;
  // Subscribers per channel, repeating: channel c has
  // channel_subscribers[c % size] of them, and the clients are numbered
  // channel by channel (with {1, 2}: client 0 on channel 0, clients 1 and 2
  // on channel 1, client 3 on channel 2, ...). `clients` should be
  // SubscribersOfChannels(). Empty: client g on channel g % channels.
  std::vector<size_t> channel_subscribers;
  // Non-zero: channels stream replies of this many publications, whose
  // timings the clients record (ClientPoolOptions::reply_tokens).
  uint64_t reply_tokens = 0;
  // Each worker's local clients i with i % slow_every == slow_every - 1
  // stop reading (ClientPoolOptions::slow_every).
  size_t slow_every = 0;
  size_t threads = 1;
  size_t processes = 1;
  // Non-empty: the clients speak wss, verifying the server against this CA
  // file (ClientPoolOptions::tls_ca_file).
  std::string tls_ca_file;
};

// What the group's clients received, once they are stopped.
struct ClientGroupTotals {
  LatencyHistogram latency;
  // With reply_tokens: time to first token and gaps between tokens.
  ReplyTimings timings;
  // Summed over every client that is not slow.
  SequenceTracker::Counts counts;
};

// ClientGroup runs a spec's workers and sums their counters.
// Thread-compatible: one thread (the bench's main thread, which must
// outlive the children: they get SIGTERM when it exits) calls every method.
class ClientGroup {
 public:
  // Start()
  //
  // Starts the local workers and the child processes, which run the binary
  // at `self_binary`. Errors when a child cannot be started.
  static absl::StatusOr<std::unique_ptr<ClientGroup>> Start(const ClientGroupSpec& spec,
                                                            const std::string& self_binary);
  // StartInChild()
  //
  // Starts only the workers of process `process` (of a child's spec).
  static std::unique_ptr<ClientGroup> StartInChild(const ClientGroupSpec& spec, size_t process);
  ~ClientGroup();

  ClientGroup(const ClientGroup&) = delete;
  ClientGroup& operator=(const ClientGroup&) = delete;

  // Sums over every worker, as last reported by the children (every 50 ms).
  size_t subscribed() const;
  size_t failed() const;
  size_t closed() const;
  size_t slow_closed() const;
  uint64_t received() const;
  // Frame bytes received while subscribed (ClientPool::received_bytes()).
  uint64_t received_bytes() const;
  // The longest worker's phase; zero until every worker finished it.
  absl::Duration connect_phase() const;
  absl::Duration subscribe_phase() const;
  // The first error any worker reported, or a child's failure.
  std::string first_error() const;
  // With tls_ca_file: the TLS protocol and cipher this process's clients
  // negotiated first; empty before that or without TLS.
  std::string tls_description() const;

  // Expected()
  //
  // Deliveries the clients that are not slow should have received when
  // the publisher's last sequence number of channel c is last_seq[c].
  uint64_t Expected(const std::vector<uint64_t>& last_seq) const;

  // ResumeSlow()
  //
  // Slow clients read again, so the group learns which the server closed.
  void ResumeSlow();

  // Finish()
  //
  // Stops every client and returns what they received, each client's
  // sequence accounting closed with last_seq of its channel. Errors when a
  // child did not answer within `timeout`.
  absl::StatusOr<ClientGroupTotals> Finish(const std::vector<uint64_t>& last_seq,
                                           absl::Duration timeout = absl::Seconds(60));

  // Stop()
  //
  // Stops every client without accounting; idempotent.
  void Stop();

 private:
  struct Child;

  explicit ClientGroup(const ClientGroupSpec& spec);
  void StartLocal(size_t process);
  absl::Status StartChild(size_t process, const std::string& self_binary);
  void StopLocal();
  // A counter summed over the local pools and the children's last reports.
  template <typename Count>
  Count Sum(Count (ClientPool::*of_pool)() const, Count Child::*of_child) const;
  // A phase's longest duration, zero while any worker has not finished it.
  absl::Duration LongestPhase(absl::Duration (ClientPool::*of_pool)() const,
                              int64_t Child::*of_child_ns) const;

  ClientGroupSpec spec_;
  std::vector<std::unique_ptr<ClientPool>> pools_;
  std::vector<size_t> pool_workers_;  // pools_[i] is worker pool_workers_[i]
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<Child>> children_;
  bool stopped_ = false;
};

// BenchChannelName()
//
// The name of the bench's channel i: "bench<i>".
std::string BenchChannelName(size_t i);

// SubscribersOfChannels()
//
// How many clients `channels` channels have when channel c has
// channel_subscribers[c % size] (ClientGroupSpec::channel_subscribers);
// `channels` when channel_subscribers is empty.
size_t SubscribersOfChannels(const std::vector<size_t>& channel_subscribers, size_t channels);

// ChannelOfClient()
//
// The channel global client `client` of `spec` subscribes.
size_t ChannelOfClient(const ClientGroupSpec& spec, size_t client);

// LocalWorkerOptions()
//
// The ClientPoolOptions of worker `worker` of `spec`.
ClientPoolOptions LocalWorkerOptions(const ClientGroupSpec& spec, size_t worker);

// ExpectedDeliveries()
//
// What ClientGroup::Expected() answers for a group of `spec`.
uint64_t ExpectedDeliveries(const ClientGroupSpec& spec, const std::vector<uint64_t>& last_seq);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_CLIENT_GROUP_H_

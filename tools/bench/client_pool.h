// ClientPool: many subscriber connections of the load generator on one epoll
// loop.
#ifndef WIREHUB_TOOLS_BENCH_CLIENT_POOL_H_
#define WIREHUB_TOOLS_BENCH_CLIENT_POOL_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/websocket_frame.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/latency_histogram.h"
#include "tools/bench/reply_timings.h"
#include "tools/bench/sequence_tracker.h"
#include "tools/bench/tls_client_context.h"

namespace wirehub::bench {

// What the server on the other end speaks inside WebSocket.
enum class ClientProtocol {
  // wirehub's edge: the Centrifugo client protocol v2 in JSON. A client
  // sends connect (with a token), then subscribe, and answers pings.
  kWirehub,
  // nginx + Nchan: the channel is in the URL; every text frame is one
  // message's data.
  kNchan,
  // nats-server's WebSocket listener: the NATS text protocol (CONNECT, SUB,
  // MSG, PING/PONG) inside frames.
  kNats,
};

// How a kWirehub client encodes the client protocol.
enum class WireFormat {
  // JSON in text frames, replies separated by '\n' (no subprotocol).
  kJson,
  // The `centrifuge-protobuf` subprotocol: varint-delimited Commands and
  // Replies in binary frames (tools/bench/protobuf_wire.h).
  kProtobuf,
};

// WireFormatName(), ParseWireFormat()
//
// "json" or "protobuf", and back; false for any other name.
std::string_view WireFormatName(WireFormat wire);
bool ParseWireFormat(std::string_view name, WireFormat* wire);

struct ClientPoolOptions {
  ClientProtocol protocol = ClientProtocol::kWirehub;
  // kWirehub only.
  WireFormat wire = WireFormat::kJson;
  std::string server_host = "127.0.0.1";
  int server_port = 0;
  // Connection i binds to source_addresses[i % size]: each address has its
  // own ephemeral port range, so several go past ~28k connections per
  // server port.
  std::vector<std::string> source_addresses = {"127.0.0.1"};
  size_t clients = 0;
  // Per client (0..clients-1): the request path, the channel to subscribe
  // and, for kWirehub, the connection token. Called on the pool's thread.
  std::function<std::string(size_t)> resource;
  std::function<std::string(size_t)> channel;
  std::function<std::string(size_t)> token;
  // Connections being set up at once.
  size_t max_in_flight = 256;
  // Clients i with i % slow_every == slow_every - 1 stop reading once
  // subscribed (0: none), with a small receive buffer so the server sees
  // them back up quickly. What they receive is not accounted (latency,
  // sequence, received()): only whether the server closed them.
  size_t slow_every = 0;
  int slow_receive_buffer_bytes = 4096;
  // Sequence numbers the publisher starts each channel at.
  uint64_t first_seq = 1;
  // Non-zero: each channel streams replies of this many publications
  // (sequence numbers 1, reply_tokens + 1, ... start one), and the pool
  // counts their time to first token and the gaps between their tokens
  // (reply_timings()).
  uint64_t reply_tokens = 0;
  // Non-zero: a subscribed connection the server closes connects again at
  // once to this port of server_host and subscribes again (a client
  // leaving a draining edge for another one). Counted in reconnected(),
  // not in subscribed(); reconnect_times() says when each finished.
  int reconnect_port = 0;
  // Non-empty: connections speak TLS (wss), verifying the server's
  // certificate against this CA file and server_host. Empty: plain ws.
  std::string tls_ca_file;
};

// ClientPool sets up options.clients connections, keeps them subscribed and
// accounts every bench publication they receive.
// Thread-safe: Run() owns the loop on one thread; Stop(), ResumeSlow() and
// the counters may be used from any thread. histogram() and tracker() may be
// read once Run() returned.
class ClientPool {
 public:
  explicit ClientPool(ClientPoolOptions options);
  ~ClientPool();

  ClientPool(const ClientPool&) = delete;
  ClientPool& operator=(const ClientPool&) = delete;

  // Run()
  //
  // Connects, subscribes and reads until Stop(). Errors only for a failure
  // of the loop itself (epoll); connection failures are counted.
  absl::Status Run();

  // Stop()
  //
  // Makes Run() close every connection and return.
  void Stop();

  // ResumeSlow()
  //
  // Slow clients start reading again, so the pool learns which of them the
  // server closed (counted in slow_closed()).
  void ResumeSlow();

  // Counters, readable while running.
  size_t connected() const { return connected_.load(std::memory_order_relaxed); }
  size_t subscribed() const { return subscribed_.load(std::memory_order_relaxed); }
  size_t failed() const { return failed_.load(std::memory_order_acquire); }
  // Connections the server closed (or reset) after they were subscribed.
  size_t closed() const { return closed_.load(std::memory_order_relaxed); }
  size_t slow_closed() const { return slow_closed_.load(std::memory_order_relaxed); }
  size_t slow_clients() const;
  uint64_t received() const { return received_.load(std::memory_order_relaxed); }
  // WebSocket frame bytes (headers included) that subscribed clients that
  // are not slow received: what a delivery costs on the wire, pings and
  // other pushes included.
  uint64_t received_bytes() const { return received_bytes_.load(std::memory_order_relaxed); }
  // With reconnect_port: connections subscribed again after a close.
  size_t reconnected() const { return reconnected_.load(std::memory_order_relaxed); }
  // Time from Run() until the last connect reply (kWirehub) or open
  // connection, and until the last subscription; zero until all are done.
  absl::Duration connect_phase() const;
  absl::Duration subscribe_phase() const;
  // The first error a connection saw, for the report.
  std::string first_error() const;
  // With tls_ca_file: the protocol and cipher of the first TLS session
  // established (TlsDescription()); empty until then.
  std::string tls_description() const;

  // After Run(): latency of every received bench publication, and per-client
  // sequence accounting (stream i is client i).
  const LatencyHistogram& histogram() const { return histogram_; }
  // After Run(), with reply_tokens: the replies' timings over every client
  // that is not slow.
  const ReplyTimings& reply_timings() const { return reply_timings_; }
  SequenceTracker& tracker() { return tracker_; }
  // After Run(), with reconnect_port: when each reconnection was subscribed
  // again, as time since Run() started, in order.
  const std::vector<absl::Duration>& reconnect_times() const { return reconnect_times_; }
  // Whether client i is a slow one.
  bool IsSlow(size_t i) const;

 private:
  struct Conn;

  bool protobuf() const {
    return options_.protocol == ClientProtocol::kWirehub && options_.wire == WireFormat::kProtobuf;
  }
  void StartConnects();
  void StartConnect(size_t index);
  void HandleEvent(Conn& conn, uint32_t events);
  void StartUpgrade(Conn& conn);
  void OnWritable(Conn& conn);
  void OnReadable(Conn& conn);
  // The TLS path of the above: SSL_connect() until done, then SSL_read()
  // and SSL_write() with WANT_READ / WANT_WRITE turned into epoll interest
  // (client_pool_tls.cc).
  void ContinueTlsHandshake(Conn& conn);
  void TlsSend(Conn& conn, std::string_view bytes);
  void TlsOnWritable(Conn& conn);
  void TlsOnReadable(Conn& conn);
  void ProcessInput(Conn& conn, char* data, size_t size);
  void HandleMessage(Conn& conn, std::string_view message);
  void HandleWirehubLine(Conn& conn, std::string_view line);
  // kProtobuf: a binary message of varint-delimited Replies, and one Reply.
  void HandleProtobufMessage(Conn& conn, std::string_view message);
  void HandleProtobufReply(Conn& conn, std::string_view reply);
  void HandleNatsBytes(Conn& conn, std::string_view bytes);
  void RecordPayload(Conn& conn, std::string_view data);
  // Counts one bench publication received by `conn`.
  void Account(Conn& conn, const BenchPayload& payload);
  void OnOpen(Conn& conn);
  void MarkConnected(Conn& conn);
  void MarkSubscribed(Conn& conn);
  void SendFrame(Conn& conn, std::string_view payload, WebSocketOpcode opcode);
  void Send(Conn& conn, std::string_view bytes);
  void Fail(Conn& conn, std::string_view why);
  void Close(Conn& conn);
  void UpdateInterest(Conn& conn);
  void DrainCommands();
  void Wake();

  ClientPoolOptions options_;
  // Set by Run() when options_.tls_ca_file is given.
  std::unique_ptr<TlsClientContext> tls_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;
  size_t next_to_connect_ = 0;
  size_t in_flight_ = 0;
  absl::Time started_;
  uint32_t mask_state_ = 0x9e3779b9;

  std::atomic<bool> stop_{false};
  std::atomic<bool> resume_slow_{false};
  std::atomic<size_t> connected_{0};
  std::atomic<size_t> subscribed_{0};
  std::atomic<size_t> failed_{0};
  std::atomic<size_t> closed_{0};
  std::atomic<size_t> slow_closed_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> received_bytes_{0};
  std::atomic<size_t> reconnected_{0};
  std::vector<absl::Duration> reconnect_times_;  // Pool thread.
  std::atomic<int64_t> connect_phase_ns_{0};
  std::atomic<int64_t> subscribe_phase_ns_{0};
  mutable std::atomic<bool> error_set_{false};
  std::string first_error_;  // Written once, before error_set_ is released.
  std::atomic<bool> tls_description_set_{false};
  std::string tls_description_;  // Written once, before the flag is released.

  // Scratch for reads and frame writes, reused for every connection.
  std::vector<char> read_buffer_;
  std::string frame_scratch_;

  LatencyHistogram histogram_;
  SequenceTracker tracker_;
  ReplyTimings reply_timings_;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_CLIENT_POOL_H_

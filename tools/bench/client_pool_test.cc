#include "tools/bench/client_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/websocket_frame.h"
#include "common/websocket_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/protobuf_wire.h"
#include "tools/bench/sequence_tracker.h"
#include "tools/bench/ws_handshake.h"
#include "wirehub/client/v1/client.pb.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;

// Bound of every wait in these tests.
constexpr std::chrono::milliseconds kTimeout{10'000};

// WaitFor()
//
// Polls `done` until it holds or kTimeout passed; returns whether it holds.
bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Signal is a one-shot event between the test and the server's threads.
class Signal {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  // Whether Notify() was called within kTimeout.
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kTimeout, [this] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// An unmasked server frame.
std::string ServerFrame(WebSocketOpcode opcode, std::string_view payload, bool fin = true) {
  std::string out;
  absl::Status status = AppendWebSocketFrame(opcode, fin, payload, std::nullopt, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

std::string TextFrame(std::string_view payload) {
  return ServerFrame(WebSocketOpcode::kText, payload);
}

// ClientFrame is one frame the pool sent, unmasked.
struct ClientFrame {
  bool fin = true;
  WebSocketOpcode opcode = WebSocketOpcode::kText;
  std::string payload;
};

// ServerConn is the server's end of one accepted connection: blocking
// reads bounded by poll, writes bounded by SO_SNDTIMEO.
class ServerConn {
 public:
  explicit ServerConn(int fd) : fd_(fd) {
    timeval timeout{};
    timeout.tv_sec = kTimeout.count() / 1000;
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~ServerConn() { close(fd_); }

  ServerConn(const ServerConn&) = delete;
  ServerConn& operator=(const ServerConn&) = delete;

  int fd() const { return fd_; }

  // Reads the upgrade request through its blank line into `*request`.
  bool ReadRequest(std::string* request) {
    for (;;) {
      size_t end = in_.find("\r\n\r\n");
      if (end != std::string::npos) {
        *request = in_.substr(0, end + 4);
        in_.erase(0, end + 4);
        return true;
      }
      if (!Fill()) return false;
    }
  }

  // The 101 answer to `request`, which must be the pool's upgrade request.
  static std::string UpgradeResponse(const std::string& request) {
    constexpr std::string_view kKeyHeader = "\r\nSec-WebSocket-Key: ";
    size_t start = request.find(kKeyHeader);
    EXPECT_NE(start, std::string::npos) << request;
    if (start == std::string::npos) return "HTTP/1.1 400 Bad Request\r\n\r\n";
    start += kKeyHeader.size();
    std::string key = request.substr(start, request.find("\r\n", start) - start);
    EXPECT_THAT(request, HasSubstr("\r\nUpgrade: websocket\r\n"));
    EXPECT_THAT(request, HasSubstr("\r\nSec-WebSocket-Version: 13\r\n"));
    return absl::StrCat(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ",
        WebSocketAcceptKey(key), "\r\n\r\n");
  }

  // Reads the next client frame, which must be masked and follow RFC 6455.
  bool ReadFrame(ClientFrame* frame) {
    for (;;) {
      WebSocketFrame decoded;
      absl::StatusOr<size_t> used = decoder_.Decode(in_.data(), in_.size(), &decoded);
      if (!used.ok()) {
        ADD_FAILURE() << "malformed client frame: " << used.status();
        return false;
      }
      if (*used > 0) {
        frame->fin = decoded.fin;
        frame->opcode = decoded.opcode;
        frame->payload.assign(decoded.payload.data(), decoded.payload.size());
        in_.erase(0, *used);
        return true;
      }
      if (!Fill()) return false;
    }
  }

  // Reads the next client frame, which must be a whole text frame.
  bool ReadText(std::string* text) {
    ClientFrame frame;
    if (!ReadFrame(&frame)) return false;
    EXPECT_EQ(frame.opcode, WebSocketOpcode::kText);
    EXPECT_TRUE(frame.fin);
    *text = std::move(frame.payload);
    return true;
  }

  bool Write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Waits until the client closes the connection, dropping what it sends.
  bool WaitClosed() {
    for (;;) {
      in_.clear();
      if (!Fill()) return eof_;
    }
  }

 private:
  // Appends what the client sent next; false on EOF, error or timeout.
  bool Fill() {
    pollfd pfd{fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, static_cast<int>(kTimeout.count()));
    if (ready <= 0) {
      ADD_FAILURE() << "server: nothing from the client within the timeout";
      return false;
    }
    char buffer[16384];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      eof_ = true;  // EOF or reset: the client went away.
      return false;
    }
    in_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string in_;
  WebSocketFrameDecoder decoder_{
      {.role = WebSocketRole::kServer, .max_frame_payload = size_t{64} << 20}};
  bool eof_ = false;
};

// TestServer listens on 127.0.0.1 (port 0) and runs `handler` for each of
// the first `connections` connections on a thread of its own.
class TestServer {
 public:
  using Handler = std::function<void(ServerConn&)>;

  TestServer(size_t connections, Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        listen(listen_fd_, 128) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ADD_FAILURE() << "listen: " << std::strerror(errno);
      return;
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this, connections] { Accept(connections); });
  }

  ~TestServer() {
    Join();
    if (listen_fd_ >= 0) close(listen_fd_);
  }

  int port() const { return port_; }

  // Waits for the acceptor and every handler.
  void Join() {
    stop_.store(true);
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& thread : handlers_) thread.join();
    handlers_.clear();
  }

 private:
  void Accept(size_t connections) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    size_t accepted = 0;
    while (accepted < connections && !stop_.load() && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 20) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted;
      handlers_.emplace_back([this, fd] {
        ServerConn conn(fd);
        handler_(conn);
      });
    }
    EXPECT_EQ(accepted, connections) << "connections accepted";
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  // Written by the acceptor only; read after it is joined.
  std::vector<std::thread> handlers_;
};

// PoolRunner runs pool.Run() on a thread; Finish() (or the destructor)
// stops it and joins.
class PoolRunner {
 public:
  explicit PoolRunner(ClientPool& pool) : pool_(pool) {
    thread_ = std::thread([this] { status_ = pool_.Run(); });
  }
  ~PoolRunner() { Finish().IgnoreError(); }

  absl::Status Finish() {
    if (thread_.joinable()) {
      pool_.Stop();
      thread_.join();
    }
    return status_;
  }

 private:
  ClientPool& pool_;
  absl::Status status_;
  std::thread thread_;
};

// The client index the pool put at the end of the request path
// ("GET /any/path<digits> HTTP/1.1").
size_t IndexOf(const std::string& request) {
  size_t end = request.find(" HTTP/1.1\r\n");
  size_t start = end;
  while (start > 0 && request[start - 1] >= '0' && request[start - 1] <= '9') --start;
  EXPECT_LT(start, end) << request;
  size_t index = 0;
  EXPECT_TRUE(absl::SimpleAtoi(request.substr(start, end - start), &index)) << request;
  return index;
}

std::string ChannelOf(size_t index) { return absl::StrCat("bench:", index); }

ClientPoolOptions WirehubOptions(int port, size_t clients) {
  ClientPoolOptions options;
  options.protocol = ClientProtocol::kWirehub;
  options.server_port = port;
  options.source_addresses = {"127.0.0.1"};
  options.clients = clients;
  options.resource = [](size_t i) { return absl::StrCat("/connection/websocket/", i); };
  options.channel = [](size_t i) { return ChannelOf(i); };
  options.token = [](size_t i) { return absl::StrCat("T", i); };
  return options;
}

// The edge's publication push of bench payload `seq` on client `index`'s
// channel.
std::string PushLine(size_t index, uint64_t seq) {
  std::string data;
  FormatBenchPayload(BenchPayload{.ts_ns = MonotonicNowNs(), .seq = seq}, kDefaultBenchPayloadBytes,
                     &data);
  return absl::StrCat(R"({"push":{"channel":")", ChannelOf(index), R"(","pub":{"data":)", data,
                      R"(,"offset":)", seq, "}}}");
}

// Pushes of `seqs` joined by '\n', as the edge batches them in one frame.
std::string PushLines(size_t index, const std::vector<uint64_t>& seqs) {
  std::string out;
  for (uint64_t seq : seqs) {
    if (!out.empty()) out.push_back('\n');
    out += PushLine(index, seq);
  }
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> seqs;
  for (uint64_t seq = first; seq <= last; ++seq) seqs.push_back(seq);
  return seqs;
}

// Plays the edge's side of the upgrade, connect and subscribe of a kWirehub
// client; sets `*index` to the client's index. False when the client went
// away or did not behave (failures are recorded).
bool AcceptWirehubClient(ServerConn& conn, size_t* index) {
  std::string request;
  if (!conn.ReadRequest(&request)) return false;
  *index = IndexOf(request);
  EXPECT_EQ(request.substr(0, request.find("\r\n")),
            absl::StrCat("GET /connection/websocket/", *index, " HTTP/1.1"));
  if (!conn.Write(ServerConn::UpgradeResponse(request))) return false;
  std::string text;
  if (!conn.ReadText(&text)) return false;
  EXPECT_EQ(text, absl::StrCat(R"({"id":1,"connect":{"token":"T)", *index, R"("}})"));
  if (!conn.Write(TextFrame(R"({"id":1,"connect":{"client":"x"}})"))) return false;
  if (!conn.ReadText(&text)) return false;
  EXPECT_EQ(text, absl::StrCat(R"({"id":2,"subscribe":{"channel":")", ChannelOf(*index), R"("}})"));
  return conn.Write(TextFrame(R"({"id":2,"subscribe":{}})"));
}

TEST(ClientPoolTest, WirehubConnectsSubscribesAndAccountsEveryPublication) {
  constexpr size_t kClients = 3;
  constexpr uint64_t kPublications = 600;
  TestServer server(kClients, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptWirehubClient(conn, &index)) return;
    // Several lines in a frame, with a trailing newline.
    ASSERT_TRUE(conn.Write(TextFrame(PushLines(index, {1, 2, 3}) + "\n")));
    // A protocol ping among the pushes, answered with an empty command.
    ASSERT_TRUE(conn.Write(TextFrame("{}\n" + PushLine(index, 4))));
    std::string pong;
    ASSERT_TRUE(conn.ReadText(&pong));
    EXPECT_EQ(pong, "{}");
    // A frame split across two TCP writes, in the payload.
    std::string split = TextFrame(PushLines(index, Range(5, 8)));
    ASSERT_TRUE(conn.Write(std::string_view(split).substr(0, 7)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_TRUE(conn.Write(std::string_view(split).substr(7)));
    // A frame split in its header.
    split = TextFrame(PushLine(index, 9));
    ASSERT_TRUE(conn.Write(std::string_view(split).substr(0, 1)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_TRUE(conn.Write(std::string_view(split).substr(1)));
    // The rest in one frame over 64 KiB (a 64-bit length), more than one read.
    std::string big = TextFrame(PushLines(index, Range(10, kPublications)));
    EXPECT_GT(big.size(), 0xFFFFu);
    ASSERT_TRUE(conn.Write(big));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(WirehubOptions(server.port(), kClients));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.received() == kPublications * kClients; }))
      << "received " << pool.received() << "; " << pool.first_error();
  EXPECT_EQ(pool.connected(), kClients);
  EXPECT_EQ(pool.subscribed(), kClients);
  EXPECT_EQ(pool.failed(), 0u) << pool.first_error();
  EXPECT_EQ(pool.closed(), 0u);
  EXPECT_EQ(pool.first_error(), "");
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();

  EXPECT_EQ(pool.received(), kPublications * kClients);
  EXPECT_EQ(pool.histogram().Count(), kPublications * kClients);
  EXPECT_GE(pool.histogram().Min(), 0);
  EXPECT_GT(pool.connect_phase(), absl::ZeroDuration());
  EXPECT_GE(pool.subscribe_phase(), pool.connect_phase());
  for (size_t i = 0; i < kClients; ++i) {
    pool.tracker().Finish(i, kPublications);
    const SequenceTracker::Counts& counts = pool.tracker().counts(i);
    EXPECT_EQ(counts.received, kPublications) << "client " << i;
    EXPECT_EQ(counts.missing, 0u) << "client " << i;
    EXPECT_EQ(counts.duplicated, 0u) << "client " << i;
    EXPECT_EQ(counts.late, 0u) << "client " << i;
  }
}

TEST(ClientPoolTest, WirehubCountsLossAndDuplicates) {
  TestServer server(1, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptWirehubClient(conn, &index)) return;
    // 3 never comes, 5 comes twice.
    ASSERT_TRUE(conn.Write(TextFrame(PushLines(index, {1, 2, 4, 5}))));
    ASSERT_TRUE(conn.Write(TextFrame(PushLines(index, {5, 6}))));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(WirehubOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.received() == 6; }))
      << "received " << pool.received() << "; " << pool.first_error();
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();

  pool.tracker().Finish(0, 6);
  const SequenceTracker::Counts& counts = pool.tracker().counts(0);
  EXPECT_EQ(counts.received, 6u);
  EXPECT_EQ(counts.missing, 1u);
  EXPECT_EQ(counts.duplicated, 1u);
  EXPECT_EQ(pool.tracker().totals().missing, 1u);
  EXPECT_EQ(pool.histogram().Count(), 6u);
}

TEST(ClientPoolTest, WirehubConnectErrorFailsTheClient) {
  TestServer server(1, [&](ServerConn& conn) {
    std::string request;
    ASSERT_TRUE(conn.ReadRequest(&request));
    ASSERT_TRUE(conn.Write(ServerConn::UpgradeResponse(request)));
    std::string text;
    ASSERT_TRUE(conn.ReadText(&text));
    ASSERT_TRUE(
        conn.Write(TextFrame(R"({"id":1,"error":{"code":109,"message":"token expired"}})")));
    EXPECT_TRUE(conn.WaitClosed());  // The pool gives up on the client.
  });
  ClientPool pool(WirehubOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 1; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("token expired"));
  EXPECT_THAT(pool.first_error(), HasSubstr("connect refused"));
  server.Join();  // Before Stop(): the pool closed the connection by itself.
  EXPECT_EQ(pool.connected(), 0u);
  EXPECT_EQ(pool.subscribed(), 0u);
  EXPECT_EQ(pool.closed(), 0u);
  EXPECT_EQ(pool.connect_phase(), absl::ZeroDuration());
  EXPECT_TRUE(runner.Finish().ok());
}

TEST(ClientPoolTest, WirehubSubscribeErrorFailsTheClient) {
  TestServer server(1, [&](ServerConn& conn) {
    std::string request;
    ASSERT_TRUE(conn.ReadRequest(&request));
    ASSERT_TRUE(conn.Write(ServerConn::UpgradeResponse(request)));
    std::string text;
    ASSERT_TRUE(conn.ReadText(&text));
    ASSERT_TRUE(conn.Write(TextFrame(R"({"id":1,"connect":{"client":"x"}})")));
    ASSERT_TRUE(conn.ReadText(&text));
    ASSERT_TRUE(
        conn.Write(TextFrame(R"({"id":2,"error":{"code":103,"message":"permission denied"}})")));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(WirehubOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 1; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("subscribe refused"));
  EXPECT_THAT(pool.first_error(), HasSubstr("permission denied"));
  EXPECT_EQ(pool.connected(), 1u);
  EXPECT_EQ(pool.subscribed(), 0u);
  server.Join();
  EXPECT_TRUE(runner.Finish().ok());
}

TEST(ClientPoolTest, RefusedUpgradeFailsTheClient) {
  TestServer server(1, [&](ServerConn& conn) {
    std::string request;
    ASSERT_TRUE(conn.ReadRequest(&request));
    ASSERT_TRUE(conn.Write("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(WirehubOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 1; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("403"));
  EXPECT_EQ(pool.connected(), 0u);
  server.Join();
  EXPECT_TRUE(runner.Finish().ok());
}

TEST(ClientPoolTest, RefusedTcpConnectFailsEveryClient) {
  // A port nobody listens on: bound, then closed without listen().
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ClientPool pool(WirehubOptions(ntohs(address.sin_port), 2));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 2; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("connect"));
  EXPECT_TRUE(runner.Finish().ok());
  close(fd);
}

TEST(ClientPoolTest, ServerCloseAfterSubscribedCountsAsClosed) {
  TestServer server(2, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptWirehubClient(conn, &index)) return;
    ASSERT_TRUE(conn.Write(TextFrame(PushLine(index, 1))));
    if (index == 0) {
      // A close frame (1001 "shutdown")...
      ASSERT_TRUE(
          conn.Write(ServerFrame(WebSocketOpcode::kClose, std::string("\x03\xe9") + "shutdown")));
    } else {
      // ... or just the end of the TCP stream.
      shutdown(conn.fd(), SHUT_WR);
    }
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(WirehubOptions(server.port(), 2));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.closed() == 2; }))
      << "closed " << pool.closed() << "; " << pool.first_error();
  server.Join();
  EXPECT_EQ(pool.subscribed(), 2u);
  EXPECT_EQ(pool.failed(), 0u);
  EXPECT_EQ(pool.slow_closed(), 0u);
  EXPECT_EQ(pool.received(), 2u);
  EXPECT_TRUE(runner.Finish().ok());
}

TEST(ClientPoolTest, NchanSubscribesOnOpenAndReadsEveryFrame) {
  constexpr size_t kClients = 2;
  constexpr uint64_t kPublications = 20;
  Signal go;
  TestServer server(kClients, [&](ServerConn& conn) {
    std::string request;
    ASSERT_TRUE(conn.ReadRequest(&request));
    size_t index = IndexOf(request);
    EXPECT_EQ(request.substr(0, request.find("\r\n")),
              absl::StrCat("GET /nchan/sub/bench-", index, " HTTP/1.1"));
    // Frames may follow the 101 in the same write.
    ASSERT_TRUE(conn.Write(ServerConn::UpgradeResponse(request) +
                           ServerFrame(WebSocketOpcode::kPing, "early")));
    ClientFrame pong;
    ASSERT_TRUE(conn.ReadFrame(&pong));
    EXPECT_EQ(pong.opcode, WebSocketOpcode::kPong);
    EXPECT_EQ(pong.payload, "early");
    // Nothing was sent yet the pool counts the client subscribed.
    ASSERT_TRUE(go.Wait());
    std::string payload;
    for (uint64_t seq = 1; seq < kPublications; ++seq) {
      FormatBenchPayload(BenchPayload{.ts_ns = MonotonicNowNs(), .seq = seq}, 64, &payload);
      ASSERT_TRUE(conn.Write(TextFrame(payload)));
      // A text frame that is no bench payload is ignored.
      if (seq == 3) {
        ASSERT_TRUE(conn.Write(TextFrame("hello")));
      }
    }
    // The last one fragmented, with a ping between its fragments.
    FormatBenchPayload(BenchPayload{.ts_ns = MonotonicNowNs(), .seq = kPublications}, 64, &payload);
    std::string_view view(payload);
    ASSERT_TRUE(
        conn.Write(ServerFrame(WebSocketOpcode::kText, view.substr(0, 20), /*fin=*/false) +
                   ServerFrame(WebSocketOpcode::kPing, "mid") +
                   ServerFrame(WebSocketOpcode::kContinuation, view.substr(20, 20), false)));
    ASSERT_TRUE(conn.ReadFrame(&pong));
    EXPECT_EQ(pong.opcode, WebSocketOpcode::kPong);
    EXPECT_EQ(pong.payload, "mid");
    ASSERT_TRUE(conn.Write(ServerFrame(WebSocketOpcode::kContinuation, view.substr(40))));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPoolOptions options;
  options.protocol = ClientProtocol::kNchan;
  options.server_port = server.port();
  options.source_addresses = {"127.0.0.1"};
  options.clients = kClients;
  options.resource = [](size_t i) { return absl::StrCat("/nchan/sub/bench-", i); };
  ClientPool pool(std::move(options));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.subscribed() == kClients; })) << pool.first_error();
  EXPECT_EQ(pool.connected(), kClients);
  EXPECT_EQ(pool.received(), 0u);
  EXPECT_GT(pool.connect_phase(), absl::ZeroDuration());
  EXPECT_GT(pool.subscribe_phase(), absl::ZeroDuration());
  go.Notify();
  EXPECT_TRUE(WaitFor([&] { return pool.received() == kPublications * kClients; }))
      << "received " << pool.received() << "; " << pool.first_error();
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();

  EXPECT_EQ(pool.failed(), 0u) << pool.first_error();
  EXPECT_EQ(pool.histogram().Count(), kPublications * kClients);
  for (size_t i = 0; i < kClients; ++i) {
    pool.tracker().Finish(i, kPublications);
    EXPECT_EQ(pool.tracker().counts(i).received, kPublications) << "client " << i;
    EXPECT_EQ(pool.tracker().counts(i).missing, 0u) << "client " << i;
    EXPECT_EQ(pool.tracker().counts(i).duplicated, 0u) << "client " << i;
  }
}

TEST(ClientPoolTest, SlowClientsStopReadingUntilResumed) {
  constexpr size_t kClients = 4;
  constexpr uint64_t kFastPublications = 5;
  // Bounds the pushes to a slow client that never backs up.
  constexpr uint64_t kMaxSlowPublications = 200'000;
  Signal go;
  Signal resume;
  std::atomic<size_t> backed_up{0};
  std::atomic<size_t> slow_done{0};
  std::atomic<uint64_t> sent[kClients] = {};
  TestServer server(kClients, [&](ServerConn& conn) {
    size_t index = 0;
    int small = 4096;
    setsockopt(conn.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    if (!AcceptWirehubClient(conn, &index)) return;
    ASSERT_LT(index, kClients);
    ASSERT_TRUE(go.Wait());
    if (index % 2 == 0) {
      sent[index] = kFastPublications;
      ASSERT_TRUE(conn.Write(TextFrame(PushLines(index, Range(1, kFastPublications)))));
      EXPECT_TRUE(conn.WaitClosed());
      return;
    }
    // A slow client: push until the socket stays full.
    uint64_t seq = 0;
    std::string pending;
    for (;;) {
      if (pending.empty()) {
        ASSERT_LT(seq, kMaxSlowPublications) << "slow client " << index << " keeps reading";
        pending = TextFrame(PushLine(index, ++seq));
      }
      ssize_t n = send(conn.fd(), pending.data(), pending.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        pending.erase(0, static_cast<size_t>(n));
        continue;
      }
      ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << std::strerror(errno);
      pollfd pfd{conn.fd(), POLLOUT, 0};
      if (poll(&pfd, 1, 300) == 0) break;  // Full for 300 ms: nobody reads.
    }
    ++backed_up;
    ASSERT_TRUE(resume.Wait());
    sent[index] = seq;
    ASSERT_TRUE(conn.Write(pending));  // The rest of the last frame.
    // Client 3 is closed by the server while backed up.
    if (index == 3) shutdown(conn.fd(), SHUT_WR);
    ++slow_done;
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPoolOptions options = WirehubOptions(server.port(), kClients);
  options.slow_every = 2;
  ClientPool pool(std::move(options));
  EXPECT_FALSE(pool.IsSlow(0));
  EXPECT_TRUE(pool.IsSlow(1));
  EXPECT_FALSE(pool.IsSlow(2));
  EXPECT_TRUE(pool.IsSlow(3));
  EXPECT_EQ(pool.slow_clients(), 2u);
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.subscribed() == kClients; })) << pool.first_error();
  go.Notify();
  EXPECT_TRUE(WaitFor([&] { return pool.received() == 2 * kFastPublications; }))
      << "received " << pool.received();
  EXPECT_TRUE(WaitFor([&] { return backed_up.load() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The slow clients read none of what was pushed to them.
  EXPECT_EQ(pool.received(), 2 * kFastPublications);
  EXPECT_EQ(pool.closed(), 0u);

  pool.ResumeSlow();
  resume.Notify();
  EXPECT_TRUE(WaitFor([&] { return slow_done.load() == 2; }));
  EXPECT_GT(sent[1].load(), 0u);
  EXPECT_GT(sent[3].load(), 0u);
  // What slow clients receive is not accounted: only that the server closed
  // one of them.
  const uint64_t fast_total = sent[0] + sent[2];
  EXPECT_TRUE(WaitFor([&] { return pool.slow_closed() == 1; }))
      << "slow_closed " << pool.slow_closed();
  EXPECT_EQ(pool.received(), fast_total);
  EXPECT_EQ(pool.closed(), 1u);
  EXPECT_EQ(pool.failed(), 0u) << pool.first_error();
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();

  for (size_t i = 0; i < kClients; ++i) {
    bool slow = pool.IsSlow(i);
    pool.tracker().Finish(i, slow ? 0 : sent[i].load());
    EXPECT_EQ(pool.tracker().counts(i).received, slow ? 0u : sent[i].load()) << "client " << i;
    EXPECT_EQ(pool.tracker().counts(i).missing, 0u) << "client " << i;
    EXPECT_EQ(pool.tracker().counts(i).duplicated, 0u) << "client " << i;
  }
  EXPECT_EQ(pool.histogram().Count(), fast_total);
}

TEST(ClientPoolTest, AnswersWebSocketPingsWithTheirPayload) {
  TestServer server(1, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptWirehubClient(conn, &index)) return;
    for (const std::string& payload :
         {std::string("ping-1"), std::string(), std::string(kWebSocketMaxControlPayload, 'p')}) {
      ASSERT_TRUE(conn.Write(ServerFrame(WebSocketOpcode::kPing, payload)));
      ClientFrame pong;
      ASSERT_TRUE(conn.ReadFrame(&pong));
      EXPECT_EQ(pong.opcode, WebSocketOpcode::kPong);
      EXPECT_TRUE(pong.fin);
      EXPECT_EQ(pong.payload, payload);
    }
    // Still reading publications.
    ASSERT_TRUE(conn.Write(TextFrame(PushLine(index, 1))));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(WirehubOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.received() == 1; })) << pool.first_error();
  EXPECT_EQ(pool.failed(), 0u);
  EXPECT_EQ(pool.closed(), 0u);
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();
}

// --- The centrifuge-protobuf subprotocol. ---------------------------------

std::string Delimited(const google::protobuf::MessageLite& message) {
  std::string body = message.SerializeAsString();
  std::string out;
  AppendVarint(body.size(), &out);
  return out + body;
}

std::string BinaryFrame(std::string_view payload) {
  return ServerFrame(WebSocketOpcode::kBinary, payload);
}

// The edge's publication push of bench payload `seq` on client `index`'s
// channel, length-prefixed.
std::string ProtobufPush(size_t index, uint64_t seq) {
  std::string data;
  FormatBenchPayload(BenchPayload{.ts_ns = MonotonicNowNs(), .seq = seq}, kDefaultBenchPayloadBytes,
                     &data);
  client::v1::Reply reply;
  reply.mutable_push()->set_channel(ChannelOf(index));
  reply.mutable_push()->mutable_pub()->set_data(data);
  reply.mutable_push()->mutable_pub()->set_offset(seq);
  return Delimited(reply);
}

std::string ProtobufPushes(size_t index, const std::vector<uint64_t>& seqs) {
  std::string out;
  for (uint64_t seq : seqs) out += ProtobufPush(index, seq);
  return out;
}

ClientPoolOptions ProtobufOptions(int port, size_t clients) {
  ClientPoolOptions options = WirehubOptions(port, clients);
  options.wire = WireFormat::kProtobuf;
  return options;
}

// Reads the next client frame, which must be a whole binary frame holding
// exactly one Command.
bool ReadCommand(ServerConn& conn, client::v1::Command* command) {
  ClientFrame frame;
  if (!conn.ReadFrame(&frame)) return false;
  EXPECT_EQ(frame.opcode, WebSocketOpcode::kBinary);
  EXPECT_TRUE(frame.fin);
  std::string_view input = frame.payload;
  std::string_view body;
  EXPECT_EQ(NextDelimited(&input, &body), DelimitedResult::kMessage);
  EXPECT_TRUE(input.empty()) << "one command per frame";
  return command->ParseFromArray(body.data(), static_cast<int>(body.size()));
}

// Plays the edge's side of a protobuf client's upgrade and connect (with
// ConnectResult.pong = `pong`) and reads its subscribe command.
bool AcceptProtobufClient(ServerConn& conn, bool pong, size_t* index) {
  std::string request;
  if (!conn.ReadRequest(&request)) return false;
  *index = IndexOf(request);
  EXPECT_THAT(request, HasSubstr("\r\nSec-WebSocket-Protocol: centrifuge-protobuf\r\n"));
  std::string response = ServerConn::UpgradeResponse(request);
  response.insert(response.size() - 2, "Sec-WebSocket-Protocol: centrifuge-protobuf\r\n");
  if (!conn.Write(response)) return false;
  client::v1::Command connect;
  if (!ReadCommand(conn, &connect)) return false;
  EXPECT_EQ(connect.id(), 1u);
  EXPECT_EQ(connect.connect().token(), absl::StrCat("T", *index));
  client::v1::Reply connected;
  connected.set_id(1);
  connected.mutable_connect()->set_client("x");
  connected.mutable_connect()->set_ping(25);
  connected.mutable_connect()->set_pong(pong);
  if (!conn.Write(BinaryFrame(Delimited(connected)))) return false;
  client::v1::Command subscribe;
  if (!ReadCommand(conn, &subscribe)) return false;
  EXPECT_EQ(subscribe.id(), 2u);
  EXPECT_EQ(subscribe.subscribe().channel(), ChannelOf(*index));
  return true;
}

TEST(ClientPoolTest, ProtobufConnectsSubscribesAndAccountsEveryPublication) {
  constexpr size_t kClients = 2;
  constexpr uint64_t kPublications = 800;
  TestServer server(kClients, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptProtobufClient(conn, /*pong=*/true, &index)) return;
    // The subscribe reply and the first push in one message.
    client::v1::Reply subscribed;
    subscribed.set_id(2);
    subscribed.mutable_subscribe();
    ASSERT_TRUE(conn.Write(BinaryFrame(Delimited(subscribed) + ProtobufPush(index, 1))));
    // A ping (an empty Reply) among pushes: answered with an empty Command.
    ASSERT_TRUE(conn.Write(BinaryFrame(ProtobufPushes(index, {2, 3}) + std::string(1, '\0') +
                                       ProtobufPush(index, 4))));
    ClientFrame pong;
    ASSERT_TRUE(conn.ReadFrame(&pong));
    EXPECT_EQ(pong.opcode, WebSocketOpcode::kBinary);
    EXPECT_EQ(pong.payload, std::string(1, '\0'));
    // A message split across TCP writes, then one over 64 KiB.
    std::string split = BinaryFrame(ProtobufPushes(index, Range(5, 9)));
    ASSERT_TRUE(conn.Write(std::string_view(split).substr(0, 9)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_TRUE(conn.Write(std::string_view(split).substr(9)));
    std::string big = BinaryFrame(ProtobufPushes(index, Range(10, kPublications)));
    EXPECT_GT(big.size(), 0xFFFFu);
    ASSERT_TRUE(conn.Write(big));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(ProtobufOptions(server.port(), kClients));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.received() == kPublications * kClients; }))
      << "received " << pool.received() << "; " << pool.first_error();
  EXPECT_EQ(pool.subscribed(), kClients);
  EXPECT_EQ(pool.failed(), 0u) << pool.first_error();
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();

  EXPECT_EQ(pool.histogram().Count(), kPublications * kClients);
  for (size_t i = 0; i < kClients; ++i) {
    pool.tracker().Finish(i, kPublications);
    const SequenceTracker::Counts& counts = pool.tracker().counts(i);
    EXPECT_EQ(counts.received, kPublications) << "client " << i;
    EXPECT_EQ(counts.missing + counts.duplicated + counts.late, 0u) << "client " << i;
  }
  // Every push but the first (which came with the subscribe reply) was
  // counted with its framing: > 100 bytes of data each.
  EXPECT_GT(pool.received_bytes(), (kPublications - 1) * kClients * kDefaultBenchPayloadBytes);
  EXPECT_LT(pool.received_bytes(), kPublications * kClients * 200);
}

TEST(ClientPoolTest, ProtobufWithoutTheSubprotocolInTheAnswerFailsTheClient) {
  TestServer server(1, [&](ServerConn& conn) {
    std::string request;
    ASSERT_TRUE(conn.ReadRequest(&request));
    // An edge that speaks JSON only answers 101 without the subprotocol.
    ASSERT_TRUE(conn.Write(ServerConn::UpgradeResponse(request)));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(ProtobufOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 1; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("centrifuge-protobuf"));
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();
}

TEST(ClientPoolTest, ProtobufSubscribeErrorFailsTheClient) {
  TestServer server(1, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptProtobufClient(conn, /*pong=*/false, &index)) return;
    client::v1::Reply refused;
    refused.set_id(2);
    refused.mutable_error()->set_code(103);
    refused.mutable_error()->set_message("permission denied");
    ASSERT_TRUE(conn.Write(BinaryFrame(Delimited(refused))));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(ProtobufOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 1; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("subscribe refused: 103 permission denied"));
  EXPECT_EQ(pool.subscribed(), 0u);
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();
}

TEST(ClientPoolTest, ProtobufMalformedReplyFailsTheClient) {
  TestServer server(1, [&](ServerConn& conn) {
    size_t index = 0;
    if (!AcceptProtobufClient(conn, /*pong=*/false, &index)) return;
    // A length past the end of the message.
    ASSERT_TRUE(conn.Write(BinaryFrame("\x10\x08\x02")));
    EXPECT_TRUE(conn.WaitClosed());
  });
  ClientPool pool(ProtobufOptions(server.port(), 1));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == 1; }));
  EXPECT_THAT(pool.first_error(), HasSubstr("protobuf"));
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();
}

}  // namespace
}  // namespace wirehub::bench

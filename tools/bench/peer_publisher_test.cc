#include "tools/bench/peer_publisher.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every wait of the fake servers is bounded by this.
constexpr int kWaitMs = 5000;

// Conn is the fake server's side of one accepted connection: a blocking
// socket whose reads and writes give up after kWaitMs.
class Conn {
 public:
  explicit Conn(int fd) : fd_(fd) {
    timeval timeout{kWaitMs / 1000, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  }
  ~Conn() { close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // The next line without its CRLF; nullopt at end of stream or timeout.
  std::optional<std::string> ReadLine() {
    for (;;) {
      size_t end = buffer_.find("\r\n");
      if (end != std::string::npos) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        return line;
      }
      if (!Fill()) return std::nullopt;
    }
  }

  std::optional<std::string> ReadBytes(size_t n) {
    while (buffer_.size() < n) {
      if (!Fill()) return std::nullopt;
    }
    std::string bytes = buffer_.substr(0, n);
    buffer_.erase(0, n);
    return bytes;
  }

  // Reads an HTTP request; returns its header (request line and fields,
  // CRLF-separated) and body.
  bool ReadHttpRequest(std::string* header, std::string* body) {
    header->clear();
    size_t content_length = 0;
    for (;;) {
      std::optional<std::string> line = ReadLine();
      if (!line) return false;
      if (line->empty()) break;
      absl::StrAppend(header, *line, "\n");
      if (line->rfind("Content-Length: ", 0) == 0 &&
          !absl::SimpleAtoi(line->substr(16), &content_length)) {
        return false;
      }
    }
    std::optional<std::string> bytes = ReadBytes(content_length);
    if (!bytes) return false;
    *body = *bytes;
    return true;
  }

  bool Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Whether the client closed its end within kWaitMs.
  bool WaitForClose() {
    while (Fill()) {
    }
    return true;
  }

 private:
  bool Fill() {
    char chunk[4096];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

// FakeServer listens on 127.0.0.1 (port 0) and, on its own thread, calls
// `serve` for each of the first `connections` connections it accepts, one
// after the other. Waiting for a connection gives up after kWaitMs.
class FakeServer {
 public:
  FakeServer(int connections, std::function<void(int index, Conn& conn)> serve) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(listener_, 8), 0);
    socklen_t size = sizeof(address);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this, connections, serve = std::move(serve)] {
      for (int i = 0; i < connections; ++i) {
        pollfd entry{listener_, POLLIN, 0};
        if (poll(&entry, 1, kWaitMs) != 1) return;
        int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;
        accepted_.fetch_add(1);
        Conn conn(fd);
        serve(i, conn);
      }
    });
  }
  ~FakeServer() {
    Join();
    close(listener_);
  }

  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  // Waits for the serving thread to finish.
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Records what the fake server saw, for the test thread.
class Log {
 public:
  void Add(std::string entry) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(entry));
  }
  std::vector<std::string> entries() {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> entries_;
};

constexpr absl::Duration kTimeout = absl::Seconds(5);

// ---------------------------------------------------------------------------
// nchan

TEST(NchanPublisherTest, PostsOnOneKeepAliveConnection) {
  Log log;
  FakeServer server(1, [&](int, Conn& conn) {
    std::string header, body;
    for (int i = 0; i < 2 && conn.ReadHttpRequest(&header, &body); ++i) {
      log.Add(header + "|" + body);
      conn.Write(i == 0 ? "HTTP/1.1 202 Accepted\r\nContent-Length: 19\r\n\r\nqueued messages: 1\n"
                        : "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    }
    conn.WaitForClose();
  });
  {
    absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
        ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
    ASSERT_TRUE(publisher.ok()) << publisher.status();
    EXPECT_TRUE((*publisher)->Publish("bench0", "hello").ok());
    EXPECT_TRUE((*publisher)->Publish("b_1:x-2", "").ok());
    EXPECT_TRUE((*publisher)->Flush().ok());
  }
  server.Join();
  const std::string host = absl::StrCat("Host: 127.0.0.1:", server.port(), "\n");
  EXPECT_THAT(log.entries(), ElementsAre("POST /pub/bench0 HTTP/1.1\n" + host +
                                             "Content-Type: text/plain\nContent-Length: 5\n|hello",
                                         "POST /pub/b_1:x-2 HTTP/1.1\n" + host +
                                             "Content-Type: text/plain\nContent-Length: 0\n|"));
  EXPECT_EQ(server.accepted(), 1);
}

TEST(NchanPublisherTest, ReadsChunkedAnswersSentInPieces) {
  FakeServer server(1, [&](int, Conn& conn) {
    std::string header, body;
    for (int i = 0; i < 2 && conn.ReadHttpRequest(&header, &body); ++i) {
      for (std::string_view piece :
           {"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n", "\r\n5\r", "\nhel",
            "lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n", "\r\n"}) {
        conn.Write(piece);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    }
    conn.WaitForClose();
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  // The second answer parses only if the first was consumed exactly.
  EXPECT_TRUE((*publisher)->Publish("c", "1").ok());
  EXPECT_TRUE((*publisher)->Publish("c", "2").ok());
  publisher->reset();
  server.Join();
  EXPECT_EQ(server.accepted(), 1);
}

TEST(NchanPublisherTest, NonSuccessAnswerIsAnErrorWithStatusAndBody) {
  FakeServer server(1, [&](int, Conn& conn) {
    std::string header, body;
    if (!conn.ReadHttpRequest(&header, &body)) return;
    conn.Write("HTTP/1.1 403 Forbidden\r\nContent-Length: 16\r\n\r\nno such channel\n");
    if (!conn.ReadHttpRequest(&header, &body)) return;
    conn.Write("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    conn.WaitForClose();
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  absl::Status status = (*publisher)->Publish("c", "x");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("HTTP/1.1 403 Forbidden"));
  EXPECT_THAT(status.message(), HasSubstr("no such channel"));
  // The connection stays usable.
  EXPECT_TRUE((*publisher)->Publish("c", "y").ok());
  publisher->reset();
  server.Join();
}

TEST(NchanPublisherTest, ReconnectsOnceWhenTheServerClosedTheKeepAliveConnection) {
  Log log;
  FakeServer server(3, [&](int index, Conn& conn) {
    std::string header, body;
    if (!conn.ReadHttpRequest(&header, &body)) return;
    log.Add(absl::StrCat(index, ":", body));
    conn.Write("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    // Then closes, as nginx does with an idle keep-alive connection.
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  EXPECT_TRUE((*publisher)->Publish("c", "a").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE((*publisher)->Publish("c", "b").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_TRUE((*publisher)->Publish("c", "c").ok());
  publisher->reset();
  server.Join();
  EXPECT_THAT(log.entries(), ElementsAre("0:a", "1:b", "2:c"));
}

TEST(NchanPublisherTest, ConnectionCloseAnswerAndBodyUntilEnd) {
  Log log;
  FakeServer server(2, [&](int index, Conn& conn) {
    std::string header, body;
    if (!conn.ReadHttpRequest(&header, &body)) return;
    log.Add(absl::StrCat(index, ":", body));
    // HTTP/1.0 without a length: the body ends with the connection.
    conn.Write(index == 0 ? "HTTP/1.1 201 Created\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                          : "HTTP/1.0 202 Accepted\r\n\r\nbody until the end");
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  EXPECT_TRUE((*publisher)->Publish("c", "a").ok());
  EXPECT_TRUE((*publisher)->Publish("c", "b").ok());
  publisher->reset();
  server.Join();
  EXPECT_THAT(log.entries(), ElementsAre("0:a", "1:b"));
}

TEST(NchanPublisherTest, DoesNotRetryWhenTheAnswerWasCutShort) {
  FakeServer server(2, [&](int, Conn& conn) {
    std::string header, body;
    if (!conn.ReadHttpRequest(&header, &body)) return;
    conn.Write("HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\nabc");
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  absl::Status status = (*publisher)->Publish("c", "a");
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("closed"));
  // The next call connects again (the server's second connection).
  EXPECT_EQ((*publisher)->Publish("c", "b").code(), absl::StatusCode::kUnavailable);
  publisher->reset();
  server.Join();
  EXPECT_EQ(server.accepted(), 2);
}

TEST(NchanPublisherTest, TimesOutWhenTheServerDoesNotAnswer) {
  FakeServer server(1, [&](int, Conn& conn) {
    std::string header, body;
    conn.ReadHttpRequest(&header, &body);
    conn.WaitForClose();
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), absl::Milliseconds(200));
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  auto start = std::chrono::steady_clock::now();
  absl::Status status = (*publisher)->Publish("c", "a");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_GE(elapsed, std::chrono::milliseconds(150));
  EXPECT_LT(elapsed, std::chrono::milliseconds(2000));
  publisher->reset();
  server.Join();
}

TEST(NchanPublisherTest, RefusesBadChannelNames) {
  FakeServer server(1, [](int, Conn& conn) { conn.WaitForClose(); });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  for (std::string_view channel : {"", "a b", "a/b", "a.b", "a\r\nX: y"}) {
    EXPECT_EQ((*publisher)->Publish(channel, "x").code(), absl::StatusCode::kInvalidArgument)
        << channel;
  }
  publisher->reset();
  server.Join();
}

TEST(PeerPublisherTest, ConnectionRefusedIsUnavailable) {
  // A bound socket that does not listen holds the port and refuses.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t size = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  const int port = ntohs(address.sin_port);
  EXPECT_EQ(ConnectNchanPublisher("127.0.0.1", port, kTimeout).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(ConnectNatsPublisher("127.0.0.1", port, kTimeout).status().code(),
            absl::StatusCode::kUnavailable);
  close(fd);
}

// ---------------------------------------------------------------------------
// nats

constexpr std::string_view kInfo =
    "INFO {\"server_id\":\"FAKE\",\"version\":\"2.9.10\",\"proto\":1,\"max_payload\":1048576} \r\n";

// Serves the NATS handshake: INFO, then CONNECT and PING answered with PONG.
bool ServeNatsHandshake(Conn& conn, Log& log) {
  if (!conn.Write(kInfo)) return false;
  for (std::string_view expected : {"CONNECT", "PING"}) {
    std::optional<std::string> line = conn.ReadLine();
    if (!line || line->rfind(expected, 0) != 0) return false;
    log.Add(*line);
  }
  return conn.Write("PONG\r\n");
}

TEST(NatsPublisherTest, PublishesAnswersPingsAndFlushes) {
  Log log;
  FakeServer server(1, [&](int, Conn& conn) {
    if (!ServeNatsHandshake(conn, log)) return;
    // A server PING, which the client answers the next time it is used.
    conn.Write("PING\r\n");
    for (;;) {
      std::optional<std::string> line = conn.ReadLine();
      if (!line) return;
      log.Add(*line);
      size_t size = 0;
      if (line->rfind("PUB ", 0) == 0) {
        if (!absl::SimpleAtoi(line->substr(line->rfind(' ') + 1), &size)) return;
        std::optional<std::string> payload = conn.ReadBytes(size + 2);
        if (!payload) return;
        log.Add(*payload);
      } else if (*line == "PING") {
        conn.Write("PONG\r\n");
      }
    }
  });
  {
    absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
        ConnectNatsPublisher("127.0.0.1", server.port(), kTimeout);
    ASSERT_TRUE(publisher.ok()) << publisher.status();
    // Let the server's PING arrive before the first publication.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_TRUE((*publisher)->Publish("bench.0", "hello").ok());
    EXPECT_TRUE((*publisher)->Publish("b_1:x-2", std::string_view("a\r\nb\0", 5)).ok());
    EXPECT_TRUE((*publisher)->Flush().ok());
  }
  server.Join();
  EXPECT_THAT(log.entries(), ElementsAre("CONNECT {\"verbose\":false,\"pedantic\":false}", "PING",
                                         "PONG", "PUB bench.0 5", "hello\r\n", "PUB b_1:x-2 5",
                                         std::string("a\r\nb\0\r\n", 7), "PING"));
}

TEST(NatsPublisherTest, ErrDuringConnectIsUnavailable) {
  FakeServer server(1, [&](int, Conn& conn) {
    conn.Write(kInfo);
    conn.ReadLine();
    conn.Write("-ERR 'Authorization Violation'\r\n");
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNatsPublisher("127.0.0.1", server.port(), kTimeout);
  EXPECT_EQ(publisher.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(publisher.status().message(), HasSubstr("'Authorization Violation'"));
  server.Join();
}

TEST(NatsPublisherTest, ErrAfterPublishFailsFlushAndLaterCalls) {
  Log log;
  FakeServer server(1, [&](int, Conn& conn) {
    if (!ServeNatsHandshake(conn, log)) return;
    if (!conn.ReadLine()) return;  // PUB
    conn.Write("-ERR 'Maximum Payload Violation'\r\n");
    conn.WaitForClose();
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNatsPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  EXPECT_TRUE((*publisher)->Publish("s", "x").ok());
  absl::Status status = (*publisher)->Flush();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("Maximum Payload Violation"));
  EXPECT_EQ((*publisher)->Publish("s", "y"), status);
  EXPECT_EQ((*publisher)->Flush(), status);
  publisher->reset();
  server.Join();
}

TEST(NatsPublisherTest, TimesOutWithoutInfoOrPong) {
  FakeServer server(2, [&](int index, Conn& conn) {
    if (index == 1) conn.Write(kInfo);  // Then never answers the PING.
    conn.WaitForClose();
  });
  auto start = std::chrono::steady_clock::now();
  absl::Status no_info =
      ConnectNatsPublisher("127.0.0.1", server.port(), absl::Milliseconds(100)).status();
  EXPECT_EQ(no_info.code(), absl::StatusCode::kDeadlineExceeded) << no_info;
  absl::Status no_pong =
      ConnectNatsPublisher("127.0.0.1", server.port(), absl::Milliseconds(100)).status();
  EXPECT_EQ(no_pong.code(), absl::StatusCode::kDeadlineExceeded) << no_pong;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
  server.Join();
  EXPECT_EQ(server.accepted(), 2);
}

TEST(NatsPublisherTest, RefusesBadSubjects) {
  Log log;
  FakeServer server(1, [&](int, Conn& conn) {
    if (ServeNatsHandshake(conn, log)) conn.WaitForClose();
  });
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNatsPublisher("127.0.0.1", server.port(), kTimeout);
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  for (std::string_view channel : {"", "a b", "a\r\nPUB x 1"}) {
    EXPECT_EQ((*publisher)->Publish(channel, "x").code(), absl::StatusCode::kInvalidArgument)
        << channel;
  }
  publisher->reset();
  server.Join();
}

}  // namespace
}  // namespace wirehub::bench

// ClientPool over wss against an in-process TLS server playing the edge,
// with certificates from GenerateBenchCertificates().
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/websocket_frame.h"
#include "common/websocket_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_certificates.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/client_pool.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::chrono::milliseconds kTimeout{10'000};

bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A directory of its own for each call's certificates.
BenchCertificates MakeCertificates(const std::string& name) {
  std::string dir = ::testing::TempDir() + "/" + name;
  mkdir(dir.c_str(), 0700);
  absl::StatusOr<BenchCertificates> certificates = GenerateBenchCertificates(dir);
  EXPECT_TRUE(certificates.ok()) << certificates.status();
  return certificates.ok() ? *certificates : BenchCertificates{};
}

std::string TextFrame(std::string_view payload) {
  std::string out;
  absl::Status status =
      AppendWebSocketFrame(WebSocketOpcode::kText, true, payload, std::nullopt, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// TlsServerConn is the server's end of one TLS connection: blocking, every
// read and write bounded by socket timeouts.
class TlsServerConn {
 public:
  explicit TlsServerConn(SSL* ssl) : ssl_(ssl) {}

  bool ReadRequest(std::string* request) {
    while (true) {
      size_t end = in_.find("\r\n\r\n");
      if (end != std::string::npos) {
        *request = in_.substr(0, end + 4);
        in_.erase(0, end + 4);
        return true;
      }
      if (!Fill()) return false;
    }
  }

  bool ReadText(std::string* text) {
    while (true) {
      WebSocketFrame frame;
      absl::StatusOr<size_t> used = decoder_.Decode(in_.data(), in_.size(), &frame);
      if (!used.ok()) {
        ADD_FAILURE() << "malformed client frame: " << used.status();
        return false;
      }
      if (*used > 0) {
        EXPECT_EQ(frame.opcode, WebSocketOpcode::kText);
        text->assign(frame.payload.data(), frame.payload.size());
        in_.erase(0, *used);
        return true;
      }
      if (!Fill()) return false;
    }
  }

  bool Write(std::string_view bytes) {
    while (!bytes.empty()) {
      int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Waits until the client drops the connection.
  void WaitClosed() {
    while (Fill()) in_.clear();
  }

 private:
  bool Fill() {
    char buffer[16384];
    int n = SSL_read(ssl_, buffer, sizeof(buffer));
    if (n <= 0) return false;
    in_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  SSL* ssl_;
  std::string in_;
  WebSocketFrameDecoder decoder_{
      {.role = WebSocketRole::kServer, .max_frame_payload = size_t{1} << 20}};
};

// TlsTestServer accepts `connections` TLS connections on 127.0.0.1 (port
// 0) with `certificates`' server pair and runs `handler` for each on a
// thread of its own; handshake failures are counted.
class TlsTestServer {
 public:
  using Handler = std::function<void(TlsServerConn&)>;

  TlsTestServer(const BenchCertificates& certificates, size_t connections, Handler handler)
      : handler_(std::move(handler)) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx_, certificates.cert_file.c_str()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx_, certificates.key_file.c_str(), SSL_FILETYPE_PEM),
              1);
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

  ~TlsTestServer() {
    Join();
    if (listen_fd_ >= 0) close(listen_fd_);
    SSL_CTX_free(ctx_);
  }

  int port() const { return port_; }
  size_t failed_handshakes() const { return failed_handshakes_.load(); }

  void Join() {
    if (acceptor_.joinable()) acceptor_.join();
    for (std::thread& thread : handlers_) thread.join();
    handlers_.clear();
  }

 private:
  void Accept(size_t connections) {
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    size_t accepted = 0;
    while (accepted < connections && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 20) <= 0) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted;
      handlers_.emplace_back([this, fd] {
        timeval timeout{};
        timeout.tv_sec = kTimeout.count() / 1000;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
          TlsServerConn conn(ssl);
          handler_(conn);
        } else {
          failed_handshakes_.fetch_add(1);
        }
        SSL_free(ssl);
        close(fd);
      });
    }
    EXPECT_EQ(accepted, connections) << "connections accepted";
  }

  Handler handler_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<size_t> failed_handshakes_{0};
  std::thread acceptor_;
  std::vector<std::thread> handlers_;  // Acceptor only; read after it is joined.
};

std::string PushLines(uint64_t first, uint64_t last) {
  std::string out;
  for (uint64_t seq = first; seq <= last; ++seq) {
    std::string data;
    FormatBenchPayload(BenchPayload{.ts_ns = MonotonicNowNs(), .seq = seq},
                       kDefaultBenchPayloadBytes, &data);
    if (!out.empty()) out.push_back('\n');
    absl::StrAppend(&out, R"({"push":{"channel":"bench0","pub":{"data":)", data, R"(,"offset":)",
                    seq, "}}}");
  }
  return out;
}

// The edge's side of upgrade, connect and subscribe, over TLS.
bool AcceptWirehubClient(TlsServerConn& conn) {
  std::string request;
  if (!conn.ReadRequest(&request)) return false;
  EXPECT_THAT(request, StartsWith("GET /connection/websocket HTTP/1.1\r\n"));
  constexpr std::string_view kKeyHeader = "\r\nSec-WebSocket-Key: ";
  size_t start = request.find(kKeyHeader);
  if (start == std::string::npos) return false;
  start += kKeyHeader.size();
  std::string key = request.substr(start, request.find("\r\n", start) - start);
  if (!conn.Write(absl::StrCat("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: ",
                               WebSocketAcceptKey(key), "\r\n\r\n"))) {
    return false;
  }
  std::string text;
  if (!conn.ReadText(&text)) return false;
  EXPECT_THAT(text, StartsWith(R"({"id":1,"connect":{"token":")"));
  if (!conn.Write(TextFrame(R"({"id":1,"connect":{"client":"x"}})"))) return false;
  if (!conn.ReadText(&text)) return false;
  EXPECT_EQ(text, R"({"id":2,"subscribe":{"channel":"bench0"}})");
  return conn.Write(TextFrame(R"({"id":2,"subscribe":{}})"));
}

ClientPoolOptions WssOptions(int port, size_t clients, const std::string& ca_file) {
  ClientPoolOptions options;
  options.protocol = ClientProtocol::kWirehub;
  options.server_port = port;
  options.source_addresses = {"127.0.0.1"};
  options.clients = clients;
  options.resource = [](size_t) { return std::string("/connection/websocket"); };
  options.channel = [](size_t) { return std::string("bench0"); };
  options.token = [](size_t i) { return absl::StrCat("T", i); };
  options.tls_ca_file = ca_file;
  return options;
}

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

TEST(ClientPoolTlsTest, WssConnectsSubscribesAndAccountsEveryPublication) {
  constexpr size_t kClients = 3;
  constexpr uint64_t kPublications = 600;
  BenchCertificates certificates = MakeCertificates("wss-ok");
  TlsTestServer server(certificates, kClients, [&](TlsServerConn& conn) {
    if (!AcceptWirehubClient(conn)) return;
    ASSERT_TRUE(conn.Write(TextFrame(PushLines(1, 3))));
    // A protocol ping: the answer goes out through SSL_write.
    ASSERT_TRUE(conn.Write(TextFrame("{}")));
    std::string pong;
    ASSERT_TRUE(conn.ReadText(&pong));
    EXPECT_EQ(pong, "{}");
    // One frame over several TLS records (16 KiB each) and reads.
    std::string big = TextFrame(PushLines(4, kPublications));
    EXPECT_GT(big.size(), 4u * 16384);
    ASSERT_TRUE(conn.Write(big));
    conn.WaitClosed();
  });
  ClientPool pool(WssOptions(server.port(), kClients, certificates.ca_file));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.received() == kPublications * kClients; }))
      << "received " << pool.received() << "; " << pool.first_error();
  EXPECT_EQ(pool.subscribed(), kClients);
  EXPECT_EQ(pool.failed(), 0u) << pool.first_error();
  EXPECT_THAT(pool.tls_description(), StartsWith("TLSv1.3 "));
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();
  EXPECT_EQ(server.failed_handshakes(), 0u);
  for (size_t i = 0; i < kClients; ++i) {
    pool.tracker().Finish(i, kPublications);
    EXPECT_EQ(pool.tracker().counts(i).received, kPublications) << "client " << i;
    EXPECT_EQ(pool.tracker().counts(i).missing, 0u) << "client " << i;
  }
}

TEST(ClientPoolTlsTest, AServerCertificateFromAnotherCaFailsEveryClient) {
  constexpr size_t kClients = 2;
  BenchCertificates served = MakeCertificates("wss-served");
  BenchCertificates trusted = MakeCertificates("wss-trusted");
  TlsTestServer server(served, kClients, [](TlsServerConn&) {
    ADD_FAILURE() << "a client completed the handshake with an untrusted server";
  });
  ClientPool pool(WssOptions(server.port(), kClients, trusted.ca_file));
  PoolRunner runner(pool);
  EXPECT_TRUE(WaitFor([&] { return pool.failed() == kClients; })) << pool.first_error();
  EXPECT_THAT(pool.first_error(), HasSubstr("certificate verification failed"));
  EXPECT_EQ(pool.subscribed(), 0u);
  ASSERT_TRUE(runner.Finish().ok());
  server.Join();
  EXPECT_EQ(server.failed_handshakes(), kClients);
}

TEST(ClientPoolTlsTest, AMissingCaFileFailsEveryClientWithTheReason) {
  ClientPool pool(WssOptions(1, 4, ::testing::TempDir() + "/no-such-ca.pem"));
  absl::Status status = pool.Run();
  EXPECT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_EQ(pool.failed(), 4u);
  EXPECT_THAT(pool.first_error(), HasSubstr("no-such-ca.pem"));
}

}  // namespace
}  // namespace wirehub::bench

#include "tools/bench/peer_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/websocket_frame.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/nats_parser.h"
#include "tools/bench/peer_publisher.h"
#include "tools/bench/ws_handshake.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every wait in these tests gives up after this.
constexpr int kWaitMs = 5000;

PeerOptions TestOptions() {
  PeerOptions options;
  options.work_dir = "/w";
  options.ws_port = 65101;
  options.publish_port = 65101;
  return options;
}

TEST(PeerServerTest, Names) {
  EXPECT_EQ(PeerName(PeerKind::kNchan), "nchan");
  EXPECT_EQ(PeerName(PeerKind::kNats), "nats");
}

TEST(PeerServerTest, NchanConfigOnOnePort) {
  const std::string config = NchanConfig(TestOptions());
  for (std::string_view line :
       {"daemon off;", "master_process on;", "worker_processes 1;", "worker_rlimit_nofile 19500;",
        "worker_connections 19500;", "pid \"/w/nginx.pid\";", "error_log \"/w/error.log\" warn;",
        "client_body_temp_path \"/w/client_body_temp\";", "proxy_temp_path \"/w/proxy_temp\";",
        "access_log off;", "keepalive_requests 1000000000;", "nchan_message_buffer_length 5;",
        "listen 127.0.0.1:65101;", "location ~ ^/sub/([\\w:-]+)$ {", "nchan_subscriber websocket;",
        "nchan_subscriber_first_message newest;", "location ~ ^/pub/([\\w:-]+)$ {",
        "nchan_publisher http;", "nchan_channel_id $1;"}) {
    EXPECT_THAT(config, HasSubstr(line));
  }
  EXPECT_THAT(config, HasSubstr("ngx_nchan_module.so\";\n"));
  EXPECT_EQ(config.find("listen"), config.rfind("listen")) << "one listener";
  // No braces or quotes left unbalanced.
  EXPECT_EQ(std::count(config.begin(), config.end(), '{'),
            std::count(config.begin(), config.end(), '}'));
  EXPECT_EQ(std::count(config.begin(), config.end(), '"') % 2, 0);
}

TEST(PeerServerTest, NchanConfigOnTwoPortsWithFewerConnections) {
  PeerOptions options = TestOptions();
  options.publish_port = 65102;
  options.max_connections = 1000;
  options.work_dir = "/tmp/a \"b\"";
  const std::string config = NchanConfig(options);
  EXPECT_THAT(config, HasSubstr("listen 127.0.0.1:65101;\n"));
  EXPECT_THAT(config, HasSubstr("listen 127.0.0.1:65102;\n"));
  EXPECT_THAT(config, HasSubstr("worker_rlimit_nofile 1000;"));
  EXPECT_THAT(config, HasSubstr("worker_connections 1000;"));
  EXPECT_THAT(config, HasSubstr("pid \"/tmp/a \\\"b\\\"/nginx.pid\";"));
}

TEST(PeerServerTest, NatsConfig) {
  PeerOptions options = TestOptions();
  options.publish_port = 65102;
  const std::string config = NatsConfig(options);
  EXPECT_THAT(config, HasSubstr("listen: \"127.0.0.1:65102\"\n"));
  EXPECT_THAT(config, HasSubstr("websocket {\n  listen: \"127.0.0.1:65101\"\n  no_tls: true\n}"));
  EXPECT_THAT(config, HasSubstr("pid_file: \"/w/nats-server.pid\"\n"));
  EXPECT_THAT(config, HasSubstr("log_file: \"/w/nats-server.log\"\n"));
  EXPECT_THAT(config, HasSubstr("max_connections: 19500\n"));
  EXPECT_THAT(config, HasSubstr("write_deadline: \"30s\"\n"));
  EXPECT_THAT(config, Not(HasSubstr("max_payload")));
}

TEST(PeerServerTest, RefusesBadOptions) {
  PeerOptions options = TestOptions();
  options.work_dir = "/nonexistent/wirehub-peer";
  EXPECT_EQ(PeerServer::Start(PeerKind::kNchan, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.work_dir = "/tmp";
  options.ws_port = 0;
  EXPECT_EQ(PeerServer::Start(PeerKind::kNchan, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.ws_port = 65101;
  // NATS needs two ports.
  EXPECT_EQ(PeerServer::Start(PeerKind::kNats, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A work_dir for one test, removed at its end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = testing::TempDir() + "wirehub-peer-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(path_, ignored);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Starts `kind` on random ports from 65001-65535, trying other ports while
// they are taken.
absl::StatusOr<std::unique_ptr<PeerServer>> StartOnFreePorts(PeerKind kind,
                                                             const std::string& work_dir) {
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> port(65001, 65535);
  absl::Status last;
  for (int attempt = 0; attempt < 10; ++attempt) {
    PeerOptions options;
    options.work_dir = work_dir;
    options.ws_port = port(random);
    do {
      options.publish_port = port(random);
    } while (options.publish_port == options.ws_port);
    options.max_connections = 1000;
    absl::StatusOr<std::unique_ptr<PeerServer>> peer = PeerServer::Start(kind, options);
    if (peer.ok() || !absl::IsAlreadyExists(peer.status())) return peer;
    last = peer.status();
  }
  return last;
}

// Whether process `pid` is gone (or a zombie nobody reaped yet).
bool ProcessGone(pid_t pid) {
  std::FILE* file = std::fopen(absl::StrCat("/proc/", pid, "/stat").c_str(), "r");
  if (file == nullptr) return true;
  char state = 0;
  int scanned = std::fscanf(file, "%*d (%*[^)]) %c", &state);
  std::fclose(file);
  return scanned == 1 && (state == 'Z' || state == 'X');
}

// WsClient is a blocking WebSocket client for the tests: handshake, masked
// text frames out, whole frames in; every wait gives up after kWaitMs.
class WsClient {
 public:
  ~WsClient() {
    if (fd_ >= 0) close(fd_);
  }

  absl::Status Connect(int port, std::string_view resource) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
    }
    absl::StatusOr<std::string> key = RandomWsKey();
    if (!key.ok()) return key.status();
    std::string request = BuildWsHandshakeRequest(absl::StrCat("127.0.0.1:", port), resource, *key);
    if (send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return absl::UnavailableError("send handshake");
    }
    for (;;) {
      absl::StatusOr<size_t> header = ParseWsHandshakeResponse(buffer_, *key);
      if (!header.ok()) return header.status();
      if (*header > 0) {
        handshake_response_ = buffer_.substr(0, *header);
        buffer_.erase(0, *header);
        return absl::OkStatus();
      }
      if (!Fill()) return absl::DeadlineExceededError("no handshake answer");
    }
  }

  absl::Status SendText(std::string_view text) {
    std::string frame(WebSocketFrameSize(text.size(), /*masked=*/true), '\0');
    absl::StatusOr<size_t> size = EncodeWebSocketFrame(WebSocketOpcode::kText, true, text,
                                                       0x12345678, frame.data(), frame.size());
    if (!size.ok()) return size.status();
    if (send(fd_, frame.data(), *size, MSG_NOSIGNAL) != static_cast<ssize_t>(*size)) {
      return absl::UnavailableError("send frame");
    }
    return absl::OkStatus();
  }

  struct Frame {
    WebSocketOpcode opcode;
    std::string payload;
  };

  absl::StatusOr<Frame> ReadFrame() {
    for (;;) {
      WebSocketFrame frame;
      absl::StatusOr<size_t> used = decoder_.Decode(buffer_, &frame);
      if (!used.ok()) return used.status();
      if (*used > 0) {
        Frame out{frame.opcode, std::string(frame.payload)};
        buffer_.erase(0, *used);
        return out;
      }
      if (!Fill()) return absl::DeadlineExceededError("no frame");
    }
  }

  const std::string& handshake_response() const { return handshake_response_; }

 private:
  // Reads what arrives within kWaitMs; false on timeout or end of stream.
  bool Fill() {
    pollfd entry{fd_, POLLIN, 0};
    if (poll(&entry, 1, kWaitMs) != 1) return false;
    char chunk[16384];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  std::string handshake_response_;
  WebSocketFrameDecoder decoder_;
};

void ExpectStoppedAndGone(std::unique_ptr<PeerServer> peer) {
  std::vector<pid_t> pids = peer->pids();
  auto start = std::chrono::steady_clock::now();
  peer.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  // nginx's worker exits shortly after its master.
  for (pid_t pid : pids) {
    for (int i = 0; i < 100 && !ProcessGone(pid); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_TRUE(ProcessGone(pid)) << pid;
  }
}

TEST(PeerServerTest, NchanDeliversAPublicationToAWebSocketSubscriber) {
  std::vector<std::string> missing = MissingPeerPackages(PeerKind::kNchan);
  if (!missing.empty()) GTEST_SKIP() << "needs " << absl::StrJoin(missing, " ");
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<std::unique_ptr<PeerServer>> peer = StartOnFreePorts(PeerKind::kNchan, dir.path());
  ASSERT_TRUE(peer.ok()) << peer.status();
  std::vector<pid_t> pids = (*peer)->pids();
  ASSERT_EQ(pids.size(), 2u) << "nginx master and one worker";
  EXPECT_EQ((*peer)->WsResource("bench0"), "/sub/bench0");
  EXPECT_TRUE((*peer)->CheckRunning().ok());

  WsClient subscriber;
  ASSERT_TRUE(subscriber.Connect((*peer)->ws_port(), (*peer)->WsResource("b_1:x-2")).ok());
  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNchanPublisher("127.0.0.1", (*peer)->publish_port(), absl::Seconds(5));
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  // Another channel's message must not arrive.
  ASSERT_TRUE((*publisher)->Publish("other", "not for this subscriber").ok());
  std::string payload;
  FormatBenchPayload({MonotonicNowNs(), 1}, 100, &payload);
  absl::Status published = (*publisher)->Publish("b_1:x-2", payload);
  ASSERT_TRUE(published.ok()) << published;
  absl::StatusOr<WsClient::Frame> frame = subscriber.ReadFrame();
  ASSERT_TRUE(frame.ok()) << frame.status();
  // Nchan sends each message's body unchanged in one text frame.
  EXPECT_EQ(frame->opcode, WebSocketOpcode::kText);
  EXPECT_EQ(frame->payload, payload);

  // Many publications on the keep-alive connection, in order.
  for (int seq = 2; seq <= 50; ++seq) {
    FormatBenchPayload({MonotonicNowNs(), static_cast<uint64_t>(seq)}, 100, &payload);
    ASSERT_TRUE((*publisher)->Publish("b_1:x-2", payload).ok());
    frame = subscriber.ReadFrame();
    ASSERT_TRUE(frame.ok()) << frame.status();
    absl::StatusOr<BenchPayload> parsed = ParseBenchPayload(frame->payload);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->seq, static_cast<uint64_t>(seq));
  }
  publisher->reset();
  ExpectStoppedAndGone(std::move(*peer));
}

TEST(PeerServerTest, NatsDeliversAPublicationToAWebSocketSubscriber) {
  std::vector<std::string> missing = MissingPeerPackages(PeerKind::kNats);
  if (!missing.empty()) GTEST_SKIP() << "needs " << absl::StrJoin(missing, " ");
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<std::unique_ptr<PeerServer>> peer = StartOnFreePorts(PeerKind::kNats, dir.path());
  ASSERT_TRUE(peer.ok()) << peer.status();
  ASSERT_EQ((*peer)->pids().size(), 1u);
  EXPECT_EQ((*peer)->WsResource("bench.0"), "/");

  WsClient subscriber;
  ASSERT_TRUE(subscriber.Connect((*peer)->ws_port(), (*peer)->WsResource("bench.0")).ok());
  NatsStreamParser parser;
  std::vector<std::string> events;
  std::vector<WebSocketOpcode> opcodes;
  // Reads frames until an event of `kind` has arrived.
  auto read_until = [&](NatsStreamParser::Event::Kind kind) -> absl::Status {
    bool seen = false;
    while (!seen) {
      absl::StatusOr<WsClient::Frame> frame = subscriber.ReadFrame();
      if (!frame.ok()) return frame.status();
      opcodes.push_back(frame->opcode);
      absl::Status status = parser.Feed(frame->payload, [&](const NatsStreamParser::Event& event) {
        if (event.kind == kind) seen = true;
        if (event.kind == NatsStreamParser::Event::kMsg) {
          events.push_back(absl::StrCat("MSG ", AsAbsl(event.subject), " ", AsAbsl(event.sid), " ",
                                        AsAbsl(event.payload)));
        } else if (event.kind == NatsStreamParser::Event::kInfo) {
          events.push_back("INFO");
        } else if (event.kind == NatsStreamParser::Event::kPong) {
          events.push_back("PONG");
        }
      });
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  };
  ASSERT_TRUE(read_until(NatsStreamParser::Event::kInfo).ok());
  ASSERT_TRUE(
      subscriber
          .SendText("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB bench.0 1\r\nPING\r\n")
          .ok());
  // The PONG means the SUB is in place.
  ASSERT_TRUE(read_until(NatsStreamParser::Event::kPong).ok());

  absl::StatusOr<std::unique_ptr<PeerPublisher>> publisher =
      ConnectNatsPublisher("127.0.0.1", (*peer)->publish_port(), absl::Seconds(5));
  ASSERT_TRUE(publisher.ok()) << publisher.status();
  ASSERT_TRUE((*publisher)->Publish("bench.1", "not for this subscriber").ok());
  ASSERT_TRUE((*publisher)->Publish("bench.0", "hello nats").ok());
  absl::Status flushed = (*publisher)->Flush();
  ASSERT_TRUE(flushed.ok()) << flushed;
  ASSERT_TRUE(read_until(NatsStreamParser::Event::kMsg).ok());
  EXPECT_EQ(events, (std::vector<std::string>{"INFO", "PONG", "MSG bench.0 1 hello nats"}));
  // nats-server sends its protocol in binary frames.
  for (WebSocketOpcode opcode : opcodes) EXPECT_EQ(opcode, WebSocketOpcode::kBinary);

  publisher->reset();
  ExpectStoppedAndGone(std::move(*peer));
}

TEST(PeerServerTest, NoticesAPeerThatDied) {
  std::vector<std::string> missing = MissingPeerPackages(PeerKind::kNats);
  if (!missing.empty()) GTEST_SKIP() << "needs " << absl::StrJoin(missing, " ");
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  absl::StatusOr<std::unique_ptr<PeerServer>> peer = StartOnFreePorts(PeerKind::kNats, dir.path());
  ASSERT_TRUE(peer.ok()) << peer.status();
  std::vector<pid_t> pids = (*peer)->pids();
  ASSERT_EQ(pids.size(), 1u);
  ASSERT_EQ(kill(pids[0], SIGKILL), 0);
  absl::Status running;
  for (int i = 0; i < kWaitMs / 10 && running.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    running = (*peer)->CheckRunning();
  }
  EXPECT_EQ(running.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(running.message(), HasSubstr("signal 9"));
  EXPECT_THAT(running.message(), HasSubstr("Server is ready"));
  EXPECT_TRUE((*peer)->pids().empty());
}

TEST(PeerServerTest, TakenPortIsAlreadyExists) {
  std::vector<std::string> missing = MissingPeerPackages(PeerKind::kNats);
  if (!missing.empty()) GTEST_SKIP() << "needs " << absl::StrJoin(missing, " ");
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // A listener on a port from the bench's range.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::mt19937 random(std::random_device{}());
  int port = 0;
  for (int attempt = 0; attempt < 20 && port == 0; ++attempt) {
    int candidate = std::uniform_int_distribution<int>(65001, 65534)(random);
    address.sin_port = htons(static_cast<uint16_t>(candidate));
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      port = candidate;
    }
  }
  ASSERT_NE(port, 0);
  ASSERT_EQ(listen(listener, 4), 0);
  PeerOptions options;
  options.work_dir = dir.path();
  options.ws_port = port;
  options.publish_port = port + 1;
  absl::StatusOr<std::unique_ptr<PeerServer>> peer = PeerServer::Start(PeerKind::kNats, options);
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kAlreadyExists) << peer.status();
  close(listener);
}

TEST(PeerServerTest, PortBoundByAnotherSocketIsAlreadyExists) {
  std::vector<std::string> missing = MissingPeerPackages(PeerKind::kNats);
  if (!missing.empty()) GTEST_SKIP() << "needs " << absl::StrJoin(missing, " ");
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // A bound socket that does not listen: connecting is refused, but the
  // peer cannot bind the port (as when a client socket took it).
  int bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::mt19937 random(std::random_device{}());
  int port = 0;
  for (int attempt = 0; attempt < 20 && port == 0; ++attempt) {
    int candidate = std::uniform_int_distribution<int>(65001, 65534)(random);
    address.sin_port = htons(static_cast<uint16_t>(candidate));
    if (bind(bound, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) port = candidate;
  }
  ASSERT_NE(port, 0);
  PeerOptions options;
  options.work_dir = dir.path();
  options.ws_port = port + 1;
  options.publish_port = port;
  absl::StatusOr<std::unique_ptr<PeerServer>> peer = PeerServer::Start(PeerKind::kNats, options);
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kAlreadyExists) << peer.status();
  EXPECT_THAT(peer.status().message(), HasSubstr("exited during start"));
  close(bound);
}

}  // namespace
}  // namespace wirehub::bench

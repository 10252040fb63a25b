#include "edge/lws_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/metrics.h"
#include "common/websocket_key.h"
#include "edge/edge_metrics.h"

namespace wirehub::edge {
namespace {

using ::testing::HasSubstr;

// A listening socket on 127.0.0.1 holding a port.
struct HeldPort {
  HeldPort() {
    fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(fd, 4), 0);
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~HeldPort() { close(fd); }
  int fd = -1;
  int port = 0;
};

// Echoes each message back as "echo:MESSAGE"; "close" closes with 3001.
class EchoHandler : public TransportHandler {
 public:
  explicit EchoHandler(Transport* transport) : transport_(transport) {}
  void OnOpen(Connection* connection) override {
    absl::MutexLock lock(&mu_);
    ++opened_;
  }
  void OnMessage(Connection* connection, std::string_view message, bool binary) override {
    if (message == "close") {
      transport_->Close(connection, 3001, "shutdown");
      return;
    }
    if (message == "reply-then-close") {
      transport_->Send(connection, std::make_shared<const std::string>("last words"));
      transport_->Close(connection, 3013, "too many requests");
      return;
    }
    // Protobuf connections are told apart, to show the transport set it.
    const char* prefix = connection->format == WireFormat::kProtobuf ? "pb-echo:" : "echo:";
    transport_->Send(connection,
                     std::make_shared<const std::string>(prefix + std::string(message)));
  }
  void OnClose(Connection* connection) override {
    absl::MutexLock lock(&mu_);
    ++closed_;
  }
  int closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

 private:
  Transport* const transport_;
  absl::Mutex mu_;
  int opened_ ABSL_GUARDED_BY(mu_) = 0;
  int closed_ ABSL_GUARDED_BY(mu_) = 0;
};

// A blocking WebSocket client with a receive timeout.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawClient() { close(fd_); }

  // The server's status line after an upgrade request for `path`
  // (offering `protocol` as Sec-WebSocket-Protocol unless empty); the whole
  // response head in `*head_out` when given.
  std::string Upgrade(const std::string& path, const std::string& protocol = "",
                      std::string* head_out = nullptr) {
    const std::string key = "dGhlIHNhbXBsZSBub25jZQ==";
    Write(absl::StrCat(
        "GET ", path,
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: ",
        key, "\r\nSec-WebSocket-Version: 13\r\n",
        protocol.empty() ? "" : absl::StrCat("Sec-WebSocket-Protocol: ", protocol, "\r\n"),
        "\r\n"));
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && recv(fd_, &c, 1, 0) == 1) head += c;
    if (head.find(WebSocketAcceptKey(key)) == std::string::npos &&
        head.find(" 101 ") != std::string::npos) {
      return "bad accept key";
    }
    if (head_out != nullptr) *head_out = head;
    return head.substr(0, head.find("\r\n"));
  }
  // One masked text frame.
  void SendText(const std::string& text) { SendFrame(0x81, text); }
  // `pieces` as one text message in several frames (RFC 6455 5.4).
  void SendFragmented(const std::vector<std::string>& pieces) {
    for (size_t i = 0; i < pieces.size(); ++i) {
      int opcode = i == 0 ? 0x01 : 0x00;
      SendFrame((i + 1 == pieces.size() ? 0x80 : 0x00) | opcode, pieces[i]);
    }
  }
  // A masked frame with `first_byte` (FIN and opcode) and `text`.
  void SendFrame(int first_byte, const std::string& text) {
    std::string frame;
    frame += static_cast<char>(first_byte);
    const unsigned char mask[4] = {1, 2, 3, 4};
    if (text.size() < 126) {
      frame += static_cast<char>(0x80 | text.size());
    } else {
      frame += static_cast<char>(0x80 | 126);
      frame += static_cast<char>((text.size() >> 8) & 0xff);
      frame += static_cast<char>(text.size() & 0xff);
    }
    frame.append(reinterpret_cast<const char*>(mask), 4);
    for (size_t i = 0; i < text.size(); ++i) frame += static_cast<char>(text[i] ^ mask[i % 4]);
    Write(frame);
  }
  // The next frame: opcode and payload; opcode -1 when the socket closed.
  std::pair<int, std::string> Read() {
    unsigned char head[2];
    if (!ReadExactly(head, 2)) return {-1, ""};
    size_t length = head[1] & 0x7f;
    if (length == 126) {
      unsigned char extended[2];
      if (!ReadExactly(extended, 2)) return {-1, ""};
      length = (extended[0] << 8) | extended[1];
    }
    std::string payload(length, '\0');
    if (length > 0 && !ReadExactly(payload.data(), length)) return {-1, ""};
    return {head[0] & 0x0f, payload};
  }
  bool connected() const { return connected_; }

 private:
  void Write(const std::string& bytes) {
    ASSERT_EQ(send(fd_, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  }
  bool ReadExactly(void* out, size_t n) {
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      ssize_t got = recv(fd_, p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
};

TEST(LwsTransportTest, TakenPortIsAnErrorNamingTheAddress) {
  HeldPort held;
  LwsTransportOptions options;
  options.listen_port = held.port;
  LwsTransport transport(options);
  EchoHandler handler(&transport);
  absl::StatusOr<int> port = transport.Init(&handler);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(port.status().message()),
              HasSubstr(absl::StrCat("127.0.0.1:", held.port)));
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("in use"));
  // Destroying a transport whose Init failed is safe.
}

TEST(LwsTransportTest, UnknownHostIsAnError) {
  LwsTransportOptions options;
  options.listen_host = "no-such-host.invalid";
  options.listen_port = 0;
  LwsTransport transport(options);
  EchoHandler handler(&transport);
  EXPECT_FALSE(transport.Init(&handler).ok());
}

class LwsTransportLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LwsTransportOptions options;
    options.listen_port = 0;
    options.max_message_bytes = 1000;
    options.metrics = &metrics_;
    transport_ = std::make_unique<LwsTransport>(options);
    handler_ = std::make_unique<EchoHandler>(transport_.get());
    absl::StatusOr<int> port = transport_->Init(handler_.get());
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    loop_ = std::thread([this] { transport_->Run(); });
  }
  void TearDown() override {
    transport_->Post([this] { transport_->StopLoop(); });
    loop_.join();
    transport_->Shutdown();
  }

  metrics::Registry registry_;
  EdgeMetrics metrics_{&registry_};
  std::unique_ptr<LwsTransport> transport_;
  std::unique_ptr<EchoHandler> handler_;
  std::thread loop_;
  int port_ = 0;
};

TEST_F(LwsTransportLoopTest, EchoesMessagesAndClosesWithTheGivenCode) {
  RawClient client(port_);
  ASSERT_TRUE(client.connected());
  EXPECT_THAT(client.Upgrade("/connection/websocket"), HasSubstr("101"));
  client.SendText("hello");
  auto [opcode, payload] = client.Read();
  EXPECT_EQ(opcode, 1);
  EXPECT_EQ(payload, "echo:hello");
  std::string big(300, 'x');
  client.SendText(big);
  EXPECT_EQ(client.Read().second, "echo:" + big);
  client.SendText("close");
  auto [close_opcode, close_payload] = client.Read();
  EXPECT_EQ(close_opcode, 8);
  ASSERT_GE(close_payload.size(), 2u);
  EXPECT_EQ((static_cast<unsigned char>(close_payload[0]) << 8) |
                static_cast<unsigned char>(close_payload[1]),
            3001);
  EXPECT_EQ(close_payload.substr(2), "shutdown");
  // Counted on the loop before the bytes left.
  EXPECT_GE(metrics_.written_bytes.value(), 10u + 305u);
  EXPECT_GE(metrics_.client_queue_bytes.count(), 2u);
  EXPECT_GT(metrics_.loop_turn_seconds.count(), 0u);
  EXPECT_THAT(registry_.Render(), HasSubstr(R"(wirehub_edge_disconnects_total{code="3001"} 1)"));
}

TEST_F(LwsTransportLoopTest, TheOfferedSubprotocolSelectsTheWireFormat) {
  {
    RawClient client(port_);
    std::string head;
    EXPECT_THAT(client.Upgrade("/connection/websocket", "centrifuge-protobuf", &head),
                HasSubstr("101"));
    EXPECT_THAT(absl::AsciiStrToLower(head),
                HasSubstr("sec-websocket-protocol: centrifuge-protobuf"));
    client.SendFrame(0x82, std::string("\x00\x01", 2));
    auto [opcode, payload] = client.Read();
    EXPECT_EQ(opcode, 2) << "a binary frame";
    EXPECT_EQ(payload, std::string("pb-echo:\x00\x01", 10));
    EXPECT_THAT(
        registry_.Render(),
        HasSubstr(R"(wirehub_edge_connections{transport="websocket",protocol="protobuf"} 1)"));
  }
  {
    RawClient client(port_);
    std::string head;
    EXPECT_THAT(client.Upgrade("/connection/websocket", "chat, centrifuge-json", &head),
                HasSubstr("101"));
    EXPECT_THAT(absl::AsciiStrToLower(head), HasSubstr("sec-websocket-protocol: centrifuge-json"));
    client.SendText("hi");
    auto [opcode, payload] = client.Read();
    EXPECT_EQ(opcode, 1);
    EXPECT_EQ(payload, "echo:hi");
  }
  {
    RawClient client(port_);
    EXPECT_THAT(client.Upgrade("/connection/websocket", "mqtt"), HasSubstr("400"));
  }
  EXPECT_THAT(registry_.Render(),
              HasSubstr(R"(wirehub_edge_connection_refusals_total{reason="bad_handshake"} 1)"));
}

TEST_F(LwsTransportLoopTest, LongAndFragmentedMessagesArriveWhole) {
  // The receive buffer is small: longer frames arrive in pieces, as do
  // fragmented messages, and each is handed over joined, once.
  RawClient client(port_);
  ASSERT_THAT(client.Upgrade("/connection/websocket"), HasSubstr("101"));
  std::string long_text;
  for (int i = 0; long_text.size() < 900; ++i) absl::StrAppend(&long_text, i, ",");
  client.SendText(long_text);
  EXPECT_EQ(client.Read().second, "echo:" + long_text);
  client.SendText("short");
  EXPECT_EQ(client.Read().second, "echo:short");
  client.SendFragmented({"frag", std::string(300, 'm'), "", "ment"});
  EXPECT_EQ(client.Read().second, "echo:frag" + std::string(300, 'm') + "ment");
  client.SendText("after");
  EXPECT_EQ(client.Read().second, "echo:after");
  // A close while a message was arriving in pieces still carries its code.
  client.SendFragmented({"clo", "se"});
  auto [close_opcode, close_payload] = client.Read();
  EXPECT_EQ(close_opcode, 8);
  ASSERT_GE(close_payload.size(), 2u);
  EXPECT_EQ(close_payload.substr(2), "shutdown");
}

TEST_F(LwsTransportLoopTest, WhatWasQueuedBeforeACloseIsSentFirst) {
  RawClient client(port_);
  ASSERT_THAT(client.Upgrade("/connection/websocket"), HasSubstr("101"));
  client.SendText("reply-then-close");
  auto [opcode, payload] = client.Read();
  EXPECT_EQ(opcode, 1);
  EXPECT_EQ(payload, "last words");
  auto [close_opcode, close_payload] = client.Read();
  EXPECT_EQ(close_opcode, 8);
  ASSERT_GE(close_payload.size(), 2u);
  EXPECT_EQ((static_cast<unsigned char>(close_payload[0]) << 8) |
                static_cast<unsigned char>(close_payload[1]),
            3013);
}

TEST_F(LwsTransportLoopTest, OversizedMessageClosesWith1009) {
  RawClient client(port_);
  ASSERT_THAT(client.Upgrade("/connection/websocket"), HasSubstr("101"));
  client.SendText(std::string(1500, 'y'));
  auto [opcode, payload] = client.Read();
  if (opcode == 8) {
    ASSERT_GE(payload.size(), 2u);
    EXPECT_EQ(
        (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]),
        1009);
  } else {
    EXPECT_EQ(opcode, -1) << "expected a close, got opcode " << opcode;
  }
  EXPECT_THAT(registry_.Render(), HasSubstr(R"(wirehub_edge_disconnects_total{code="1009"} 1)"));
}

TEST_F(LwsTransportLoopTest, OtherPathsAre404) {
  RawClient client(port_);
  EXPECT_THAT(client.Upgrade("/elsewhere"), HasSubstr(" 404 "));
}

// A transport with the given options, serving on its own thread.
class RunningTransport {
 public:
  explicit RunningTransport(LwsTransportOptions options) {
    options.listen_port = 0;
    transport_ = std::make_unique<LwsTransport>(options);
    handler_ = std::make_unique<EchoHandler>(transport_.get());
    absl::StatusOr<int> port = transport_->Init(handler_.get());
    EXPECT_TRUE(port.ok()) << port.status();
    port_ = port.value_or(0);
    loop_ = std::thread([this] { transport_->Run(); });
  }
  ~RunningTransport() {
    transport_->Post([this] { transport_->StopLoop(); });
    loop_.join();
    transport_->Shutdown();
  }
  int port() const { return port_; }
  EchoHandler& handler() { return *handler_; }
  // Runs `task` on the loop and waits for it.
  void OnLoop(std::function<void(LwsTransport&)> task) {
    absl::Notification done;
    transport_->Post([&] {
      task(*transport_);
      done.Notify();
    });
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  }

 private:
  std::unique_ptr<LwsTransport> transport_;
  std::unique_ptr<EchoHandler> handler_;
  std::thread loop_;
  int port_ = 0;
};

// Whether `fd` becomes readable within `timeout`.
bool Readable(int fd, absl::Duration timeout) {
  pollfd entry{fd, POLLIN, 0};
  return poll(&entry, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1;
}

TEST(LwsTransportLimitsTest, AtMaxConnectionsAcceptingWaitsForAClose) {
  LwsTransportOptions options;
  options.max_connections = 2;
  RunningTransport running(options);
  auto first = std::make_unique<RawClient>(running.port());
  RawClient second(running.port());
  ASSERT_THAT(first->Upgrade("/connection/websocket"), HasSubstr("101"));
  ASSERT_THAT(second.Upgrade("/connection/websocket"), HasSubstr("101"));
  // The third waits in the listen backlog: its request gets no answer...
  RawClient third(running.port());
  ASSERT_TRUE(third.connected());
  std::thread upgrade(
      [&third] { EXPECT_THAT(third.Upgrade("/connection/websocket"), HasSubstr("101")); });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(running.handler().closed(), 0);
  // ...until a connection closes.
  first.reset();
  upgrade.join();
}

TEST(LwsTransportLimitsTest, AHandshakeThatDripsIsClosedAtTheDeadline) {
  LwsTransportOptions options;
  options.handshake_timeout = absl::Milliseconds(300);
  RunningTransport running(options);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(running.port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(send(fd, "GET /connection/websocket HTTP/1.1\r\n", 35, 0), 35);
  absl::Time start = absl::Now();
  ASSERT_TRUE(Readable(fd, absl::Seconds(5)));
  char byte;
  EXPECT_LE(recv(fd, &byte, 1, 0), 0);  // Closed, no answer.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  close(fd);
}

TEST(LwsTransportLimitsTest, ConnectionsPerAddressAnswer429) {
  metrics::Registry registry;
  EdgeMetrics edge_metrics(&registry);
  LwsTransportOptions options;
  options.per_address.max_per_address = 1;
  options.metrics = &edge_metrics;
  RunningTransport running(options);
  RawClient first(running.port());
  ASSERT_THAT(first.Upgrade("/connection/websocket"), HasSubstr("101"));
  {
    RawClient second(running.port());
    EXPECT_THAT(second.Upgrade("/connection/websocket"), HasSubstr(" 429 "));
  }
  std::string text = registry.Render();
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_connection_refusals_total{reason="per_address_limit"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_connections{transport="websocket",protocol="json"} 1)"));
  // The refused one held nothing: after the first closes, a new one fits.
}

TEST_F(LwsTransportLoopTest, TimersRunOnTheLoopUntilCancelled) {
  absl::Mutex mu;
  int ticks = 0;
  Transport::TimerId timer = 0;
  transport_->Post([&] {
    timer = transport_->StartTimer(absl::Milliseconds(5), [&] {
      absl::MutexLock lock(&mu);
      EXPECT_TRUE(transport_->OnLoopThread());
      if (++ticks == 3) transport_->CancelTimer(timer);
    });
  });
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                      +[](int* n) { return *n >= 3; }, &ticks),
                                  absl::Seconds(5)));
  // Cancelled: no fourth tick.
  mu.AwaitWithTimeout(absl::Condition(
                          +[](int* n) { return *n > 3; }, &ticks),
                      absl::Milliseconds(50));
  EXPECT_EQ(ticks, 3);
}

// The drain: once accepting stopped, new connections are refused at once
// while the open ones keep working.
TEST(LwsTransportDrainTest, StopAcceptingRefusesNewConnectionsAndKeepsOpenOnes) {
  RunningTransport running(LwsTransportOptions{});
  RawClient open(running.port());
  ASSERT_THAT(open.Upgrade("/connection/websocket"), HasSubstr("101"));
  running.OnLoop([](LwsTransport& transport) { transport.StopAccepting(); });
  RawClient refused(running.port());
  EXPECT_FALSE(refused.connected());
  open.SendText("still here");
  EXPECT_EQ(open.Read().second, "echo:still here");
}

// A reload's admission options apply to the next handshakes.
TEST(LwsTransportReloadTest, ApplyAdmissionLimitsTheNextHandshakes) {
  RunningTransport running(LwsTransportOptions{});
  RawClient first(running.port());
  ASSERT_THAT(first.Upgrade("/connection/websocket"), HasSubstr("101"));
  LwsTransportOptions reloaded;
  reloaded.per_address.max_per_address = 1;
  running.OnLoop([&reloaded](LwsTransport& transport) { transport.ApplyAdmission(reloaded); });
  RawClient second(running.port());
  EXPECT_THAT(second.Upgrade("/connection/websocket"), HasSubstr("101"));
  RawClient third(running.port());
  EXPECT_THAT(third.Upgrade("/connection/websocket"), HasSubstr(" 429 "));
}

}  // namespace
}  // namespace wirehub::edge

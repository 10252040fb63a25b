#include "tools/wirehubctl/ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/websocket_key.h"
#include "control/testing/test_pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/ws_test_server.h"
#include "tools/wirehubctl/ws_url.h"

namespace wirehub::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using testing::WsTestConnection;
using testing::WsTestServer;
using ::wirehub::control::testing::TestCa;
using ::wirehub::control::testing::TestPair;
using ::wirehub::control::testing::WriteTestFile;

constexpr absl::Duration kWait = absl::Seconds(5);

absl::Time Deadline() { return absl::Now() + kWait; }

std::unique_ptr<WebSocketClient> ConnectTo(const WsTestServer& server,
                                           const WebSocketClient::Options& options = {}) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl(server.Url());
  EXPECT_TRUE(url.ok()) << url.status();
  if (!url.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client =
      WebSocketClient::Connect(*url, Deadline(), options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

absl::Status ConnectStatus(const WsTestServer& server) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl(server.Url());
  if (!url.ok()) return url.status();
  return WebSocketClient::Connect(*url, Deadline()).status();
}

// Connects to `url_text` trusting `tls`.
absl::StatusOr<std::unique_ptr<WebSocketClient>> ConnectUrl(const std::string& url_text,
                                                            const TlsClientOptions& tls = {}) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl(url_text);
  if (!url.ok()) return url.status();
  WebSocketClient::Options options;
  options.tls = tls;
  return WebSocketClient::Connect(*url, Deadline(), options);
}

// A test CA, a server certificate it issued (SAN IP:127.0.0.1 and
// DNS:localhost) and the CA's file, made once for the suite.
struct TestTls {
  TestCa ca = TestCa::Create("wirehubctl test CA");
  TestPair server = ca.IssueServer();
  std::string ca_file = WriteTestFile("ws_client_ca.pem", ca.cert_pem());

  static const TestTls& Get() {
    static const TestTls* tls = new TestTls();
    return *tls;
  }
  WsTestServer::Options ServerOptions() const {
    WsTestServer::Options options;
    options.tls_cert_pem = server.cert_pem;
    options.tls_key_pem = server.key_pem;
    return options;
  }
  TlsClientOptions Trusting() const { return TlsClientOptions{.ca_file = ca_file}; }
};

std::string CloseCode(uint16_t code) {
  return {static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
}

TEST(WebSocketClientTest, HandshakeRequestAndMaskedTextFrame) {
  std::string request;
  std::optional<WsTestConnection::Frame> frame;
  WsTestServer server([&](WsTestConnection& connection) {
    request = connection.Handshake().value_or("");
    frame = connection.ReadFrame();
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->SendText("Hello", Deadline()).ok());
  server.Join();

  EXPECT_THAT(request, ::testing::StartsWith("GET /connection/websocket HTTP/1.1\r\n"));
  EXPECT_EQ(WsTestConnection::Header(request, "host"),
            "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(WsTestConnection::Header(request, "upgrade"), "websocket");
  EXPECT_EQ(WsTestConnection::Header(request, "connection"), "Upgrade");
  EXPECT_EQ(WsTestConnection::Header(request, "sec-websocket-version"), "13");
  // 16 random bytes in base64.
  EXPECT_THAT(WsTestConnection::Header(request, "sec-websocket-key"),
              MatchesRegex("[A-Za-z0-9+/]{22}=="));
  ASSERT_TRUE(frame.has_value());
  EXPECT_TRUE(frame->fin);
  EXPECT_EQ(frame->opcode, WebSocketOpcode::kText);
  EXPECT_EQ(frame->payload, "Hello");
}

TEST(WebSocketClientTest, ReceivesUnmaskedTextFrameFromRfcExample) {
  WsTestServer server([](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendRaw(std::string("\x81\x05\x48\x65\x6c\x6c\x6f", 7));
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->type, WebSocketMessage::Type::kText);
  EXPECT_EQ(message->payload, "Hello");
}

TEST(WebSocketClientTest, FramesRightBehindTheHandshakeAnswerAreKept) {
  WsTestServer server([](WsTestConnection& connection) {
    std::optional<std::string> request = connection.ReadRequest();
    ASSERT_TRUE(request.has_value());
    connection.SendRaw(
        WsTestConnection::AcceptResponse(WsTestConnection::Header(*request, "Sec-WebSocket-Key")) +
        WsTestConnection::EncodeFrame(WebSocketOpcode::kText, "first") +
        WsTestConnection::EncodeFrame(WebSocketOpcode::kText, "second"));
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->Receive(Deadline())->payload, "first");
  EXPECT_EQ(client->Receive(Deadline())->payload, "second");
}

TEST(WebSocketClientTest, FragmentedMessageWithPingBetweenFragments) {
  std::optional<WsTestConnection::Frame> pong;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    // RFC 6455 section 5.7: "Hel" + "lo", here with a ping in between.
    connection.SendRaw(std::string("\x01\x03\x48\x65\x6c", 5));
    connection.SendFrame(WebSocketOpcode::kPing, "are you there");
    connection.SendRaw(std::string("\x80\x02\x6c\x6f", 4));
    pong = connection.ReadFrame();
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->payload, "Hello");
  server.Join();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, WebSocketOpcode::kPong);
  EXPECT_EQ(pong->payload, "are you there");
}

TEST(WebSocketClientTest, ManyFragmentsOfABinaryMessage) {
  std::string expected;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    for (int i = 0; i < 50; ++i) {
      std::string piece(1000 + i, static_cast<char>('a' + i % 26));
      connection.SendFrame(i == 0 ? WebSocketOpcode::kBinary : WebSocketOpcode::kContinuation,
                           piece, i == 49);
    }
  });
  for (int i = 0; i < 50; ++i) expected += std::string(1000 + i, static_cast<char>('a' + i % 26));
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->type, WebSocketMessage::Type::kBinary);
  EXPECT_EQ(message->payload, expected);
}

TEST(WebSocketClientTest, ExtendedLengthsBothWays) {
  // 125 and 126 straddle the 7-bit length, 65535 and 65536 the 16-bit one.
  const std::vector<size_t> sizes = {125, 126, 300, 65535, 65536, 70000, 300000};
  std::vector<std::optional<WsTestConnection::Frame>> received;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    for (size_t size : sizes) {
      std::string payload(size, 'x');
      payload.back() = 'y';
      connection.SendText(payload);
    }
    for (size_t i = 0; i < sizes.size(); ++i) received.push_back(connection.ReadFrame());
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  for (size_t size : sizes) {
    absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
    ASSERT_TRUE(message.ok()) << message.status();
    ASSERT_EQ(message->payload.size(), size);
    EXPECT_EQ(message->payload.back(), 'y');
    EXPECT_EQ(message->payload.find('y'), size - 1);
  }
  for (size_t size : sizes) {
    std::string payload(size, 'z');
    payload.front() = 'A';
    ASSERT_TRUE(client->SendText(payload, Deadline()).ok());
  }
  server.Join();
  ASSERT_EQ(received.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(received[i].has_value()) << sizes[i];
    ASSERT_EQ(received[i]->payload.size(), sizes[i]);
    EXPECT_EQ(received[i]->payload.front(), 'A');
    EXPECT_EQ(received[i]->payload.find_first_not_of('z', 1), std::string::npos);
  }
}

TEST(WebSocketClientTest, FrameArrivingOneByteAtATime) {
  WsTestServer server([](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    std::string frame =
        WsTestConnection::EncodeFrame(WebSocketOpcode::kText, std::string(200, 'b'));
    for (char byte : frame) {
      connection.SendRaw(std::string(1, byte));
      absl::SleepFor(absl::Microseconds(200));
    }
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->payload, std::string(200, 'b'));
}

TEST(WebSocketClientTest, DeadlineLeavesTheConnectionUsable) {
  absl::Notification timed_out;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    // Half a frame before the deadline, the rest after it.
    std::string frame = WsTestConnection::EncodeFrame(WebSocketOpcode::kText, "late");
    connection.SendRaw(frame.substr(0, 3));
    ASSERT_TRUE(timed_out.WaitForNotificationWithTimeout(kWait));
    connection.SendRaw(frame.substr(3));
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(message.status().code(), absl::StatusCode::kDeadlineExceeded);
  timed_out.Notify();
  message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->payload, "late");
}

TEST(WebSocketClientTest, ServerCloseIsReportedAndEchoed) {
  std::optional<WsTestConnection::Frame> echo;
  bool eof = false;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendClose(3500, "invalid token");
    echo = connection.ReadFrame();
    eof = connection.WaitForEof();
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->type, WebSocketMessage::Type::kClose);
  EXPECT_EQ(message->close_code, 3500);
  EXPECT_EQ(message->payload, "invalid token");
  server.Join();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->opcode, WebSocketOpcode::kClose);
  EXPECT_EQ(echo->payload, CloseCode(3500));
  EXPECT_TRUE(eof);
  EXPECT_EQ(client->Receive(Deadline()).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->SendText("x", Deadline()).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(WebSocketClientTest, CloseWithoutCodeIsReportedAs1005) {
  std::optional<WsTestConnection::Frame> echo;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendFrame(WebSocketOpcode::kClose, "");
    echo = connection.ReadFrame();
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->close_code, kWebSocketCloseNoStatus);
  server.Join();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->opcode, WebSocketOpcode::kClose);
  EXPECT_EQ(echo->payload, "");
}

TEST(WebSocketClientTest, ClientCloseWaitsForTheServersClose) {
  std::optional<WsTestConnection::Frame> close;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendText("ignored while closing");
    close = connection.ReadFrame();
    connection.SendClose(1000, "");
    EXPECT_TRUE(connection.WaitForEof());
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(client->Close(kWebSocketCloseNormal, "bye", Deadline()).ok());
  server.Join();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, WebSocketOpcode::kClose);
  EXPECT_EQ(close->payload, CloseCode(1000) + "bye");
  EXPECT_TRUE(client->Close(kWebSocketCloseNormal, "", Deadline()).ok());  // Already closed: no-op.
}

TEST(WebSocketClientTest, EndWithoutCloseFrameIsUnavailable) {
  WsTestServer server([](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendRaw(WsTestConnection::EncodeFrame(WebSocketOpcode::kText, "abc").substr(0, 3));
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  server.Join();  // The connection is closed when the script returns.
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  EXPECT_EQ(message.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(message.status().message(), HasSubstr("without a close frame"));
}

struct BadFrameCase {
  const char* name;
  std::string bytes;
  const char* message;
};

class WebSocketClientBadFrameTest : public ::testing::TestWithParam<BadFrameCase> {};

TEST_P(WebSocketClientBadFrameTest, FailsTheConnectionWith1002) {
  std::optional<WsTestConnection::Frame> close;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendRaw(GetParam().bytes);
    close = connection.ReadFrame();
  });
  std::unique_ptr<WebSocketClient> client = ConnectTo(server);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  EXPECT_EQ(message.status().code(), absl::StatusCode::kDataLoss) << message.status();
  EXPECT_THAT(message.status().message(), HasSubstr(GetParam().message));
  server.Join();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, WebSocketOpcode::kClose);
  EXPECT_EQ(close->payload, CloseCode(kWebSocketCloseProtocolError));
}

INSTANTIATE_TEST_SUITE_P(
    Rfc6455, WebSocketClientBadFrameTest,
    ::testing::Values(
        BadFrameCase{"Masked", std::string("\x81\x81\x01\x02\x03\x04\x61", 7), "masked"},
        BadFrameCase{"Reserved", std::string("\xc1\x01\x61", 3), "reserved bits"},
        BadFrameCase{"UnknownOpcode", std::string("\x83\x00", 2), "unknown opcode 3"},
        BadFrameCase{"StrayContinuation", std::string("\x80\x01\x61", 3), "continuation"},
        BadFrameCase{"FragmentedPing", std::string("\x09\x00", 2), "control frame"},
        BadFrameCase{"LongPing", std::string("\x89\x7e\x00\x7e", 4) + std::string(126, 'p'),
                     "control frame"},
        BadFrameCase{"NewMessageInsideFragments", std::string("\x01\x01\x61\x81\x01\x62", 6),
                     "inside a fragmented message"},
        BadFrameCase{"HugeLength", std::string("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10),
                     "2^63"},
        BadFrameCase{"OneByteClose", std::string("\x88\x01\x03", 3), "1-byte"},
        BadFrameCase{"CloseCodeNeverSent", std::string("\x88\x02\x03\xed", 4), "code 1005"},
        BadFrameCase{"NotMinimalLength", std::string("\x81\x7e\x00\x01\x61", 5), "minimally"}),
    [](const ::testing::TestParamInfo<BadFrameCase>& c) { return c.param.name; });

TEST(WebSocketClientTest, MessageOverTheLimitIsRefusedWith1009) {
  std::optional<WsTestConnection::Frame> close;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    connection.SendFrame(WebSocketOpcode::kText, std::string(600, 'a'), /*fin=*/false);
    connection.SendFrame(WebSocketOpcode::kContinuation, std::string(600, 'a'));
    close = connection.ReadFrame();
  });
  WebSocketClient::Options options;
  options.max_message_bytes = 1000;
  std::unique_ptr<WebSocketClient> client = ConnectTo(server, options);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<WebSocketMessage> message = client->Receive(Deadline());
  EXPECT_EQ(message.status().code(), absl::StatusCode::kResourceExhausted) << message.status();
  server.Join();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->payload, CloseCode(kWebSocketCloseTooBig));
}

TEST(WebSocketClientTest, HandshakeRefusedWithHttpError) {
  WsTestServer server([](WsTestConnection& connection) {
    ASSERT_TRUE(connection.ReadRequest().has_value());
    connection.SendRaw("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  });
  absl::Status status = ConnectStatus(server);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("404 Not Found"));
}

TEST(WebSocketClientTest, HandshakeWithWrongAcceptKey) {
  WsTestServer server([](WsTestConnection& connection) {
    ASSERT_TRUE(connection.ReadRequest().has_value());
    connection.SendRaw(WsTestConnection::AcceptResponse("not the key"));
  });
  absl::Status status = ConnectStatus(server);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("Sec-WebSocket-Accept"));
}

TEST(WebSocketClientTest, HandshakeWithoutUpgradeHeader) {
  WsTestServer server([](WsTestConnection& connection) {
    std::optional<std::string> request = connection.ReadRequest();
    ASSERT_TRUE(request.has_value());
    connection.SendRaw(absl::StrCat(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ",
        WebSocketAcceptKey(WsTestConnection::Header(*request, "Sec-WebSocket-Key")), "\r\n\r\n"));
  });
  absl::Status status = ConnectStatus(server);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("Upgrade: websocket"));
}

TEST(WebSocketClientTest, HandshakeWithUnofferedExtension) {
  WsTestServer server([](WsTestConnection& connection) {
    std::optional<std::string> request = connection.ReadRequest();
    ASSERT_TRUE(request.has_value());
    std::string answer =
        WsTestConnection::AcceptResponse(WsTestConnection::Header(*request, "Sec-WebSocket-Key"));
    answer.insert(answer.size() - 2, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    connection.SendRaw(answer);
  });
  absl::Status status = ConnectStatus(server);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("permessage-deflate"));
}

TEST(WebSocketClientTest, HandshakeTimesOut) {
  absl::Notification done;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.ReadRequest().has_value());
    done.WaitForNotificationWithTimeout(kWait);  // Never answers.
  });
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl(server.Url());
  ASSERT_TRUE(url.ok());
  absl::Status status =
      WebSocketClient::Connect(*url, absl::Now() + absl::Milliseconds(100)).status();
  done.Notify();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
}

TEST(WebSocketClientTest, ConnectionRefused) {
  // A bound socket that does not listen: connecting to its port is refused.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  absl::StatusOr<WebSocketUrl> url =
      ParseWebSocketUrl("ws://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/");
  ASSERT_TRUE(url.ok());
  absl::Status status = WebSocketClient::Connect(*url, Deadline()).status();
  close(fd);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("refused"));
}

TEST(WebSocketClientTlsTest, WssConnectSendAndReceive) {
  const TestTls& tls = TestTls::Get();
  std::string request;
  std::string sni = "unset";
  std::optional<std::string> text;
  const std::string big(300000, 'b');
  WsTestServer server(
      [&](WsTestConnection& connection) {
        request = connection.Handshake().value_or("");
        sni = connection.tls_server_name();
        connection.SendText("over tls");
        connection.SendText(big);
        text = connection.ReadText();
      },
      tls.ServerOptions());
  ASSERT_THAT(server.Url(), StartsWith("wss://127.0.0.1:"));
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client =
      ConnectUrl(server.Url(), tls.Trusting());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<WebSocketMessage> message = (*client)->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->payload, "over tls");
  message = (*client)->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->payload, big);
  ASSERT_TRUE((*client)->SendText("hello", Deadline()).ok());
  server.Join();
  EXPECT_THAT(server.tls_error(), IsEmpty());
  EXPECT_EQ(WsTestConnection::Header(request, "host"),
            "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(sni, "");  // An IP address is never sent as SNI.
  EXPECT_EQ(text, "hello");
}

TEST(WebSocketClientTlsTest, NameIsResolvedVerifiedAndSentAsSni) {
  const TestTls& tls = TestTls::Get();
  std::string request;
  std::string sni;
  WsTestServer server(
      [&](WsTestConnection& connection) {
        request = connection.Handshake().value_or("");
        sni = connection.tls_server_name();
        connection.SendText("by name");
      },
      tls.ServerOptions());
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client =
      ConnectUrl(server.UrlWithHost("localhost"), tls.Trusting());
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<WebSocketMessage> message = (*client)->Receive(Deadline());
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->payload, "by name");
  server.Join();
  EXPECT_EQ(sni, "localhost");
  EXPECT_EQ(WsTestConnection::Header(request, "host"),
            "localhost:" + std::to_string(server.port()));
}

TEST(WebSocketClientTlsTest, WrongCaFailsVerification) {
  const TestTls& tls = TestTls::Get();
  TestCa other = TestCa::Create("another CA");
  const std::string other_file = WriteTestFile("ws_client_other_ca.pem", other.cert_pem());
  WsTestServer server([](WsTestConnection&) { ADD_FAILURE() << "the handshake succeeded"; },
                      tls.ServerOptions());
  absl::Status status = ConnectUrl(server.Url(), {.ca_file = other_file}).status();
  server.Join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(status.message(),
            absl::StrCat("connect: TLS handshake with 127.0.0.1:", server.port(),
                         " failed: certificate verify failed (unable to get local issuer "
                         "certificate)"));
  EXPECT_THAT(server.tls_error(), ::testing::Not(IsEmpty()));
}

TEST(WebSocketClientTlsTest, WrongNameFailsVerification) {
  const TestTls& tls = TestTls::Get();
  WsTestServer server([](WsTestConnection&) { ADD_FAILURE() << "the handshake succeeded"; },
                      tls.ServerOptions());
  absl::Status status =
      ConnectUrl(server.Url(), {.ca_file = tls.ca_file, .server_name = "wrong.example"}).status();
  server.Join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("failed: certificate verify failed (hostname mismatch)"));
}

TEST(WebSocketClientTlsTest, ExpiredCertificateFailsVerification) {
  const TestTls& tls = TestTls::Get();
  TestPair expired = tls.ca.IssueServer(-absl::Hours(1));
  WsTestServer::Options options;
  options.tls_cert_pem = expired.cert_pem;
  options.tls_key_pem = expired.key_pem;
  WsTestServer server([](WsTestConnection&) { ADD_FAILURE() << "the handshake succeeded"; },
                      options);
  absl::Status status = ConnectUrl(server.Url(), tls.Trusting()).status();
  server.Join();
  EXPECT_THAT(status.message(), HasSubstr("certificate verify failed (certificate has expired)"));
}

TEST(WebSocketClientTlsTest, PlaintextServerFailsTheHandshake) {
  WsTestServer server([](WsTestConnection& connection) {
    connection.SendRaw("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    connection.WaitForEof();
  });
  absl::Status status =
      ConnectUrl(absl::StrCat("wss://127.0.0.1:", server.port(), "/"), TestTls::Get().Trusting())
          .status();
  server.Join();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()),
              StartsWith(absl::StrCat("connect: TLS handshake with 127.0.0.1:", server.port(),
                                      " failed: ")));
  EXPECT_THAT(status.message(), ::testing::Not(HasSubstr("certificate")));
}

TEST(WebSocketClientTlsTest, MissingCaFileIsReportedBeforeConnecting) {
  absl::Status status =
      ConnectUrl("wss://127.0.0.1:1/", {.ca_file = ::testing::TempDir() + "/no/such/ca.pem"})
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), StartsWith("connect: cannot load the CA file '"));
}

TEST(WebSocketClientTlsTest, EndWithoutCloseFrameOverTls) {
  WsTestServer server(
      [](WsTestConnection& connection) { ASSERT_TRUE(connection.Handshake().has_value()); },
      TestTls::Get().ServerOptions());
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client =
      ConnectUrl(server.Url(), TestTls::Get().Trusting());
  ASSERT_TRUE(client.ok()) << client.status();
  server.Join();
  absl::StatusOr<WebSocketMessage> message = (*client)->Receive(Deadline());
  EXPECT_EQ(message.status().code(), absl::StatusCode::kUnavailable) << message.status();
  EXPECT_THAT(message.status().message(), HasSubstr("without a close frame"));
}

TEST(WebSocketClientTest, LocalhostIsResolved) {
  std::string request;
  WsTestServer server([&](WsTestConnection& connection) {
    request = connection.Handshake().value_or("");
    connection.SendText("hi");
  });
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client =
      ConnectUrl(server.UrlWithHost("localhost"));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Receive(Deadline())->payload, "hi");
  server.Join();
  EXPECT_EQ(WsTestConnection::Header(request, "host"),
            "localhost:" + std::to_string(server.port()));
}

TEST(WebSocketClientTest, UnresolvableName) {
  absl::Status status = ConnectUrl("ws://nonexistent.invalid:8000/connection/websocket").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()),
              StartsWith("connect: cannot resolve 'nonexistent.invalid': "));
}

TEST(WebSocketClientTest, Ipv6Loopback) {
  WsTestServer::Options options;
  options.bind_address = "::1";
  std::string request;
  WsTestServer server(
      [&](WsTestConnection& connection) {
        request = connection.Handshake().value_or("");
        connection.SendText("over ::1");
      },
      options);
  if (!server.listening()) GTEST_SKIP() << "no IPv6 loopback here";
  ASSERT_THAT(server.Url(), StartsWith("ws://[::1]:"));
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client = ConnectUrl(server.Url());
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Receive(Deadline())->payload, "over ::1");
  server.Join();
  EXPECT_EQ(WsTestConnection::Header(request, "host"), "[::1]:" + std::to_string(server.port()));
}

TEST(WebSocketClientTlsTest, Ipv6LoopbackWithServerNameOverride) {
  // The certificate holds IP:127.0.0.1 and DNS:localhost, not ::1: the
  // client checks (and sends as SNI) the name it is told instead.
  WsTestServer::Options options = TestTls::Get().ServerOptions();
  options.bind_address = "::1";
  std::string sni;
  WsTestServer server(
      [&](WsTestConnection& connection) {
        ASSERT_TRUE(connection.Handshake().has_value());
        sni = connection.tls_server_name();
        connection.SendText("over ::1 and tls");
      },
      options);
  if (!server.listening()) GTEST_SKIP() << "no IPv6 loopback here";
  absl::StatusOr<std::unique_ptr<WebSocketClient>> client =
      ConnectUrl(server.Url(), {.ca_file = TestTls::Get().ca_file, .server_name = "localhost"});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ((*client)->Receive(Deadline())->payload, "over ::1 and tls");
  server.Join();
  EXPECT_EQ(sni, "localhost");
}

}  // namespace
}  // namespace wirehub::ctl

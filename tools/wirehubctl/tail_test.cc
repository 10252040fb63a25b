#include "tools/wirehubctl/tail.h"

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/ws_client.h"
#include "tools/wirehubctl/ws_test_server.h"
#include "tools/wirehubctl/ws_url.h"

namespace wirehub::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::WsTestConnection;
using testing::WsTestServer;

constexpr char kConnect[] = R"({"id":1,"connect":{"token":"T","name":"wirehubctl"}})";
constexpr char kConnected[] = R"({"id":1,"connect":{"client":"c1","version":"0.1.0","ping":25}})";
constexpr char kSubscribe[] = R"({"id":2,"subscribe":{"channel":"news"}})";
constexpr char kSubscribed[] = R"({"id":2,"subscribe":{}})";

std::string Pub(const std::string& channel, const std::string& data, int offset = 0) {
  std::string pub = absl::StrCat(R"({"push":{"channel":")", channel, R"(","pub":{"data":)", data);
  if (offset > 0) absl::StrAppend(&pub, R"(,"offset":)", offset);
  return pub + "}}}";
}

// The edge's side up to a successful subscribe; false when the client did
// not send what was expected.
bool AcceptSubscriber(WsTestConnection& connection, const std::string& subscribe = kSubscribe,
                      const std::string& subscribed = kSubscribed) {
  if (!connection.Handshake().has_value()) return false;
  std::optional<std::string> command = connection.ReadText();
  EXPECT_EQ(command.value_or("(none)"), kConnect);
  if (!connection.SendText(kConnected)) return false;
  command = connection.ReadText();
  EXPECT_EQ(command.value_or("(none)"), subscribe);
  return command == subscribe && connection.SendText(subscribed);
}

// Reads the client's close and answers it.
void ExpectNormalClose(WsTestConnection& connection) {
  std::optional<WsTestConnection::Frame> frame = connection.ReadFrame();
  ASSERT_TRUE(frame.has_value());
  EXPECT_EQ(frame->opcode, WebSocketOpcode::kClose);
  EXPECT_EQ(frame->payload.substr(0, 2), std::string("\x03\xe8", 2));
  connection.SendClose(1000, "");
}

class TailTest : public ::testing::Test {
 protected:
  TailOptions Options(const WsTestServer& server) {
    TailOptions options;
    absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl(server.Url());
    EXPECT_TRUE(url.ok()) << url.status();
    if (url.ok()) options.url = *url;
    options.token = "T";
    options.channel = "news";
    options.setup_timeout = absl::Seconds(5);
    options.timeout = absl::Seconds(10);  // Only a safety net here.
    return options;
  }

  absl::Status Tail(const TailOptions& options) { return TailChannel(options, out_, err_); }

  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(TailTest, PrintsPublicationsOfTheChannelUntilCount) {
  std::optional<std::string> pong;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(connection));
    // Several messages in one frame, a ping among them, another channel's
    // publication in between.
    connection.SendText(Pub("news", R"({"n":1})", 1) + "\n{}\n" + Pub("other", R"({"n":0})") +
                        "\n" + Pub("news", R"({ "n" : 2 })", 2));
    pong = connection.ReadText();
    connection.SendText(Pub("news", "[3]", 3));
    ExpectNormalClose(connection);
  });
  TailOptions options = Options(server);
  options.count = 3;
  absl::Status status = Tail(options);
  EXPECT_TRUE(status.ok()) << status;
  server.Join();
  EXPECT_EQ(out_.str(), "{\"n\":1}\n{ \"n\" : 2 }\n[3]\n");
  EXPECT_THAT(err_.str(), IsEmpty());
  EXPECT_EQ(pong.value_or("(none)"), "{}");
}

TEST_F(TailTest, SubscriptionTokenRecoveryAndOffsets) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(
        connection,
        R"({"id":2,"subscribe":{"channel":"news","token":"S","recover":true,"epoch":"Xb","offset":7}})",
        R"({"id":2,"subscribe":{"recoverable":true,"epoch":"Xb","offset":9,"recovered":true,)"
        R"("was_recovering":true,"publications":[{"data":{"t":"a"},"offset":8},)"
        R"({"data":{"t":"b"},"offset":9}]}})"));
    connection.SendText(Pub("news", "\"c\"", 10) + "\n" + Pub("news", "null"));
    ExpectNormalClose(connection);
  });
  TailOptions options = Options(server);
  options.sub_token = "S";
  options.recover = true;
  options.epoch = "Xb";
  options.offset = 7;
  options.count = 4;
  options.print_offsets = true;
  absl::Status status = Tail(options);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(out_.str(), "8 {\"t\":\"a\"}\n9 {\"t\":\"b\"}\n10 \"c\"\n- null\n");
  EXPECT_THAT(err_.str(), IsEmpty());
}

TEST_F(TailTest, NotRecoveredIsNotedOnStderr) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(
        connection,
        R"({"id":2,"subscribe":{"channel":"news","recover":true,"epoch":"old","offset":3}})",
        R"({"id":2,"subscribe":{"recoverable":true,"epoch":"new","offset":12,)"
        R"("was_recovering":true}})"));
    connection.SendText(Pub("news", "1", 13));
    ExpectNormalClose(connection);
  });
  TailOptions options = Options(server);
  options.recover = true;
  options.epoch = "old";
  options.offset = 3;
  options.count = 1;
  EXPECT_TRUE(Tail(options).ok());
  EXPECT_EQ(out_.str(), "1\n");
  EXPECT_EQ(err_.str(), "note: not recovered; the stream is at epoch=new offset=12\n");
}

TEST_F(TailTest, LargeFragmentedPublicationAndLineBreaksInData) {
  const std::string big = absl::StrCat("{\"blob\":\"", std::string(200000, 'x'), "\"}");
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(connection));
    std::string frame = Pub("news", big, 1) + "\n" + Pub("news", "{\n\"a\":\r\n1}", 2);
    // Three fragments; the middle one needs a 64-bit length.
    connection.SendFrame(WebSocketOpcode::kText, frame.substr(0, 100), /*fin=*/false);
    connection.SendFrame(WebSocketOpcode::kContinuation, frame.substr(100, 150000), /*fin=*/false);
    connection.SendFrame(WebSocketOpcode::kContinuation, frame.substr(150100));
    ExpectNormalClose(connection);
  });
  TailOptions options = Options(server);
  options.count = 2;
  absl::Status status = Tail(options);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(out_.str(), big + "\n{ \"a\":  1}\n");
}

TEST_F(TailTest, SubscribeErrorEndsTheTail) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(connection, kSubscribe,
                                 R"({"id":2,"error":{"code":102,"message":"unknown channel"}})"));
    ExpectNormalClose(connection);
  });
  absl::Status status = Tail(Options(server));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "error: subscribe: 102 unknown channel");
  EXPECT_THAT(out_.str(), IsEmpty());
}

TEST_F(TailTest, ConnectErrorEndsTheTail) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    EXPECT_EQ(connection.ReadText().value_or("(none)"), kConnect);
    connection.SendText(R"({"id":1,"error":{"code":109,"message":"token expired"}})");
    ExpectNormalClose(connection);
  });
  absl::Status status = Tail(Options(server));
  EXPECT_EQ(status.message(), "error: connect: 109 token expired");
}

TEST_F(TailTest, CloseFrameIsReported) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    EXPECT_TRUE(connection.ReadText().has_value());
    connection.SendClose(3500, "invalid token");
    connection.ReadFrame();  // The echo.
  });
  absl::Status status = Tail(Options(server));
  EXPECT_EQ(status.message(), "closed: 3500 invalid token");
}

TEST_F(TailTest, UnsubscribeAndDisconnectPushesEndTheTail) {
  {
    WsTestServer server([&](WsTestConnection& connection) {
      ASSERT_TRUE(AcceptSubscriber(connection));
      connection.SendText(Pub("news", "1", 1) + "\n" +
                          R"({"push":{"channel":"news","unsubscribe":{"code":2000,)"
                          R"("reason":"server unsubscribe"}}})");
      ExpectNormalClose(connection);
    });
    absl::Status status = Tail(Options(server));
    EXPECT_EQ(status.message(), "unsubscribed: 2000 server unsubscribe");
    EXPECT_EQ(out_.str(), "1\n");
  }
  {
    WsTestServer server([&](WsTestConnection& connection) {
      ASSERT_TRUE(AcceptSubscriber(connection));
      connection.SendText(R"({"push":{"disconnect":{"code":3503,"reason":"force disconnect"}}})");
      ExpectNormalClose(connection);
    });
    absl::Status status = Tail(Options(server));
    EXPECT_EQ(status.message(), "closed: 3503 force disconnect");
  }
}

TEST_F(TailTest, TimeoutWithTooFewPublications) {
  absl::Notification finished;
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(connection));
    connection.SendText(Pub("news", "1", 1));
    ExpectNormalClose(connection);
  });
  TailOptions options = Options(server);
  options.count = 2;
  options.timeout = absl::Milliseconds(300);
  absl::Status status = Tail(options);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(status.message(), "error: timed out after 300ms with 1 of 2 publication(s)");
  EXPECT_EQ(out_.str(), "1\n");
}

TEST_F(TailTest, TimeoutWithoutCountSucceedsOnlyIfSomethingArrived) {
  {
    WsTestServer server([&](WsTestConnection& connection) {
      ASSERT_TRUE(AcceptSubscriber(connection));
      connection.SendText(Pub("news", "1", 1));
      ExpectNormalClose(connection);
    });
    TailOptions options = Options(server);
    options.timeout = absl::Milliseconds(300);
    EXPECT_TRUE(Tail(options).ok());
    EXPECT_EQ(out_.str(), "1\n");
  }
  {
    WsTestServer server([&](WsTestConnection& connection) {
      ASSERT_TRUE(AcceptSubscriber(connection));
      ExpectNormalClose(connection);
    });
    TailOptions options = Options(server);
    options.timeout = absl::Milliseconds(300);
    absl::Status status = Tail(options);
    EXPECT_EQ(status.message(), "error: timed out after 300ms with no publication");
  }
}

TEST_F(TailTest, NoSubscribeAnswerWithinTheSetupTimeout) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    EXPECT_TRUE(connection.ReadText().has_value());
    connection.SendText(kConnected);
    EXPECT_TRUE(connection.ReadText().has_value());
    ExpectNormalClose(connection);  // Never answers the subscribe.
  });
  TailOptions options = Options(server);
  options.setup_timeout = absl::Milliseconds(200);
  absl::Status status = Tail(options);
  EXPECT_EQ(status.message(), "error: no subscribe answer within 200ms");
}

TEST_F(TailTest, ConnectionLost) {
  WsTestServer server(
      [&](WsTestConnection& connection) { ASSERT_TRUE(AcceptSubscriber(connection)); });
  absl::Status status = Tail(Options(server));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("error: the server closed the connection"));
}

TEST_F(TailTest, NotJsonIsAnError) {
  WsTestServer server([&](WsTestConnection& connection) {
    ASSERT_TRUE(AcceptSubscriber(connection));
    connection.SendText("hello");
    ExpectNormalClose(connection);
  });
  absl::Status status = Tail(Options(server));
  EXPECT_THAT(status.message(), HasSubstr("error: malformed server message"));
}

}  // namespace
}  // namespace wirehub::ctl

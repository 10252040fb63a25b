#include "tools/wirehubctl/server_message_parser.h"

#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(JsonValueEndTest, ObjectsArraysStringsAndScalars) {
  EXPECT_EQ(JsonValueEnd(R"({"a":"}"} x)", 0), 9u);
  EXPECT_EQ(JsonValueEnd(R"([1,[2,{"b":"]\""}]] )", 0), 19u);
  EXPECT_EQ(JsonValueEnd(R"("a\"b" )", 0), 6u);
  EXPECT_EQ(JsonValueEnd("-1.5e3,", 0), 6u);
  EXPECT_EQ(JsonValueEnd("true}", 0), 4u);
  EXPECT_EQ(JsonValueEnd("x null", 2), 6u);
  EXPECT_EQ(JsonValueEnd(R"({"a":[1})", 0), std::string_view::npos);
  EXPECT_EQ(JsonValueEnd(R"("abc)", 0), std::string_view::npos);
  EXPECT_EQ(JsonValueEnd("", 0), std::string_view::npos);
  EXPECT_EQ(JsonValueEnd(",", 0), std::string_view::npos);
}

TEST(SplitJsonMessagesTest, NewlineSeparatedObjects) {
  absl::StatusOr<std::vector<std::string_view>> parts =
      SplitJsonMessages("{\"id\":1}\n{}\n{\"push\":{}}\n");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_THAT(*parts, ElementsAre("{\"id\":1}", "{}", "{\"push\":{}}"));
}

TEST(SplitJsonMessagesTest, LineBreaksInsideDataDoNotSplit) {
  std::string frame = "{\"push\":{\"pub\":{\"data\":{\n  \"a\": \"x\\ny\"\n}}}}\n{}";
  absl::StatusOr<std::vector<std::string_view>> parts = SplitJsonMessages(frame);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0], "{\"push\":{\"pub\":{\"data\":{\n  \"a\": \"x\\ny\"\n}}}}");
  EXPECT_EQ((*parts)[1], "{}");
}

TEST(SplitJsonMessagesTest, EmptyAndBroken) {
  EXPECT_THAT(*SplitJsonMessages(""), IsEmpty());
  EXPECT_THAT(*SplitJsonMessages(" \n\r\n"), IsEmpty());
  EXPECT_EQ(SplitJsonMessages("{}\n[1]").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(SplitJsonMessages("{\"id\":1").status().code(), absl::StatusCode::kDataLoss);
}

TEST(ServerMessageParserTest, Ping) {
  ServerMessageParser parser;
  absl::StatusOr<ServerMessage> message = parser.Parse("{}");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kPing);
  message = parser.Parse(" { } ");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kPing);
}

TEST(ServerMessageParserTest, ConnectReplyAndError) {
  ServerMessageParser parser;
  absl::StatusOr<ServerMessage> message =
      parser.Parse(R"({"id":1,"connect":{"client":"c1","version":"0.1.0","ping":25,"pong":true}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kReply);
  EXPECT_EQ(message->id, 1u);
  EXPECT_FALSE(message->error.has_value());

  message = parser.Parse(R"({"id":2,"error":{"code":102,"message":"unknown channel"}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kReply);
  EXPECT_EQ(message->id, 2u);
  ASSERT_TRUE(message->error.has_value());
  EXPECT_EQ(message->error->code, 102u);
  EXPECT_EQ(message->error->message, "unknown channel");
}

TEST(ServerMessageParserTest, SubscribeReplyWithRecoveredPublications) {
  ServerMessageParser parser;
  absl::StatusOr<ServerMessage> message = parser.Parse(
      R"({"id":2,"subscribe":{"recoverable":true,"epoch":"Xb","offset":9,"recovered":true,)"
      R"("was_recovering":true,"positioned":true,"publications":[{"data":{"t":"a"},"offset":8},)"
      R"({"offset":9,"data":[1, 2 ,3] }]}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kReply);
  EXPECT_EQ(message->epoch, "Xb");
  EXPECT_EQ(message->offset, 9u);
  EXPECT_TRUE(message->recovered);
  EXPECT_TRUE(message->was_recovering);
  ASSERT_EQ(message->publications.size(), 2u);
  EXPECT_EQ(message->publications[0].data, R"({"t":"a"})");
  EXPECT_EQ(message->publications[0].offset, 8u);
  EXPECT_EQ(message->publications[1].data, "[1, 2 ,3]");
  EXPECT_EQ(message->publications[1].offset, 9u);
}

TEST(ServerMessageParserTest, PublicationPushKeepsDataAsReceived) {
  ServerMessageParser parser;
  const std::string data = R"({ "text" : "a}b\"c]" , "n":[1,{"x":null}], "u":"\u00e9" })";
  absl::StatusOr<ServerMessage> message =
      parser.Parse(R"({"push":{"channel":"news","pub":{"data":)" + data + R"(,"offset":7}}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kPush);
  EXPECT_EQ(message->push_type, ServerMessage::PushType::kPublication);
  EXPECT_EQ(message->channel, "news");
  ASSERT_EQ(message->publications.size(), 1u);
  EXPECT_EQ(message->publications[0].data, data);
  EXPECT_EQ(message->publications[0].offset, 7u);
}

TEST(ServerMessageParserTest, ScalarDataAndNoOffset) {
  ServerMessageParser parser;
  for (std::string data : {"42", "-1.5e10", "true", "null", R"("a \"quoted\" string")"}) {
    absl::StatusOr<ServerMessage> message =
        parser.Parse(R"({"push":{"pub":{"data":)" + data + R"( },"channel":"c"}})");
    ASSERT_TRUE(message.ok()) << data << ": " << message.status();
    ASSERT_EQ(message->publications.size(), 1u);
    EXPECT_EQ(message->publications[0].data, data);
    EXPECT_FALSE(message->publications[0].offset.has_value());
    EXPECT_EQ(message->channel, "c");
  }
}

TEST(ServerMessageParserTest, UnsubscribeAndDisconnectPushes) {
  ServerMessageParser parser;
  absl::StatusOr<ServerMessage> message = parser.Parse(
      R"({"push":{"channel":"news","unsubscribe":{"code":2000,"reason":"server unsubscribe"}}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->push_type, ServerMessage::PushType::kUnsubscribe);
  EXPECT_EQ(message->code, 2000u);
  EXPECT_EQ(message->reason, "server unsubscribe");

  message = parser.Parse(
      R"({"push":{"disconnect":{"code":3503,"reason":"force disconnect","reconnect":false}}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->push_type, ServerMessage::PushType::kDisconnect);
  EXPECT_EQ(message->code, 3503u);
  EXPECT_EQ(message->reason, "force disconnect");

  message = parser.Parse(R"({"push":{"channel":"news","join":{"info":{"user":"u"}}}})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->kind, ServerMessage::Kind::kPush);
  EXPECT_EQ(message->push_type, ServerMessage::PushType::kOther);
}

TEST(ServerMessageParserTest, MalformedMessages) {
  ServerMessageParser parser;
  for (const char* bad :
       {"", "[]", "{", "nope", R"({"id":"1"})", R"({"id":-1})", R"({"error":{"code":"x"}})",
        R"({"push":{"pub":{"offset":1}}})", R"({"push":{"pub":{"data":{"a":1}})", R"({"push":[]})",
        R"({"id":2,"subscribe":{"publications":{}}})", R"({} {})"}) {
    absl::StatusOr<ServerMessage> message = parser.Parse(bad);
    EXPECT_EQ(message.status().code(), absl::StatusCode::kDataLoss) << bad;
  }
}

}  // namespace
}  // namespace wirehub::ctl

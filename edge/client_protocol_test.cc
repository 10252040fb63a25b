#include "edge/client_protocol.h"

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// Parses `message` and expects it to fail with InvalidArgument.
void ExpectParseError(std::string_view message) {
  CommandParser parser;
  std::vector<Command> commands;
  absl::Status status = parser.Parse(message, &commands);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "message: " << message;
}

// Parses `message`, expecting exactly one command.
Command ParseOne(std::string_view message) {
  CommandParser parser;
  std::vector<Command> commands;
  absl::Status status = parser.Parse(message, &commands);
  EXPECT_TRUE(status.ok()) << "message: " << message << " status: " << status.ToString();
  EXPECT_THAT(commands, SizeIs(1)) << "message: " << message;
  if (commands.size() != 1) return Command{};
  return commands[0];
}

// Parses `json` with simdjson and returns true if it is one valid document.
bool IsValidJson(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(json).get(root) == simdjson::SUCCESS;
}

// ---------------------------------------------------------------------------
// CommandParser: well-formed commands.

TEST(CommandParserTest, ConnectWithToken) {
  Command command = ParseOne(R"({"id":1,"connect":{"token":"abc.def.ghi","name":"js"}})");
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_EQ(command.id, 1u);
  EXPECT_EQ(command.method, "connect");
  EXPECT_EQ(command.token, "abc.def.ghi");
  EXPECT_TRUE(command.has_token);
}

TEST(CommandParserTest, ConnectWithoutTokenHasNoToken) {
  Command command = ParseOne(R"({"id":1,"connect":{}})");
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_FALSE(command.has_token);
  EXPECT_EQ(command.token, "");
}

TEST(CommandParserTest, ConnectWithEmptyTokenHasNoToken) {
  Command command = ParseOne(R"({"id":1,"connect":{"token":""}})");
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_FALSE(command.has_token);
}

TEST(CommandParserTest, SubscribeChannel) {
  Command command = ParseOne(R"({"id":2,"subscribe":{"channel":"news:sport"}})");
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.id, 2u);
  EXPECT_EQ(command.method, "subscribe");
  EXPECT_EQ(command.channel, "news:sport");
}

TEST(CommandParserTest, UnsubscribeChannel) {
  Command command = ParseOne(R"({"id":3,"unsubscribe":{"channel":"chat"}})");
  EXPECT_EQ(command.kind, Command::Kind::kUnsubscribe);
  EXPECT_EQ(command.id, 3u);
  EXPECT_EQ(command.method, "unsubscribe");
  EXPECT_EQ(command.channel, "chat");
}

TEST(CommandParserTest, IdMayFollowMethod) {
  Command command = ParseOne(R"({"subscribe":{"channel":"chat"},"id":7})");
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.id, 7u);
  EXPECT_EQ(command.channel, "chat");
}

TEST(CommandParserTest, Ping) {
  Command command = ParseOne(R"({"id":4,"ping":{}})");
  EXPECT_EQ(command.kind, Command::Kind::kPing);
  EXPECT_EQ(command.id, 4u);
}

TEST(CommandParserTest, EmptyObjectIsPong) {
  Command command = ParseOne("{}");
  EXPECT_EQ(command.kind, Command::Kind::kPong);
  EXPECT_EQ(command.id, 0u);
}

TEST(CommandParserTest, MaxUint32IdAccepted) {
  Command command = ParseOne(R"({"id":4294967295,"ping":{}})");
  EXPECT_EQ(command.kind, Command::Kind::kPing);
  EXPECT_EQ(command.id, UINT32_MAX);
}

TEST(CommandParserTest, SeveralNewlineSeparatedCommands) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser
                  .Parse("{\"id\":1,\"connect\":{\"token\":\"t\"}}\n"
                         "{\"id\":2,\"subscribe\":{\"channel\":\"a\"}}\n"
                         "{}",
                         &commands)
                  .ok());
  ASSERT_THAT(commands, SizeIs(3));
  EXPECT_EQ(commands[0].kind, Command::Kind::kConnect);
  EXPECT_EQ(commands[0].id, 1u);
  EXPECT_EQ(commands[0].token, "t");
  EXPECT_EQ(commands[1].kind, Command::Kind::kSubscribe);
  EXPECT_EQ(commands[1].id, 2u);
  EXPECT_EQ(commands[1].channel, "a");
  EXPECT_EQ(commands[2].kind, Command::Kind::kPong);
}

TEST(CommandParserTest, TrailingNewlineAndBlankLinesAreSkipped) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser
                  .Parse("{\"id\":1,\"subscribe\":{\"channel\":\"a\"}}\n\n"
                         "{\"id\":2,\"unsubscribe\":{\"channel\":\"b\"}}\n",
                         &commands)
                  .ok());
  ASSERT_THAT(commands, SizeIs(2));
  EXPECT_EQ(commands[0].kind, Command::Kind::kSubscribe);
  EXPECT_EQ(commands[0].channel, "a");
  EXPECT_EQ(commands[1].kind, Command::Kind::kUnsubscribe);
  EXPECT_EQ(commands[1].channel, "b");
}

TEST(CommandParserTest, CarriageReturnLineEndingsTolerated) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser.Parse("{\"id\":1,\"ping\":{}}\r\n{}\r\n", &commands).ok());
  ASSERT_THAT(commands, SizeIs(2));
  EXPECT_EQ(commands[0].kind, Command::Kind::kPing);
  EXPECT_EQ(commands[1].kind, Command::Kind::kPong);
}

TEST(CommandParserTest, ParseReplacesPreviousCommands) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser.Parse("{}\n{}", &commands).ok());
  ASSERT_THAT(commands, SizeIs(2));
  ASSERT_TRUE(parser.Parse(R"({"id":9,"ping":{}})", &commands).ok());
  ASSERT_THAT(commands, SizeIs(1));
  EXPECT_EQ(commands[0].id, 9u);
}

TEST(CommandParserTest, ParserIsReusableAfterError) {
  CommandParser parser;
  std::vector<Command> commands;
  EXPECT_FALSE(parser.Parse("{not json", &commands).ok());
  ASSERT_TRUE(parser.Parse(R"({"id":5,"subscribe":{"channel":"x"}})", &commands).ok());
  ASSERT_THAT(commands, SizeIs(1));
  EXPECT_EQ(commands[0].channel, "x");
}

// ---------------------------------------------------------------------------
// CommandParser: whole-message errors (connection closed with 3501).

TEST(CommandParserTest, MalformedJsonIsError) {
  CommandParser parser;
  std::vector<Command> commands;
  absl::Status status = parser.Parse(R"({"id":1,"connect":)", &commands);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ExpectParseError("{");
  ExpectParseError("not json");
  ExpectParseError(R"({"id":1} trailing)");
}

TEST(CommandParserTest, MalformedLineAmongGoodOnesFailsTheMessage) {
  ExpectParseError("{}\n{oops}\n{}");
}

TEST(CommandParserTest, NonObjectRootsAreErrors) {
  ExpectParseError("[]");
  ExpectParseError(R"([{"id":1,"ping":{}}])");
  ExpectParseError(R"("connect")");
  ExpectParseError("42");
  ExpectParseError("null");
  ExpectParseError("true");
}

TEST(CommandParserTest, NegativeIdIsError) { ExpectParseError(R"({"id":-1,"ping":{}})"); }

TEST(CommandParserTest, IdAboveUint32IsError) {
  ExpectParseError(R"({"id":4294967296,"ping":{}})");
  ExpectParseError(R"({"id":18446744073709551615,"ping":{}})");
}

TEST(CommandParserTest, NonIntegerIdIsError) {
  ExpectParseError(R"({"id":"1","ping":{}})");
  ExpectParseError(R"({"id":1.5,"ping":{}})");
  ExpectParseError(R"({"id":null,"ping":{}})");
}

TEST(CommandParserTest, TwoMethodsInOneCommandIsError) {
  ExpectParseError(R"({"id":1,"subscribe":{"channel":"a"},"unsubscribe":{"channel":"a"}})");
  ExpectParseError(R"({"id":1,"ping":{},"publish":{"channel":"a","data":{}}})");
}

TEST(CommandParserTest, UnknownKeyWithoutIdIsError) {
  CommandParser parser;
  std::vector<Command> commands;
  absl::Status status = parser.Parse(R"({"frobnicate":{}})", &commands);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("frobnicate"));
}

TEST(CommandParserTest, EmptyMessageIsError) { ExpectParseError(""); }

TEST(CommandParserTest, OnlyNewlinesIsError) {
  ExpectParseError("\n");
  ExpectParseError("\n\n\n");
  ExpectParseError("\r\n \n");
}

TEST(CommandParserTest, ErrorLeavesNoCommands) {
  CommandParser parser;
  std::vector<Command> commands;
  EXPECT_FALSE(parser.Parse("", &commands).ok());
  EXPECT_THAT(commands, IsEmpty());
}

// ---------------------------------------------------------------------------
// CommandParser: per-command outcomes.

TEST(CommandParserTest, UnknownKeyWithIdIsUnknown) {
  Command command = ParseOne(R"({"id":12,"frobnicate":{}})");
  EXPECT_EQ(command.kind, Command::Kind::kUnknown);
  EXPECT_EQ(command.id, 12u);
  EXPECT_EQ(command.method, "frobnicate");
}

TEST(CommandParserTest, IdWithoutMethodIsUnknown) {
  Command command = ParseOne(R"({"id":12})");
  EXPECT_EQ(command.kind, Command::Kind::kUnknown);
  EXPECT_EQ(command.id, 12u);
}

TEST(CommandParserTest, UnknownKeyBesideKnownMethodIsIgnored) {
  Command command = ParseOne(R"({"id":1,"subscribe":{"channel":"a"},"extra":true})");
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.channel, "a");
}

TEST(CommandParserTest, UnservedMethodsAreNotAvailable) {
  for (const char* method : {"send", "rpc"}) {
    SCOPED_TRACE(method);
    Command command = ParseOne(std::string(R"({"id":5,")") + method + R"(":{"channel":"a"}})");
    EXPECT_EQ(command.kind, Command::Kind::kNotAvailable);
    EXPECT_EQ(command.id, 5u);
    EXPECT_EQ(command.method, method);
  }
}

TEST(CommandParserTest, SubscribeWithoutChannelIsInvalidParams) {
  Command command = ParseOne(R"({"id":6,"subscribe":{}})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.id, 6u);
  EXPECT_EQ(command.method, "subscribe");
  EXPECT_THAT(command.problem, HasSubstr("channel"));
}

TEST(CommandParserTest, SubscribeWithNonStringChannelIsInvalidParams) {
  Command command = ParseOne(R"({"id":6,"subscribe":{"channel":42}})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.method, "subscribe");
  EXPECT_THAT(command.problem, HasSubstr("channel"));
  EXPECT_THAT(command.problem, HasSubstr("string"));
}

TEST(CommandParserTest, SubscribeRequestNotObjectIsInvalidParams) {
  Command command = ParseOne(R"({"id":6,"subscribe":"chat"})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_FALSE(command.problem.empty());
}

TEST(CommandParserTest, UnsubscribeWithoutChannelIsInvalidParams) {
  Command command = ParseOne(R"({"id":8,"unsubscribe":{"chan":"x"}})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.method, "unsubscribe");
  EXPECT_THAT(command.problem, HasSubstr("channel"));
}

TEST(CommandParserTest, ConnectWithNonStringTokenIsInvalidParams) {
  Command command = ParseOne(R"({"id":1,"connect":{"token":123}})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.id, 1u);
  EXPECT_EQ(command.method, "connect");
  EXPECT_THAT(command.problem, HasSubstr("token"));
}

TEST(CommandParserTest, ConnectRequestNotObjectIsInvalidParams) {
  Command command = ParseOne(R"({"id":1,"connect":[]})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_FALSE(command.problem.empty());
}

TEST(CommandParserTest, InvalidParamsDoesNotFailOtherCommands) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser
                  .Parse("{\"id\":1,\"subscribe\":{}}\n"
                         "{\"id\":2,\"subscribe\":{\"channel\":\"ok\"}}",
                         &commands)
                  .ok());
  ASSERT_THAT(commands, SizeIs(2));
  EXPECT_EQ(commands[0].kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(commands[1].kind, Command::Kind::kSubscribe);
  EXPECT_EQ(commands[1].channel, "ok");
}

// ---------------------------------------------------------------------------
// Encoders.

TEST(EncodeTest, ConnectReply) {
  std::string reply = EncodeConnectReply(1, "client-1", "0.1.0", 25, false);
  EXPECT_EQ(reply, R"({"id":1,"connect":{"client":"client-1","version":"0.1.0","ping":25}})");
  EXPECT_TRUE(IsValidJson(reply));
}

TEST(EncodeTest, ConnectReplyWithPong) {
  std::string reply = EncodeConnectReply(7, "c", "v", 10, true);
  EXPECT_EQ(reply, R"({"id":7,"connect":{"client":"c","version":"v","ping":10,"pong":true}})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(reply).get(root), simdjson::SUCCESS);
  bool pong = false;
  ASSERT_EQ(root["connect"]["pong"].get(pong), simdjson::SUCCESS);
  EXPECT_TRUE(pong);
  uint64_t id = 0;
  ASSERT_EQ(root["id"].get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, 7u);
}

TEST(EncodeTest, ConnectReplyEscapesStrings) {
  std::string reply = EncodeConnectReply(1, "a\"b", "v\\1", 25, false);
  ASSERT_TRUE(IsValidJson(reply)) << reply;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(reply).get(root), simdjson::SUCCESS);
  std::string_view client;
  ASSERT_EQ(root["connect"]["client"].get(client), simdjson::SUCCESS);
  EXPECT_EQ(client, "a\"b");
  std::string_view version;
  ASSERT_EQ(root["connect"]["version"].get(version), simdjson::SUCCESS);
  EXPECT_EQ(version, "v\\1");
}

TEST(EncodeTest, EmptyResult) {
  EXPECT_EQ(EncodeEmptyResult(3, "subscribe"), R"({"id":3,"subscribe":{}})");
  EXPECT_EQ(EncodeEmptyResult(4294967295u, "ping"), R"({"id":4294967295,"ping":{}})");
  EXPECT_TRUE(IsValidJson(EncodeEmptyResult(3, "unsubscribe")));
}

TEST(EncodeTest, ErrorReplyNotTemporary) {
  std::string reply = EncodeErrorReply(5, kErrorBadRequest, "bad request", false);
  EXPECT_EQ(reply, R"({"id":5,"error":{"code":107,"message":"bad request"}})");
  EXPECT_TRUE(IsValidJson(reply));
}

TEST(EncodeTest, ErrorReplyTemporary) {
  std::string reply = EncodeErrorReply(6, kErrorInternal, "internal", true);
  EXPECT_EQ(reply, R"({"id":6,"error":{"code":100,"message":"internal","temporary":true}})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(reply).get(root), simdjson::SUCCESS);
  bool temporary = false;
  ASSERT_EQ(root["error"]["temporary"].get(temporary), simdjson::SUCCESS);
  EXPECT_TRUE(temporary);
}

TEST(EncodeTest, ErrorReplyEscapesMessage) {
  std::string reply = EncodeErrorReply(1, kErrorPermissionDenied, "no \"x\"\n", false);
  EXPECT_EQ(reply, R"({"id":1,"error":{"code":103,"message":"no \"x\"\n"}})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(reply).get(root), simdjson::SUCCESS);
  std::string_view message;
  ASSERT_EQ(root["error"]["message"].get(message), simdjson::SUCCESS);
  EXPECT_EQ(message, "no \"x\"\n");
}

TEST(EncodeTest, PublicationPushEmbedsDataUnquoted) {
  std::string push = EncodePublicationPush("news", R"({"text":"hi","n":[1,2]})", 42);
  EXPECT_EQ(push,
            R"({"push":{"channel":"news","pub":{"data":{"text":"hi","n":[1,2]},"offset":42}}})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(push).get(root), simdjson::SUCCESS);
  simdjson::dom::object data;
  ASSERT_EQ(root["push"]["pub"]["data"].get(data), simdjson::SUCCESS);
  std::string_view text;
  ASSERT_EQ(data["text"].get(text), simdjson::SUCCESS);
  EXPECT_EQ(text, "hi");
  uint64_t offset = 0;
  ASSERT_EQ(root["push"]["pub"]["offset"].get(offset), simdjson::SUCCESS);
  EXPECT_EQ(offset, 42u);
}

TEST(EncodeTest, PublicationPushScalarDataAndLargeOffset) {
  std::string push = EncodePublicationPush("a:b", "\"str\"", UINT64_MAX);
  EXPECT_EQ(push,
            R"({"push":{"channel":"a:b","pub":{"data":"str","offset":18446744073709551615}}})");
  EXPECT_TRUE(IsValidJson(push));
}

TEST(EncodeTest, UnsubscribePush) {
  std::string push = EncodeUnsubscribePush("chat", 2500, "server \"unsubscribe\"");
  EXPECT_EQ(push, R"({"push":{"channel":"chat","unsubscribe":)"
                  R"({"code":2500,"reason":"server \"unsubscribe\""}}})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(push).get(root), simdjson::SUCCESS);
  int64_t code = 0;
  ASSERT_EQ(root["push"]["unsubscribe"]["code"].get(code), simdjson::SUCCESS);
  EXPECT_EQ(code, 2500);
  std::string_view reason;
  ASSERT_EQ(root["push"]["unsubscribe"]["reason"].get(reason), simdjson::SUCCESS);
  EXPECT_EQ(reason, "server \"unsubscribe\"");
}

TEST(AppendJsonStringTest, PlainText) {
  std::string out;
  AppendJsonString("hello", &out);
  EXPECT_EQ(out, "\"hello\"");
}

TEST(AppendJsonStringTest, EmptyText) {
  std::string out;
  AppendJsonString("", &out);
  EXPECT_EQ(out, "\"\"");
}

TEST(AppendJsonStringTest, AppendsToExistingContent) {
  std::string out = "prefix:";
  AppendJsonString("x", &out);
  EXPECT_EQ(out, "prefix:\"x\"");
}

TEST(AppendJsonStringTest, EscapesQuotesAndBackslashes) {
  std::string out;
  AppendJsonString(R"(a"b\c)", &out);
  EXPECT_EQ(out, R"("a\"b\\c")");
}

TEST(AppendJsonStringTest, EscapesNamedControlCharacters) {
  std::string out;
  AppendJsonString("a\nb\rc\td", &out);
  EXPECT_EQ(out, R"("a\nb\rc\td")");
}

TEST(AppendJsonStringTest, EscapesOtherControlCharactersAsUnicode) {
  std::string out;
  AppendJsonString(std::string_view("\x01x\x1f\0", 4), &out);
  EXPECT_EQ(out, R"("\u0001x\u001f\u0000")");
}

TEST(AppendJsonStringTest, PassesUtf8Through) {
  std::string out;
  AppendJsonString("caf\xc3\xa9", &out);
  EXPECT_EQ(out, "\"caf\xc3\xa9\"");
}

TEST(AppendJsonStringTest, OutputRoundTripsThroughJsonParser) {
  std::string text("quote\" backslash\\ nl\n cr\r tab\t ctl\x01\x02\x1f del\x7f end");
  text.push_back('\0');
  std::string out;
  AppendJsonString(text, &out);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(out).get(root), simdjson::SUCCESS) << out;
  std::string_view decoded;
  ASSERT_EQ(root.get(decoded), simdjson::SUCCESS);
  EXPECT_EQ(decoded, text);
}

}  // namespace
}  // namespace wirehub::edge

namespace wirehub::edge {
namespace {

TEST(CommandParserRecoveryTest, ReadsRecoverEpochAndOffset) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser
                  .Parse(R"({"id":2,"subscribe":{"channel":"chat:1","recover":true,)"
                         R"("epoch":"ab","offset":7}})",
                         &commands)
                  .ok());
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].kind, Command::Kind::kSubscribe);
  EXPECT_TRUE(commands[0].recover);
  EXPECT_EQ(commands[0].epoch, "ab");
  EXPECT_EQ(commands[0].offset, 7u);
}

TEST(CommandParserRecoveryTest, MistypedRecoveryFieldsAreInvalidParams) {
  CommandParser parser;
  std::vector<Command> commands;
  for (const char* message : {R"({"id":2,"subscribe":{"channel":"c","recover":"yes"}})",
                              R"({"id":2,"subscribe":{"channel":"c","epoch":5}})",
                              R"({"id":2,"subscribe":{"channel":"c","offset":-1}})"}) {
    ASSERT_TRUE(parser.Parse(message, &commands).ok()) << message;
    EXPECT_EQ(commands[0].kind, Command::Kind::kInvalidParams) << message;
  }
}

TEST(EncodeSubscribeReplyTest, CarriesPositionAndRecoveredPublications) {
  SubscribeResult result;
  result.recoverable = true;
  result.epoch = "e1";
  result.offset = 9;
  result.was_recovering = true;
  result.recovered = true;
  result.publications = {{8, R"({"t":"a"})"}, {9, R"({"t":"b"})"}};
  EXPECT_EQ(
      EncodeSubscribeReply(2, result),
      R"({"id":2,"subscribe":{"recoverable":true,"epoch":"e1","offset":9,"positioned":true,)"
      R"("was_recovering":true,"recovered":true,"publications":[{"data":{"t":"a"},"offset":8},)"
      R"({"data":{"t":"b"},"offset":9}]}})");
}

TEST(EncodeSubscribeReplyTest, PositionOnly) {
  SubscribeResult result;
  result.epoch = "e1";
  result.offset = 0;
  EXPECT_EQ(EncodeSubscribeReply(3, result),
            R"({"id":3,"subscribe":{"epoch":"e1","offset":0,"positioned":true}})");
}

}  // namespace
}  // namespace wirehub::edge

namespace wirehub::edge {
namespace {

TEST(CommandParserHistoryTest, ReadsLimitReverseAndSince) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser
                  .Parse(R"({"id":4,"history":{"channel":"chat:1","limit":10,"reverse":true,)"
                         R"("since":{"offset":3,"epoch":"e"}}})",
                         &commands)
                  .ok());
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0].kind, Command::Kind::kHistory);
  EXPECT_EQ(commands[0].limit, 10);
  EXPECT_TRUE(commands[0].reverse);
  EXPECT_TRUE(commands[0].has_since);
  EXPECT_EQ(commands[0].offset, 3u);
  EXPECT_EQ(commands[0].epoch, "e");
}

TEST(CommandParserHistoryTest, BadSinceIsInvalidParams) {
  CommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(
      parser.Parse(R"({"id":4,"history":{"channel":"c","since":{"offset":"x"}}})", &commands).ok());
  EXPECT_EQ(commands[0].kind, Command::Kind::kInvalidParams);
}

TEST(EncodeHistoryReplyTest, EmbedsDataAndPosition) {
  EXPECT_EQ(EncodeHistoryReply(4, {{2, R"({"a":1})"}}, "e", 2),
            R"({"id":4,"history":{"publications":[{"data":{"a":1},"offset":2}],"epoch":"e",)"
            R"("offset":2}})");
}

}  // namespace
}  // namespace wirehub::edge

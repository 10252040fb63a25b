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

TEST(EncodeSubscribeReplyTest, WithoutStreamIsEmptyOrExpiry) {
  SubscribeResult result;
  EXPECT_EQ(EncodeSubscribeReply(3, result), R"({"id":3,"subscribe":{}})");
  result.expires = true;
  result.ttl = 30;
  EXPECT_EQ(EncodeSubscribeReply(3, result), R"({"id":3,"subscribe":{"expires":true,"ttl":30}})");
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

namespace wirehub::edge {
namespace {

// Expects `message` to parse into one kInvalidParams command for `method`
// whose problem mentions `problem`.
void ExpectInvalidParams(std::string_view message, std::string_view method,
                         std::string_view problem) {
  Command command = ParseOne(message);
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams) << message;
  EXPECT_EQ(command.method, method) << message;
  EXPECT_THAT(command.problem, HasSubstr(std::string(problem))) << message;
}

// ---------------------------------------------------------------------------
// CommandParser: subscribe.token and connect.subs.

TEST(CommandParserSubscribeTokenTest, ReadsToken) {
  Command command = ParseOne(R"({"id":2,"subscribe":{"channel":"c","token":"t.o.k"}})");
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.token, "t.o.k");
  EXPECT_TRUE(command.has_token);
}

TEST(CommandParserSubscribeTokenTest, AbsentOrEmptyTokenIsNoToken) {
  for (const char* message : {R"({"id":2,"subscribe":{"channel":"c"}})",
                              R"({"id":2,"subscribe":{"channel":"c","token":""}})"}) {
    Command command = ParseOne(message);
    EXPECT_EQ(command.kind, Command::Kind::kSubscribe) << message;
    EXPECT_FALSE(command.has_token) << message;
  }
}

TEST(CommandParserSubscribeTokenTest, NonStringTokenIsInvalidParams) {
  ExpectInvalidParams(R"({"id":2,"subscribe":{"channel":"c","token":1}})", "subscribe", "token");
}

TEST(CommandParserSubscribeTokenTest, SdkExtraFieldsAreIgnored) {
  Command command =
      ParseOne(R"({"id":3,"subscribe":{"channel":"c","data":{"x":1},"positioned":true,)"
               R"("recoverable":true,"join_leave":true}})");
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.channel, "c");
}

TEST(CommandParserConnectSubsTest, ReadsSubsInOrder) {
  Command command =
      ParseOne(R"({"id":1,"connect":{"token":"t","name":"js","version":"5.0.0","data":{"a":1},)"
               R"("subs":{"chat:1":{"recover":true,"epoch":"e","offset":7},"news":{}}}})");
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_EQ(command.token, "t");
  ASSERT_THAT(command.subs, SizeIs(2));
  EXPECT_EQ(command.subs[0].channel, "chat:1");
  EXPECT_TRUE(command.subs[0].recover);
  EXPECT_EQ(command.subs[0].epoch, "e");
  EXPECT_EQ(command.subs[0].offset, 7u);
  EXPECT_EQ(command.subs[1].channel, "news");
  EXPECT_FALSE(command.subs[1].recover);
  EXPECT_EQ(command.subs[1].epoch, "");
  EXPECT_EQ(command.subs[1].offset, 0u);
}

TEST(CommandParserConnectSubsTest, NoSubsIsEmpty) {
  EXPECT_THAT(ParseOne(R"({"id":1,"connect":{}})").subs, IsEmpty());
  EXPECT_THAT(ParseOne(R"({"id":1,"connect":{"subs":{}}})").subs, IsEmpty());
}

TEST(CommandParserConnectSubsTest, WrongTypesAreInvalidParams) {
  ExpectInvalidParams(R"({"id":1,"connect":{"subs":[]}})", "connect", "subs");
  ExpectInvalidParams(R"({"id":1,"connect":{"subs":{"c":true}}})", "connect", "subs[c]");
  ExpectInvalidParams(R"({"id":1,"connect":{"subs":{"c":{"recover":1}}}})", "connect",
                      "subs[c].recover must be a boolean");
  ExpectInvalidParams(R"({"id":1,"connect":{"subs":{"c":{"epoch":1}}}})", "connect",
                      "subs[c].epoch must be a string");
  ExpectInvalidParams(R"({"id":1,"connect":{"subs":{"c":{"offset":-1}}}})", "connect",
                      "subs[c].offset must be an unsigned integer");
  ExpectInvalidParams(R"({"id":1,"connect":{"subs":{"c":{"offset":"1"}}}})", "connect",
                      "subs[c].offset");
  // A bad entry after good ones leaves no partial list behind.
  Command command = ParseOne(R"({"id":1,"connect":{"subs":{"a":{},"b":{"recover":"yes"}}}})");
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_THAT(command.subs, IsEmpty());
}

// Builds a connect command whose subs map has `count` entries.
std::string ConnectWithSubs(size_t count) {
  std::string message = R"({"id":1,"connect":{"subs":{)";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) message.push_back(',');
    message += "\"c" + std::to_string(i) + "\":{}";
  }
  message += "}}}";
  return message;
}

TEST(CommandParserConnectSubsTest, AtMost128Subs) {
  Command command = ParseOne(ConnectWithSubs(kMaxConnectSubs));
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_THAT(command.subs, SizeIs(kMaxConnectSubs));
  ExpectInvalidParams(ConnectWithSubs(kMaxConnectSubs + 1), "connect", "too many subs");
}

// ---------------------------------------------------------------------------
// CommandParser: publish, presence, presence_stats, refresh, sub_refresh.

TEST(CommandParserPublishTest, ReadsChannelAndMinifiedData) {
  Command command =
      ParseOne(R"({"id":7,"publish":{"channel":"chat:1","data":{ "t" : "a\"b", "n" : [1, 2] }}})");
  EXPECT_EQ(command.kind, Command::Kind::kPublish);
  EXPECT_EQ(command.id, 7u);
  EXPECT_EQ(command.method, "publish");
  EXPECT_EQ(command.channel, "chat:1");
  EXPECT_EQ(command.data_json, R"({"t":"a\"b","n":[1,2]})");
}

TEST(CommandParserPublishTest, AnyJsonValueIsData) {
  EXPECT_EQ(ParseOne(R"({"id":7,"publish":{"channel":"c","data":"s"}})").data_json, R"("s")");
  EXPECT_EQ(ParseOne(R"({"id":7,"publish":{"channel":"c","data":12}})").data_json, "12");
  EXPECT_EQ(ParseOne(R"({"id":7,"publish":{"channel":"c","data":null}})").data_json, "null");
  EXPECT_EQ(ParseOne(R"({"id":7,"publish":{"channel":"c","data":[]}})").data_json, "[]");
}

TEST(CommandParserPublishTest, MissingOrMistypedFieldsAreInvalidParams) {
  ExpectInvalidParams(R"({"id":7,"publish":{"channel":"c"}})", "publish", "data is required");
  ExpectInvalidParams(R"({"id":7,"publish":{"data":{}}})", "publish", "channel is required");
  ExpectInvalidParams(R"({"id":7,"publish":{"channel":5,"data":{}}})", "publish",
                      "channel must be a string");
  ExpectInvalidParams(R"({"id":7,"publish":"c"})", "publish", "not an object");
}

TEST(CommandParserPresenceTest, ReadsChannel) {
  Command presence = ParseOne(R"({"id":8,"presence":{"channel":"room"}})");
  EXPECT_EQ(presence.kind, Command::Kind::kPresence);
  EXPECT_EQ(presence.method, "presence");
  EXPECT_EQ(presence.channel, "room");
  Command stats = ParseOne(R"({"id":9,"presence_stats":{"channel":"room"}})");
  EXPECT_EQ(stats.kind, Command::Kind::kPresenceStats);
  EXPECT_EQ(stats.method, "presence_stats");
  EXPECT_EQ(stats.channel, "room");
}

TEST(CommandParserPresenceTest, MissingOrMistypedChannelIsInvalidParams) {
  ExpectInvalidParams(R"({"id":8,"presence":{}})", "presence", "channel is required");
  ExpectInvalidParams(R"({"id":8,"presence":{"channel":[]}})", "presence",
                      "channel must be a string");
  ExpectInvalidParams(R"({"id":9,"presence_stats":{}})", "presence_stats", "channel is required");
  ExpectInvalidParams(R"({"id":9,"presence_stats":{"channel":false}})", "presence_stats",
                      "channel must be a string");
}

TEST(CommandParserRefreshTest, ReadsToken) {
  Command command = ParseOne(R"({"id":10,"refresh":{"token":"new.jwt.x"}})");
  EXPECT_EQ(command.kind, Command::Kind::kRefresh);
  EXPECT_EQ(command.method, "refresh");
  EXPECT_EQ(command.token, "new.jwt.x");
  EXPECT_TRUE(command.has_token);
}

TEST(CommandParserRefreshTest, MissingEmptyOrMistypedTokenIsInvalidParams) {
  ExpectInvalidParams(R"({"id":10,"refresh":{}})", "refresh", "token is required");
  ExpectInvalidParams(R"({"id":10,"refresh":{"token":""}})", "refresh", "token is required");
  ExpectInvalidParams(R"({"id":10,"refresh":{"token":1}})", "refresh", "token must be a string");
}

TEST(CommandParserSubRefreshTest, ReadsChannelAndToken) {
  Command command = ParseOne(R"({"id":11,"sub_refresh":{"channel":"c","token":"s.u.b"}})");
  EXPECT_EQ(command.kind, Command::Kind::kSubRefresh);
  EXPECT_EQ(command.method, "sub_refresh");
  EXPECT_EQ(command.channel, "c");
  EXPECT_EQ(command.token, "s.u.b");
  EXPECT_TRUE(command.has_token);
}

TEST(CommandParserSubRefreshTest, MissingOrMistypedFieldsAreInvalidParams) {
  ExpectInvalidParams(R"({"id":11,"sub_refresh":{"token":"t"}})", "sub_refresh",
                      "channel is required");
  ExpectInvalidParams(R"({"id":11,"sub_refresh":{"channel":"c"}})", "sub_refresh",
                      "token is required");
  ExpectInvalidParams(R"({"id":11,"sub_refresh":{"channel":"c","token":""}})", "sub_refresh",
                      "token is required");
  ExpectInvalidParams(R"({"id":11,"sub_refresh":{"channel":1,"token":"t"}})", "sub_refresh",
                      "channel must be a string");
  ExpectInvalidParams(R"({"id":11,"sub_refresh":{"channel":"c","token":{}}})", "sub_refresh",
                      "token must be a string");
}

// ---------------------------------------------------------------------------
// Encoders added for presence, join/leave, expiry and server-side subs.

// Expects `json` to equal `expected` and to parse as one JSON document.
void ExpectJson(const std::string& json, std::string_view expected) {
  EXPECT_EQ(json, expected);
  EXPECT_TRUE(IsValidJson(json)) << json;
}

TEST(AppendClientInfoTest, UserAndClientOnly) {
  std::string out = "x";
  AppendClientInfo({"u1", "c1", "", ""}, &out);
  EXPECT_EQ(out, R"(x{"user":"u1","client":"c1"})");
}

TEST(AppendClientInfoTest, EmbedsRawInfoAndEscapesIds) {
  std::string out;
  AppendClientInfo({"u\"1\\", "c\n1", R"({"name":"Ann"})", R"(["mod"])"}, &out);
  ExpectJson(out,
             R"({"user":"u\"1\\","client":"c\n1","conn_info":{"name":"Ann"},"chan_info":["mod"]})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(out).get(root), simdjson::SUCCESS);
  std::string_view user;
  ASSERT_EQ(root["user"].get(user), simdjson::SUCCESS);
  EXPECT_EQ(user, "u\"1\\");
  std::string_view name;
  ASSERT_EQ(root["conn_info"]["name"].get(name), simdjson::SUCCESS);
  EXPECT_EQ(name, "Ann");
}

TEST(AppendClientInfoTest, ChanInfoWithoutConnInfo) {
  std::string out;
  AppendClientInfo({"", "c", "", "1"}, &out);
  ExpectJson(out, R"({"user":"","client":"c","chan_info":1})");
}

TEST(EncodePublicationPushTest, WithInfo) {
  ClientInfoView info{"u", "c", R"({"a":1})", ""};
  ExpectJson(EncodePublicationPush("chat", R"({"t":"x"})", 5, &info),
             R"({"push":{"channel":"chat","pub":{"data":{"t":"x"},"offset":5,)"
             R"("info":{"user":"u","client":"c","conn_info":{"a":1}}}}})");
}

TEST(EncodePublicationPushTest, NullInfoMatchesThreeArgumentForm) {
  EXPECT_EQ(EncodePublicationPush("chat", "[1]", 3, nullptr),
            EncodePublicationPush("chat", "[1]", 3));
  ExpectJson(EncodePublicationPush("ch\"", "[1]", 3, nullptr),
             R"({"push":{"channel":"ch\"","pub":{"data":[1],"offset":3}}})");
}

TEST(EncodeJoinLeavePushTest, JoinAndLeave) {
  ClientInfoView info{"user\"1", "client-1", "", R"({"role":"x"})"};
  ExpectJson(EncodeJoinPush("room", info),
             R"({"push":{"channel":"room","join":{"info":{"user":"user\"1","client":"client-1",)"
             R"("chan_info":{"role":"x"}}}}})");
  ExpectJson(EncodeLeavePush("room", info),
             R"({"push":{"channel":"room","leave":{"info":{"user":"user\"1","client":"client-1",)"
             R"("chan_info":{"role":"x"}}}}})");
}

TEST(EncodeSubscribePushTest, Positioned) {
  SubscribeResult result;
  result.recoverable = true;
  result.epoch = "e\"1";
  result.offset = 12;
  ExpectJson(EncodeSubscribePush("news", result),
             R"({"push":{"channel":"news","subscribe":{"recoverable":true,"epoch":"e\"1",)"
             R"("offset":12,"positioned":true}}})");
}

TEST(EncodeSubscribePushTest, OmitsUnsetFields) {
  SubscribeResult result;
  ExpectJson(EncodeSubscribePush("news", result), R"({"push":{"channel":"news","subscribe":{}}})");
  result.epoch = "e";
  ExpectJson(
      EncodeSubscribePush("news", result),
      R"({"push":{"channel":"news","subscribe":{"epoch":"e","offset":0,"positioned":true}}})");
}

TEST(EncodeSubscribeReplyTest, UnsetExpiryKeepsOutput) {
  SubscribeResult result;
  result.epoch = "e1";
  result.ttl = 99;  // Ignored without expires.
  ExpectJson(EncodeSubscribeReply(3, result),
             R"({"id":3,"subscribe":{"epoch":"e1","offset":0,"positioned":true}})");
}

TEST(EncodeSubscribeReplyTest, ExpiresAndPublicationInfo) {
  ClientInfoView info{"u", "c", "", ""};
  SubscribeResult result;
  result.expires = true;
  result.ttl = 60;
  result.epoch = "e";
  result.offset = 2;
  result.recovered = true;
  result.was_recovering = true;
  result.publications = {{1, "1", &info}, {2, "2"}};
  ExpectJson(EncodeSubscribeReply(4, result),
             R"({"id":4,"subscribe":{"expires":true,"ttl":60,"epoch":"e","offset":2,)"
             R"("positioned":true,"was_recovering":true,"recovered":true,"publications":[)"
             R"({"data":1,"offset":1,"info":{"user":"u","client":"c"}},{"data":2,"offset":2}]}})");
}

TEST(EncodeHistoryReplyTest, PublicationInfo) {
  ClientInfoView info{"u", "c\\", "", R"({"x":true})"};
  ExpectJson(EncodeHistoryReply(5, {{3, R"("a")", &info}}, "e", 3),
             R"({"id":5,"history":{"publications":[{"data":"a","offset":3,"info":{"user":"u",)"
             R"("client":"c\\","chan_info":{"x":true}}}],"epoch":"e","offset":3}})");
}

TEST(EncodeConnectReplyTest, StructFormMatchesFiveArgumentForm) {
  ConnectResult result;
  result.client = "c\"1";
  result.version = "0.1.0";
  ExpectJson(EncodeConnectReply(1, result),
             R"({"id":1,"connect":{"client":"c\"1","version":"0.1.0","ping":25,"pong":true}})");
  EXPECT_EQ(EncodeConnectReply(1, result), EncodeConnectReply(1, "c\"1", "0.1.0", 25, true));
  result.pong = false;
  result.ping_seconds = 10;
  EXPECT_EQ(EncodeConnectReply(1, result), EncodeConnectReply(1, "c\"1", "0.1.0", 10, false));
}

TEST(EncodeConnectReplyTest, ExpiresAndSubs) {
  ConnectResult result;
  result.client = "c";
  result.version = "v";
  result.expires = true;
  result.ttl = 300;
  SubscribeResult chat;
  chat.recoverable = true;
  chat.epoch = "e";
  chat.offset = 4;
  chat.was_recovering = true;
  chat.recovered = true;
  chat.publications = {{4, R"({"t":1})"}};
  SubscribeResult news;
  news.expires = true;
  news.ttl = 30;
  result.subs.emplace_back("chat:\"1\"", chat);
  result.subs.emplace_back("news", news);
  std::string reply = EncodeConnectReply(2, result);
  ExpectJson(
      reply,
      R"({"id":2,"connect":{"client":"c","version":"v","expires":true,"ttl":300,"subs":{)"
      R"("chat:\"1\"":{"recoverable":true,"epoch":"e","offset":4,"positioned":true,)"
      R"("was_recovering":true,"recovered":true,"publications":[{"data":{"t":1},"offset":4}]},)"
      R"("news":{"expires":true,"ttl":30}},)"
      R"("ping":25,"pong":true}})");
  // Each subs value is exactly the subscribe reply's "subscribe" value.
  std::string subscribe = EncodeSubscribeReply(9, chat);
  std::string value = subscribe.substr(std::string_view(R"({"id":9,"subscribe":)").size());
  value.pop_back();
  EXPECT_THAT(reply, HasSubstr(R"("chat:\"1\"":)" + value + ","));
}

TEST(EncodeRefreshReplyTest, WithAndWithoutExpiry) {
  ExpectJson(EncodeRefreshReply(6, "c\"", "0.1.0", true, 120),
             R"({"id":6,"refresh":{"client":"c\"","version":"0.1.0","expires":true,"ttl":120}})");
  ExpectJson(EncodeRefreshReply(6, "c", "0.1.0", false, 120),
             R"({"id":6,"refresh":{"client":"c","version":"0.1.0"}})");
}

TEST(EncodeSubRefreshReplyTest, WithAndWithoutExpiry) {
  ExpectJson(EncodeSubRefreshReply(7, true, 45),
             R"({"id":7,"sub_refresh":{"expires":true,"ttl":45}})");
  ExpectJson(EncodeSubRefreshReply(7, false, 45), R"({"id":7,"sub_refresh":{}})");
}

TEST(EncodePresenceReplyTest, KeyedByClient) {
  std::vector<ClientInfoView> clients = {{"u1", "c\"1", R"({"n":1})", ""},
                                         {"u2", "c2", "", R"("x")"}};
  std::string reply = EncodePresenceReply(8, clients);
  ExpectJson(reply, R"({"id":8,"presence":{"presence":{"c\"1":{"user":"u1","client":"c\"1",)"
                    R"("conn_info":{"n":1}},"c2":{"user":"u2","client":"c2","chan_info":"x"}}}})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(reply).get(root), simdjson::SUCCESS);
  std::string_view user;
  ASSERT_EQ(root["presence"]["presence"]["c\"1"]["user"].get(user), simdjson::SUCCESS);
  EXPECT_EQ(user, "u1");
}

TEST(EncodePresenceReplyTest, Empty) {
  ExpectJson(EncodePresenceReply(8, {}), R"({"id":8,"presence":{"presence":{}}})");
}

TEST(EncodePresenceStatsReplyTest, Counts) {
  ExpectJson(EncodePresenceStatsReply(9, 3, 2),
             R"({"id":9,"presence_stats":{"num_clients":3,"num_users":2}})");
  ExpectJson(EncodePresenceStatsReply(9, 0, 0),
             R"({"id":9,"presence_stats":{"num_clients":0,"num_users":0}})");
}

TEST(ProtocolCodesTest, Values) {
  EXPECT_EQ(kErrorTooManyRequests, 111);
  EXPECT_EQ(kCloseConnectionExpired, 3005);
  EXPECT_EQ(kCloseSubscriptionExpired, 3006);
  EXPECT_EQ(kCloseForceReconnect, 3011);
  EXPECT_EQ(kCloseForceDisconnect, 3503);
  EXPECT_EQ(kUnsubscribeServer, 2000);
  EXPECT_EQ(kUnsubscribeExpired, 2501);
}

}  // namespace
}  // namespace wirehub::edge

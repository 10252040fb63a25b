#include "edge/protobuf_codec.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "common/absl_compat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/client/v1/client.pb.h"

namespace wirehub::edge {
namespace {

namespace proto = ::wirehub::client::v1;

using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string Varint(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

// `body` preceded by its length, as the SDK frames each Command.
std::string Delimited(std::string_view body) { return Varint(body.size()) + std::string(body); }

std::string Delimited(const proto::Command& command) {
  return Delimited(command.SerializeAsString());
}

std::string FromHex(std::string_view hex) { return absl::HexStringToBytes(AsAbsl(hex)); }

// Parses `message` and expects it to fail with InvalidArgument, leaving no
// commands behind.
void ExpectParseError(std::string_view message) {
  ProtobufCommandParser parser;
  std::vector<Command> commands(1);
  absl::Status status = parser.Parse(message, &commands);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument)
      << "message: " << absl::BytesToHexString(AsAbsl(message));
  EXPECT_THAT(commands, IsEmpty());
}

// Parses `message`, expecting exactly one command.
Command ParseOne(std::string_view message) {
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  absl::Status status = parser.Parse(message, &commands);
  EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_THAT(commands, SizeIs(1));
  if (commands.size() != 1) return Command{};
  return commands[0];
}

Command ParseOne(const proto::Command& command) { return ParseOne(Delimited(command)); }

// ---------------------------------------------------------------------------
// ReadVarint.

TEST(ReadVarintTest, OneByte) {
  size_t pos = 0;
  uint64_t value = 99;
  ASSERT_TRUE(ReadVarint(std::string_view("\x00", 1), &pos, &value));
  EXPECT_EQ(value, 0u);
  EXPECT_EQ(pos, 1u);
}

TEST(ReadVarintTest, SeveralBytesFromAnOffset) {
  size_t pos = 1;
  uint64_t value = 0;
  ASSERT_TRUE(ReadVarint(FromHex("ffac02ff"), &pos, &value));
  EXPECT_EQ(value, 300u);
  EXPECT_EQ(pos, 3u);
}

TEST(ReadVarintTest, LargestValueTakesTenBytes) {
  size_t pos = 0;
  uint64_t value = 0;
  ASSERT_TRUE(ReadVarint(FromHex("ffffffffffffffffff01"), &pos, &value));
  EXPECT_EQ(value, UINT64_MAX);
  EXPECT_EQ(pos, 10u);
}

TEST(ReadVarintTest, RefusesTruncatedOverlongAndOverflowing) {
  for (std::string_view hex : {"", "80", "ffff", "ffffffffffffffffff8001", "ffffffffffffffffff02",
                               "80808080808080808080"}) {
    SCOPED_TRACE(hex);
    size_t pos = 0;
    uint64_t value = 7;
    EXPECT_FALSE(ReadVarint(FromHex(hex), &pos, &value));
    EXPECT_EQ(pos, 0u);
    EXPECT_EQ(value, 7u);
  }
}

// ---------------------------------------------------------------------------
// Bytes the SDK itself produced (centrifuge 5.8.0 ProtobufCodec.encodeCommands).

TEST(ProtobufCommandParserTest, SdkConnectThenPong) {
  // encodeCommands([{id: 1, connect: {token: 't', name: 'js'}}, {}])
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser
                  .Parse(FromHex("0b08012207"
                                 "0a0174"
                                 "22026a73"
                                 "00"),
                         &commands)
                  .ok());
  ASSERT_THAT(commands, SizeIs(2));
  EXPECT_EQ(commands[0].kind, Command::Kind::kConnect);
  EXPECT_EQ(commands[0].id, 1u);
  EXPECT_EQ(commands[0].method, "connect");
  EXPECT_EQ(commands[0].token, "t");
  EXPECT_TRUE(commands[0].has_token);
  EXPECT_EQ(commands[1].kind, Command::Kind::kPong);
  EXPECT_EQ(commands[1].id, 0u);
}

TEST(ProtobufCommandParserTest, SdkConnectWithSubs) {
  // encodeCommands([{id: 1, connect: {token: 't', name: 'js',
  //   subs: {a: {recover: true, offset: 5, epoch: 'e'}}}}, {}])
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(
      parser.Parse(FromHex("19080122150a01741a0c0a016112071801320165380522026a7300"), &commands)
          .ok());
  ASSERT_THAT(commands, SizeIs(2));
  ASSERT_THAT(commands[0].subs, SizeIs(1));
  EXPECT_EQ(commands[0].subs[0].channel, "a");
  EXPECT_TRUE(commands[0].subs[0].recover);
  EXPECT_EQ(commands[0].subs[0].epoch, "e");
  EXPECT_EQ(commands[0].subs[0].offset, 5u);
  EXPECT_EQ(commands[1].kind, Command::Kind::kPong);
}

// ---------------------------------------------------------------------------
// Each method.

TEST(ProtobufCommandParserTest, ConnectKeepsSubsInOrder) {
  proto::Command in;
  in.set_id(3);
  in.mutable_connect()->set_token("abc.def.ghi");
  for (const char* channel : {"z", "a", "m"}) {
    proto::ConnectSubEntry* entry = in.mutable_connect()->add_subs();
    entry->set_key(channel);
  }
  proto::SubscribeRequest* last = in.mutable_connect()->mutable_subs(2)->mutable_value();
  last->set_recover(true);
  last->set_epoch("ep");
  last->set_offset(UINT64_MAX);
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_EQ(command.id, 3u);
  EXPECT_EQ(command.token, "abc.def.ghi");
  EXPECT_TRUE(command.has_token);
  ASSERT_THAT(command.subs, SizeIs(3));
  EXPECT_EQ(command.subs[0].channel, "z");
  EXPECT_FALSE(command.subs[0].recover);
  EXPECT_EQ(command.subs[1].channel, "a");
  EXPECT_EQ(command.subs[2].channel, "m");
  EXPECT_TRUE(command.subs[2].recover);
  EXPECT_EQ(command.subs[2].epoch, "ep");
  EXPECT_EQ(command.subs[2].offset, UINT64_MAX);
}

TEST(ProtobufCommandParserTest, ConnectWithoutTokenHasNoToken) {
  proto::Command in;
  in.set_id(1);
  in.mutable_connect();
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kConnect);
  EXPECT_FALSE(command.has_token);
  EXPECT_THAT(command.subs, IsEmpty());
}

TEST(ProtobufCommandParserTest, TooManyConnectSubsIsInvalidParams) {
  proto::Command in;
  in.set_id(1);
  in.mutable_connect()->set_token("t");
  for (size_t i = 0; i <= kMaxConnectSubs; ++i) {
    in.mutable_connect()->add_subs()->set_key("c" + std::to_string(i));
  }
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.method, "connect");
  EXPECT_EQ(command.problem, "too many subs");
  EXPECT_THAT(command.subs, IsEmpty());
}

TEST(ProtobufCommandParserTest, SubscribeReadsPositionAndToken) {
  proto::Command in;
  in.set_id(2);
  proto::SubscribeRequest* subscribe = in.mutable_subscribe();
  subscribe->set_channel("chat:1");
  subscribe->set_token("sub.token");
  subscribe->set_recover(true);
  subscribe->set_epoch("xyz");
  subscribe->set_offset(18446744073709551000u);
  subscribe->set_data("ignored");
  subscribe->set_positioned(true);
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.id, 2u);
  EXPECT_EQ(command.method, "subscribe");
  EXPECT_EQ(command.channel, "chat:1");
  EXPECT_EQ(command.token, "sub.token");
  EXPECT_TRUE(command.has_token);
  EXPECT_TRUE(command.recover);
  EXPECT_EQ(command.epoch, "xyz");
  EXPECT_EQ(command.offset, 18446744073709551000u);
}

TEST(ProtobufCommandParserTest, SubscribeWithoutTokenOrPosition) {
  proto::Command in;
  in.set_id(2);
  in.mutable_subscribe()->set_channel("news");
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_FALSE(command.has_token);
  EXPECT_FALSE(command.recover);
  EXPECT_EQ(command.epoch, "");
  EXPECT_EQ(command.offset, 0u);
}

TEST(ProtobufCommandParserTest, ChannelOnlyMethods) {
  struct Case {
    Command::Kind kind;
    std::string method;
    proto::Command command;
  };
  std::vector<Case> cases(3);
  cases[0] = {Command::Kind::kUnsubscribe, "unsubscribe", {}};
  cases[0].command.mutable_unsubscribe()->set_channel("c1");
  cases[1] = {Command::Kind::kPresence, "presence", {}};
  cases[1].command.mutable_presence()->set_channel("c1");
  cases[2] = {Command::Kind::kPresenceStats, "presence_stats", {}};
  cases[2].command.mutable_presence_stats()->set_channel("c1");
  for (Case& c : cases) {
    SCOPED_TRACE(c.method);
    c.command.set_id(9);
    Command command = ParseOne(c.command);
    EXPECT_EQ(command.kind, c.kind);
    EXPECT_EQ(command.id, 9u);
    EXPECT_EQ(command.method, c.method);
    EXPECT_EQ(command.channel, "c1");
  }
}

TEST(ProtobufCommandParserTest, HistoryReadsLimitReverseAndSince) {
  proto::Command in;
  in.set_id(4);
  proto::HistoryRequest* history = in.mutable_history();
  history->set_channel("chat:1");
  history->set_limit(-1);
  history->set_reverse(true);
  history->mutable_since()->set_offset(7);
  history->mutable_since()->set_epoch("ep");
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kHistory);
  EXPECT_EQ(command.method, "history");
  EXPECT_EQ(command.channel, "chat:1");
  EXPECT_EQ(command.limit, -1);
  EXPECT_TRUE(command.reverse);
  EXPECT_TRUE(command.has_since);
  EXPECT_EQ(command.offset, 7u);
  EXPECT_EQ(command.epoch, "ep");
}

TEST(ProtobufCommandParserTest, HistoryWithEmptySinceHasSince) {
  proto::Command in;
  in.set_id(4);
  in.mutable_history()->set_channel("c");
  in.mutable_history()->mutable_since();
  Command command = ParseOne(in);
  EXPECT_TRUE(command.has_since);
  EXPECT_EQ(command.offset, 0u);
  EXPECT_EQ(command.limit, 0);
}

TEST(ProtobufCommandParserTest, HistoryWithoutSince) {
  proto::Command in;
  in.set_id(4);
  in.mutable_history()->set_channel("c");
  in.mutable_history()->set_limit(10);
  Command command = ParseOne(in);
  EXPECT_FALSE(command.has_since);
  EXPECT_EQ(command.limit, 10);
  EXPECT_FALSE(command.reverse);
}

TEST(ProtobufCommandParserTest, PublishDataIsRawBytes) {
  const std::string data("\x00\xff\n{not json", 12);
  proto::Command in;
  in.set_id(5);
  in.mutable_publish()->set_channel("c");
  in.mutable_publish()->set_data(data);
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kPublish);
  EXPECT_EQ(command.method, "publish");
  EXPECT_EQ(command.channel, "c");
  EXPECT_EQ(command.data_json, data);
}

TEST(ProtobufCommandParserTest, PublishWithoutDataIsInvalidParams) {
  proto::Command in;
  in.set_id(5);
  in.mutable_publish()->set_channel("c");
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.method, "publish");
  EXPECT_EQ(command.problem, "data is required");
}

TEST(ProtobufCommandParserTest, Ping) {
  proto::Command in;
  in.set_id(6);
  in.mutable_ping();
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kPing);
  EXPECT_EQ(command.id, 6u);
  EXPECT_EQ(command.method, "ping");
}

TEST(ProtobufCommandParserTest, UnservedMethodsAreNotAvailable) {
  proto::Command send;
  send.set_id(5);
  send.mutable_send();
  Command command = ParseOne(send);
  EXPECT_EQ(command.kind, Command::Kind::kNotAvailable);
  EXPECT_EQ(command.method, "send");
  proto::Command rpc;
  rpc.set_id(5);
  rpc.mutable_rpc();
  command = ParseOne(rpc);
  EXPECT_EQ(command.kind, Command::Kind::kNotAvailable);
  EXPECT_EQ(command.method, "rpc");
}

TEST(ProtobufCommandParserTest, RefreshNeedsToken) {
  proto::Command in;
  in.set_id(7);
  in.mutable_refresh()->set_token("new.token");
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kRefresh);
  EXPECT_EQ(command.method, "refresh");
  EXPECT_EQ(command.token, "new.token");
  EXPECT_TRUE(command.has_token);

  in.mutable_refresh()->clear_token();
  command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.method, "refresh");
  EXPECT_EQ(command.problem, "token is required");
}

TEST(ProtobufCommandParserTest, SubRefreshNeedsToken) {
  proto::Command in;
  in.set_id(8);
  in.mutable_sub_refresh()->set_channel("c");
  in.mutable_sub_refresh()->set_token("sub.token");
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kSubRefresh);
  EXPECT_EQ(command.method, "sub_refresh");
  EXPECT_EQ(command.channel, "c");
  EXPECT_EQ(command.token, "sub.token");
  EXPECT_TRUE(command.has_token);

  in.mutable_sub_refresh()->clear_token();
  command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(command.problem, "token is required");
}

TEST(ProtobufCommandParserTest, PongsInARowFoldIntoOne) {
  // A 64 KiB message of one-byte pongs yields one command, not 65536.
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser.Parse(std::string(65536, '\0'), &commands).ok());
  ASSERT_THAT(commands, SizeIs(1));
  EXPECT_EQ(commands[0].kind, Command::Kind::kPong);
  // Only consecutive ones: what lies between keeps its place.
  proto::Command ping;
  ping.set_id(3);
  ping.mutable_ping();
  std::string pong(1, '\0');
  ASSERT_TRUE(parser.Parse(pong + pong + Delimited(ping) + pong + pong, &commands).ok());
  ASSERT_THAT(commands, SizeIs(3));
  EXPECT_EQ(commands[0].kind, Command::Kind::kPong);
  EXPECT_EQ(commands[1].kind, Command::Kind::kPing);
  EXPECT_EQ(commands[2].kind, Command::Kind::kPong);
}

TEST(ProtobufCommandParserTest, EmptyCommandIsPong) {
  Command command = ParseOne(std::string_view("\x00", 1));
  EXPECT_EQ(command.kind, Command::Kind::kPong);
  EXPECT_EQ(command.id, 0u);
}

TEST(ProtobufCommandParserTest, IdWithoutMethodIsUnknown) {
  proto::Command in;
  in.set_id(12);
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kUnknown);
  EXPECT_EQ(command.id, 12u);
  EXPECT_EQ(command.method, "");
}

TEST(ProtobufCommandParserTest, InvalidUtf8TextIsKeptAsBytes) {
  proto::Command in;
  in.set_id(2);
  in.mutable_subscribe()->set_channel("\xc3\x28\xff");
  Command command = ParseOne(in);
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.channel, "\xc3\x28\xff");
}

// ---------------------------------------------------------------------------
// Unknown fields.

TEST(ProtobufCommandParserTest, UnknownFieldsAreSkipped) {
  proto::Command in;
  in.set_id(2);
  in.mutable_subscribe()->set_channel("c");
  // Inside SubscribeRequest: 12 (delta, a string) and 99 (varint).
  std::string subscribe = in.subscribe().SerializeAsString() + FromHex(
                                                                   "6202"
                                                                   "6462"
                                                                   "980601");
  // Inside Command: 99 as varint, 100 length-delimited, 101 fixed64, 102
  // fixed32, then the subscribe field (5) rebuilt by hand.
  std::string body = FromHex(
                         "0802"
                         "9806ff01"
                         "a2060101"
                         "a9060102030405060708"
                         "b50601020304") +
                     "\x2a" + Varint(subscribe.size()) + subscribe;
  Command command = ParseOne(Delimited(body));
  EXPECT_EQ(command.kind, Command::Kind::kSubscribe);
  EXPECT_EQ(command.id, 2u);
  EXPECT_EQ(command.channel, "c");
}

TEST(ProtobufCommandParserTest, OnlyUnknownFieldsWithoutIdIsPong) {
  Command command = ParseOne(Delimited(FromHex("9806ff01")));
  EXPECT_EQ(command.kind, Command::Kind::kPong);
}

TEST(ProtobufCommandParserTest, ReservedFieldsAreSkipped) {
  // The former method (2, varint) and params (3, bytes) of protocol v1.
  Command command =
      ParseOne(Delimited(FromHex("0805"
                                 "1001"
                                 "1a02"
                                 "7b7d"
                                 "5a00")));
  EXPECT_EQ(command.kind, Command::Kind::kPing);
  EXPECT_EQ(command.id, 5u);
}

// ---------------------------------------------------------------------------
// Several commands; errors.

TEST(ProtobufCommandParserTest, SeveralCommandsInOneMessageKeepTheirOrder) {
  proto::Command connect;
  connect.set_id(1);
  connect.mutable_connect()->set_token("t");
  proto::Command subscribe;
  subscribe.set_id(2);
  subscribe.mutable_subscribe()->set_channel("a");
  proto::Command ping;
  ping.set_id(3);
  ping.mutable_ping();
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(
      parser
          .Parse(Delimited(connect) + Delimited(subscribe) + std::string(1, '\0') + Delimited(ping),
                 &commands)
          .ok());
  ASSERT_THAT(commands, SizeIs(4));
  EXPECT_EQ(commands[0].kind, Command::Kind::kConnect);
  EXPECT_EQ(commands[0].token, "t");
  EXPECT_EQ(commands[1].kind, Command::Kind::kSubscribe);
  EXPECT_EQ(commands[1].id, 2u);
  EXPECT_EQ(commands[1].channel, "a");
  // Nothing of the connect before it leaks into the subscribe.
  EXPECT_FALSE(commands[1].has_token);
  EXPECT_EQ(commands[2].kind, Command::Kind::kPong);
  EXPECT_EQ(commands[3].kind, Command::Kind::kPing);
  EXPECT_EQ(commands[3].id, 3u);
}

TEST(ProtobufCommandParserTest, ParseReplacesPreviousCommands) {
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  proto::Command ping;
  ping.set_id(9);
  ping.mutable_ping();
  ASSERT_TRUE(
      parser.Parse(std::string(1, '\0') + Delimited(ping) + std::string(1, '\0'), &commands).ok());
  EXPECT_THAT(commands, SizeIs(3));
  ASSERT_TRUE(parser.Parse(Delimited(ping), &commands).ok());
  ASSERT_THAT(commands, SizeIs(1));
  EXPECT_EQ(commands[0].id, 9u);
}

TEST(ProtobufCommandParserTest, ParserIsReusableAfterError) {
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  EXPECT_FALSE(parser.Parse(FromHex("05080122"), &commands).ok());
  proto::Command subscribe;
  subscribe.set_id(5);
  subscribe.mutable_subscribe()->set_channel("x");
  ASSERT_TRUE(parser.Parse(Delimited(subscribe), &commands).ok());
  ASSERT_THAT(commands, SizeIs(1));
  EXPECT_EQ(commands[0].kind, Command::Kind::kSubscribe);
  EXPECT_EQ(commands[0].channel, "x");
}

TEST(ProtobufCommandParserTest, EmptyMessageIsError) { ExpectParseError(""); }

TEST(ProtobufCommandParserTest, TruncatedLengthIsError) {
  ExpectParseError(FromHex("80"));
  // A good command, then a length cut short.
  ExpectParseError(
      FromHex("00"
              "ff"));
}

TEST(ProtobufCommandParserTest, ElevenByteLengthIsError) {
  ExpectParseError(FromHex("8080808080808080808000"));
}

TEST(ProtobufCommandParserTest, LengthPastTheMessageIsError) {
  ExpectParseError(FromHex("0208"));
  ExpectParseError(
      FromHex("ffffffffffffffffff01"
              "00"));
  // The first command is fine; the error still fails the whole message.
  ExpectParseError(
      FromHex("00"
              "050801"));
}

TEST(ProtobufCommandParserTest, CommandThatDoesNotParseIsError) {
  ExpectParseError(FromHex("0108"));      // A tag without its value.
  ExpectParseError(FromHex("030a0574"));  // Field 1 as bytes of length 5 in 3.
  ExpectParseError(FromHex("020f00"));    // Wire type 7.
  ExpectParseError(
      FromHex("0400"
              "000000"));  // Field number 0.
  // A subscribe whose request runs past the command.
  ExpectParseError(
      FromHex("04"
              "2a05"
              "0a01"));
}

TEST(ProtobufCommandParserTest, TwoMethodsInOneCommandIsError) {
  proto::Command in;
  in.set_id(1);
  in.mutable_ping();
  in.mutable_subscribe()->set_channel("a");
  ExpectParseError(Delimited(in));
}

TEST(ProtobufCommandParserTest, InvalidParamsDoesNotFailOtherCommands) {
  proto::Command refresh;
  refresh.set_id(1);
  refresh.mutable_refresh();
  proto::Command ping;
  ping.set_id(2);
  ping.mutable_ping();
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  ASSERT_TRUE(parser.Parse(Delimited(refresh) + Delimited(ping), &commands).ok());
  ASSERT_THAT(commands, SizeIs(2));
  EXPECT_EQ(commands[0].kind, Command::Kind::kInvalidParams);
  EXPECT_EQ(commands[1].kind, Command::Kind::kPing);
}

}  // namespace
}  // namespace wirehub::edge

#include "tools/bench/protobuf_wire.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "tools/bench/bench_payload.h"
#include "wirehub/client/v1/client.pb.h"

namespace wirehub::bench {
namespace {

namespace pb = ::wirehub::client::v1;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string out;
  for (int b : bytes) out.push_back(static_cast<char>(b));
  return out;
}

std::string Delimited(const google::protobuf::MessageLite& message) {
  std::string out;
  std::string body = message.SerializeAsString();
  AppendVarint(body.size(), &out);
  return out + body;
}

TEST(ProtobufWireTest, VarintsRoundTripAndRejectTruncatedOrOverlongOnes) {
  for (uint64_t value : {uint64_t{0}, uint64_t{1}, uint64_t{127}, uint64_t{128}, uint64_t{300},
                         uint64_t{1} << 35, ~uint64_t{0}}) {
    std::string encoded;
    AppendVarint(value, &encoded);
    uint64_t decoded = 0;
    EXPECT_EQ(ReadVarint(encoded + "rest", &decoded), encoded.size()) << value;
    EXPECT_EQ(decoded, value);
  }
  std::string max;
  AppendVarint(~uint64_t{0}, &max);
  EXPECT_EQ(max.size(), 10u);
  uint64_t value = 0;
  EXPECT_EQ(ReadVarint(Bytes({0xac}), &value), 0u);  // ends inside it
  EXPECT_EQ(ReadVarint("", &value), 0u);
  EXPECT_EQ(ReadVarint(std::string(11, '\x80') + '\x01', &value), 0u);  // past 10 bytes
}

// The SDK's own encoding (docs/design/protobuf-wire-plan.md 1.3):
// encodeCommands([{id:1,connect:{token:'t',name:'js'}},{}]).
TEST(ProtobufWireTest, ConnectCommandAndPongAreTheSdksBytes) {
  std::string out;
  AppendConnectCommand(1, "t", "js", &out);
  out.append(kProtobufPong);
  EXPECT_EQ(out,
            Bytes({0x0b, 0x08, 0x01, 0x22, 0x07, 0x0a, 0x01, 0x74, 0x22, 0x02, 0x6a, 0x73, 0x00}));
}

TEST(ProtobufWireTest, CommandsParseWithTheGeneratedClasses) {
  std::string out;
  AppendConnectCommand(1, "a.b.c", "wirehub-bench", &out);
  AppendSubscribeCommand(2, "bench17", &out);
  std::string_view input = out;
  std::string_view message;
  ASSERT_EQ(NextDelimited(&input, &message), DelimitedResult::kMessage);
  pb::Command connect;
  ASSERT_TRUE(connect.ParseFromArray(message.data(), static_cast<int>(message.size())));
  EXPECT_EQ(connect.id(), 1u);
  ASSERT_TRUE(connect.has_connect());
  EXPECT_EQ(connect.connect().token(), "a.b.c");
  EXPECT_EQ(connect.connect().name(), "wirehub-bench");
  ASSERT_EQ(NextDelimited(&input, &message), DelimitedResult::kMessage);
  pb::Command subscribe;
  ASSERT_TRUE(subscribe.ParseFromArray(message.data(), static_cast<int>(message.size())));
  EXPECT_EQ(subscribe.id(), 2u);
  ASSERT_TRUE(subscribe.has_subscribe());
  EXPECT_EQ(subscribe.subscribe().channel(), "bench17");
  EXPECT_EQ(NextDelimited(&input, &message), DelimitedResult::kEnd);

  // An empty method message still says which method.
  out.clear();
  AppendSubscribeCommand(3, "", &out);
  input = out;
  ASSERT_EQ(NextDelimited(&input, &message), DelimitedResult::kMessage);
  pb::Command empty;
  ASSERT_TRUE(empty.ParseFromArray(message.data(), static_cast<int>(message.size())));
  EXPECT_TRUE(empty.has_subscribe());
}

TEST(ProtobufWireTest, ReadsConnectAndSubscribeRepliesAndErrors) {
  pb::Reply connect;
  connect.set_id(1);
  connect.mutable_connect()->set_client("c-1");
  connect.mutable_connect()->set_version("1.2.3");
  connect.mutable_connect()->set_ping(25);
  connect.mutable_connect()->set_pong(true);
  (*connect.mutable_connect()->mutable_subs())["x"].set_offset(5);
  pb::Reply subscribe;
  subscribe.set_id(2);
  subscribe.mutable_subscribe();  // empty, still present
  pb::Reply error;
  error.set_id(2);
  error.mutable_error()->set_code(103);
  error.mutable_error()->set_message("permission denied");

  // One WebSocket message holding the three, then a ping.
  std::string message = Delimited(connect) + Delimited(subscribe) + Delimited(error) + '\0';
  std::string_view input = message;
  std::string_view bytes;
  ProtobufReply reply;

  ASSERT_EQ(NextDelimited(&input, &bytes), DelimitedResult::kMessage);
  ASSERT_TRUE(ParseProtobufReply(bytes, &reply).ok());
  EXPECT_EQ(reply.id, 1u);
  EXPECT_TRUE(reply.has_connect);
  EXPECT_TRUE(reply.connect_pong);
  EXPECT_FALSE(reply.has_error || reply.has_subscribe || reply.has_push);

  ASSERT_EQ(NextDelimited(&input, &bytes), DelimitedResult::kMessage);
  ASSERT_TRUE(ParseProtobufReply(bytes, &reply).ok());
  EXPECT_EQ(reply.id, 2u);
  EXPECT_TRUE(reply.has_subscribe);
  EXPECT_FALSE(reply.has_connect || reply.connect_pong);

  ASSERT_EQ(NextDelimited(&input, &bytes), DelimitedResult::kMessage);
  ASSERT_TRUE(ParseProtobufReply(bytes, &reply).ok());
  EXPECT_TRUE(reply.has_error);
  EXPECT_EQ(reply.error_code, 103u);
  EXPECT_EQ(reply.error_message, "permission denied");

  // The ping: an empty Reply.
  ASSERT_EQ(NextDelimited(&input, &bytes), DelimitedResult::kMessage);
  EXPECT_TRUE(bytes.empty());
  ASSERT_TRUE(ParseProtobufReply(bytes, &reply).ok());
  EXPECT_EQ(reply.id, 0u);
  EXPECT_FALSE(reply.has_push || reply.has_connect);
  EXPECT_EQ(NextDelimited(&input, &bytes), DelimitedResult::kEnd);
}

TEST(ProtobufWireTest, ReadsAPublicationPushAndItsBenchPayload) {
  std::string data;
  FormatBenchPayload({.ts_ns = 123456789, .seq = 42}, 100, &data);
  pb::Reply push;
  push.mutable_push()->set_channel("bench3");
  pb::Publication* pub = push.mutable_push()->mutable_pub();
  pub->set_data(data);
  pub->set_offset(9001);
  pub->mutable_info()->set_user("u1");  // skipped

  ProtobufReply reply;
  std::string body = push.SerializeAsString();
  ASSERT_TRUE(ParseProtobufReply(body, &reply).ok());
  EXPECT_EQ(reply.id, 0u);
  EXPECT_TRUE(reply.has_push);
  EXPECT_TRUE(reply.has_publication);
  EXPECT_EQ(reply.push_channel, "bench3");
  EXPECT_EQ(reply.publication_data, data);
  EXPECT_EQ(reply.publication_offset, 9001u);
  absl::StatusOr<BenchPayload> payload = ParseBenchPayload(reply.publication_data);
  ASSERT_TRUE(payload.ok()) << payload.status();
  EXPECT_EQ(payload->ts_ns, 123456789);
  EXPECT_EQ(payload->seq, 42u);

  // A join push is a push without a publication.
  pb::Reply join;
  join.mutable_push()->set_channel("bench3");
  join.mutable_push()->mutable_join()->mutable_info()->set_user("u2");
  body = join.SerializeAsString();
  ASSERT_TRUE(ParseProtobufReply(body, &reply).ok());
  EXPECT_TRUE(reply.has_push);
  EXPECT_FALSE(reply.has_publication);
}

TEST(ProtobufWireTest, SkipsUnknownFieldsOfEveryWireType) {
  // Reply{99: varint 7, 98: fixed64, 97: fixed32, 96: bytes "zz", id: 5}.
  std::string message;
  message += Bytes({0x98, 0x06, 0x07});                    // 99, varint
  message += Bytes({0x91, 0x06, 1, 2, 3, 4, 5, 6, 7, 8});  // 98, fixed64
  message += Bytes({0x8d, 0x06, 1, 2, 3, 4});              // 97, fixed32
  message += Bytes({0x82, 0x06, 0x02, 'z', 'z'});          // 96, bytes
  message += Bytes({0x08, 0x05});                          // id 5
  ProtobufReply reply;
  ASSERT_TRUE(ParseProtobufReply(message, &reply).ok());
  EXPECT_EQ(reply.id, 5u);

  ProtoFieldReader fields(message);
  ASSERT_TRUE(fields.Next());
  EXPECT_EQ(fields.number(), 99u);
  EXPECT_EQ(fields.value(), 7u);
  ASSERT_TRUE(fields.Next());
  EXPECT_EQ(fields.wire_type(), kProtoFixed64);
  EXPECT_EQ(fields.value(), 0x0807060504030201u);
  ASSERT_TRUE(fields.Next());
  EXPECT_EQ(fields.wire_type(), kProtoFixed32);
  EXPECT_EQ(fields.value(), 0x04030201u);
  ASSERT_TRUE(fields.Next());
  EXPECT_EQ(fields.bytes(), "zz");
  ASSERT_TRUE(fields.Next());
  EXPECT_FALSE(fields.Next());
  EXPECT_TRUE(fields.ok());
}

TEST(ProtobufWireTest, RejectsMalformedReplies) {
  ProtobufReply reply;
  for (const std::string& bad : {
           Bytes({0x08}),                    // id without its varint
           Bytes({0x22, 0x05, 0x12}),        // push longer than the reply
           Bytes({0x00, 0x01}),              // field number 0
           Bytes({0x0b}),                    // a group
           Bytes({0x0e, 0x00}),              // wire type 6
           Bytes({0x09, 1, 2, 3}),           // fixed64 cut short
           Bytes({0x22, 0x02, 0x22, 0x05}),  // push whose publication is cut short
       }) {
    EXPECT_FALSE(ParseProtobufReply(bad, &reply).ok()) << testing::PrintToString(bad);
  }
  std::string_view input =
      "\x05"
      "abc";
  std::string_view message;
  EXPECT_EQ(NextDelimited(&input, &message), DelimitedResult::kMalformed);
  input = "\x80";
  EXPECT_EQ(NextDelimited(&input, &message), DelimitedResult::kMalformed);
}

}  // namespace
}  // namespace wirehub::bench

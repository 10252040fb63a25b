#include "edge/protobuf_encoders.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/absl_compat.h"
#include "edge/protobuf_codec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/client/v1/client.pb.h"

namespace wirehub::edge {
namespace {

namespace proto = ::wirehub::client::v1;

using ::testing::SizeIs;

std::string Hex(std::string_view bytes) { return absl::BytesToHexString(AsAbsl(bytes)); }

// Splits `message` into its varint-delimited Replies and decodes each with
// the generated classes. Each Reply must also re-encode to exactly its bytes:
// no unknown field (a wrong number would be one), canonical order, and
// nothing written at its default value. (Maps re-encode in their own order,
// so a test with several map entries passes `exact` false.)
std::vector<proto::Reply> Decode(std::string_view message, bool exact = true) {
  std::vector<proto::Reply> replies;
  size_t pos = 0;
  while (pos < message.size()) {
    uint64_t length = 0;
    EXPECT_TRUE(ReadVarint(message, &pos, &length)) << Hex(message);
    EXPECT_LE(length, message.size() - pos) << Hex(message);
    if (length > message.size() - pos) break;
    std::string_view body = message.substr(pos, length);
    pos += length;
    proto::Reply& reply = replies.emplace_back();
    EXPECT_TRUE(reply.ParseFromArray(body.data(), static_cast<int>(body.size()))) << Hex(body);
    if (exact) {
      EXPECT_EQ(Hex(reply.SerializeAsString()), Hex(body));
    }
  }
  return replies;
}

proto::Reply DecodeOne(std::string_view message, bool exact = true) {
  std::vector<proto::Reply> replies = Decode(message, exact);
  EXPECT_THAT(replies, SizeIs(1)) << Hex(message);
  return replies.empty() ? proto::Reply() : replies[0];
}

// ---------------------------------------------------------------------------
// Exact bytes, for the field numbers easiest to get wrong.

TEST(ProtobufEncodersTest, PingIsOneZeroByte) { EXPECT_EQ(Hex(pb::EncodePing()), "00"); }

TEST(ProtobufEncodersTest, PublicationPushBytes) {
  // Reply{push(4): {channel(2): "c", pub(4): {data(4): "{}", offset(6): 5}}}
  EXPECT_EQ(Hex(pb::EncodePublicationPush("c", "{}", 5)), "0d220b120163220622027b7d3005");
}

TEST(ProtobufEncodersTest, UnsubscribePushCodeIsFieldTwo) {
  // Reply{push(4): {channel(2): "c", unsubscribe(7): {code(2): 2000,
  // reason(3): "r"}}}
  EXPECT_EQ(Hex(pb::EncodeUnsubscribePush("c", 2000, "r")), "0d220b1201633a0610d00f1a0172");
}

TEST(ProtobufEncodersTest, SubscribePushUsesSubscribeNumbering) {
  SubscribeResult result;
  result.recoverable = true;
  result.epoch = "e";
  result.offset = 3;
  // Reply{push(4): {channel(2): "c", subscribe(9): {recoverable(1),
  // epoch(4): "e", offset(5): 3, positioned(6)}}}
  EXPECT_EQ(Hex(pb::EncodeSubscribePush("c", result)), "10220e1201634a09080122016528033001");
}

TEST(ProtobufEncodersTest, EmptyResultIsPresent) {
  // Reply{id(1): 3, unsubscribe(7): {}}
  EXPECT_EQ(Hex(pb::EncodeEmptyResult(3, "unsubscribe")), "0408033a00");
}

// ---------------------------------------------------------------------------
// Replies, decoded field by field.

TEST(ProtobufEncodersTest, ConnectReplySimple) {
  proto::Reply reply = DecodeOne(pb::EncodeConnectReply(1, "client-1", "0.1.0", 25, true));
  EXPECT_EQ(reply.id(), 1u);
  ASSERT_TRUE(reply.has_connect());
  EXPECT_EQ(reply.connect().client(), "client-1");
  EXPECT_EQ(reply.connect().version(), "0.1.0");
  EXPECT_EQ(reply.connect().ping(), 25u);
  EXPECT_TRUE(reply.connect().pong());
  EXPECT_FALSE(reply.connect().expires());
  EXPECT_EQ(reply.connect().ttl(), 0u);
  EXPECT_TRUE(reply.connect().subs().empty());
  EXPECT_FALSE(reply.has_error());
  EXPECT_FALSE(reply.has_push());
}

TEST(ProtobufEncodersTest, ConnectReplyWithExpiryAndSubs) {
  const ClientInfoView publisher{"u1", "c1", R"({"n":1})", ""};
  ConnectResult result;
  result.client = "cid";
  result.version = "v";
  result.ping_seconds = 10;
  result.pong = false;
  result.expires = true;
  result.ttl = 3600;
  SubscribeResult positioned;
  positioned.recoverable = true;
  positioned.epoch = "ep";
  positioned.offset = 1ull << 40;
  positioned.was_recovering = true;
  positioned.recovered = true;
  positioned.publications = {{41, "1", nullptr}, {42, "2", &publisher}};
  result.subs = {{"a", positioned}, {"b", SubscribeResult{}}};
  proto::Reply reply = DecodeOne(pb::EncodeConnectReply(7, result), /*exact=*/false);
  EXPECT_EQ(reply.id(), 7u);
  const proto::ConnectResult& connect = reply.connect();
  EXPECT_EQ(connect.client(), "cid");
  EXPECT_EQ(connect.version(), "v");
  EXPECT_EQ(connect.ping(), 10u);
  EXPECT_FALSE(connect.pong());
  EXPECT_TRUE(connect.expires());
  EXPECT_EQ(connect.ttl(), 3600u);
  ASSERT_EQ(connect.subs().size(), 2u);
  const proto::SubscribeResult& a = connect.subs().at("a");
  EXPECT_TRUE(a.recoverable());
  EXPECT_EQ(a.epoch(), "ep");
  EXPECT_EQ(a.offset(), 1ull << 40);
  EXPECT_TRUE(a.positioned());
  EXPECT_TRUE(a.was_recovering());
  EXPECT_TRUE(a.recovered());
  ASSERT_EQ(a.publications_size(), 2);
  EXPECT_EQ(a.publications(0).offset(), 41u);
  EXPECT_EQ(a.publications(0).data(), "1");
  EXPECT_FALSE(a.publications(0).has_info());
  EXPECT_EQ(a.publications(1).offset(), 42u);
  EXPECT_EQ(a.publications(1).info().user(), "u1");
  EXPECT_EQ(a.publications(1).info().client(), "c1");
  EXPECT_EQ(a.publications(1).info().conn_info(), R"({"n":1})");
  EXPECT_EQ(a.publications(1).info().chan_info(), "");
  const proto::SubscribeResult& b = connect.subs().at("b");
  EXPECT_FALSE(b.positioned());
  EXPECT_EQ(b.epoch(), "");
  EXPECT_EQ(b.ByteSizeLong(), 0u);
}

TEST(ProtobufEncodersTest, ConnectSubsEntriesCarryAnEmptyValue) {
  ConnectResult result;
  result.client = "c";
  result.subs = {{"x", SubscribeResult{}}};
  // ... subs(6): {key(1): "x", value(2): {}} ...: the SDK reads an entry
  // without its value as null.
  EXPECT_THAT(Hex(pb::EncodeConnectReply(1, result)), testing::HasSubstr("32050a01781200"));
}

TEST(ProtobufEncodersTest, EmptyResults) {
  for (std::string_view method :
       {"connect", "subscribe", "unsubscribe", "publish", "presence", "presence_stats", "history",
        "ping", "rpc", "refresh", "sub_refresh"}) {
    SCOPED_TRACE(method);
    proto::Reply reply = DecodeOne(pb::EncodeEmptyResult(4, method));
    EXPECT_EQ(reply.id(), 4u);
    const google::protobuf::FieldDescriptor* field =
        proto::Reply::descriptor()->FindFieldByName(std::string(method));
    ASSERT_NE(field, nullptr);
    EXPECT_TRUE(reply.GetReflection()->HasField(reply, field));
    EXPECT_EQ(reply.ByteSizeLong(), 4u);  // id, then the field with length 0.
  }
}

TEST(ProtobufEncodersTest, SubscribeReplyFull) {
  const ClientInfoView publisher{"u", "c", "", R"({"c":2})"};
  SubscribeResult result;
  result.expires = true;
  result.ttl = 60;
  result.recoverable = true;
  result.epoch = "xyz";
  result.offset = UINT64_MAX;
  result.was_recovering = true;
  result.recovered = false;
  result.publications = {{UINT64_MAX - 1, std::string_view("\x00\x01", 2), &publisher}};
  proto::Reply reply = DecodeOne(pb::EncodeSubscribeReply(2, result));
  EXPECT_EQ(reply.id(), 2u);
  const proto::SubscribeResult& subscribe = reply.subscribe();
  EXPECT_TRUE(subscribe.expires());
  EXPECT_EQ(subscribe.ttl(), 60u);
  EXPECT_TRUE(subscribe.recoverable());
  EXPECT_EQ(subscribe.epoch(), "xyz");
  EXPECT_EQ(subscribe.offset(), UINT64_MAX);
  EXPECT_TRUE(subscribe.positioned());
  EXPECT_TRUE(subscribe.was_recovering());
  EXPECT_FALSE(subscribe.recovered());
  ASSERT_EQ(subscribe.publications_size(), 1);
  EXPECT_EQ(subscribe.publications(0).offset(), UINT64_MAX - 1);
  EXPECT_EQ(subscribe.publications(0).data(), std::string("\x00\x01", 2));
  EXPECT_EQ(subscribe.publications(0).info().chan_info(), R"({"c":2})");
}

TEST(ProtobufEncodersTest, SubscribeReplyWithoutStreamIsEmpty) {
  proto::Reply reply = DecodeOne(pb::EncodeSubscribeReply(2, SubscribeResult{}));
  EXPECT_TRUE(reply.has_subscribe());
  EXPECT_EQ(reply.subscribe().ByteSizeLong(), 0u);
}

TEST(ProtobufEncodersTest, SubscribeReplyTtlOnlyWhenExpiring) {
  SubscribeResult result;
  result.ttl = 60;
  proto::Reply reply = DecodeOne(pb::EncodeSubscribeReply(2, result));
  EXPECT_EQ(reply.subscribe().ttl(), 0u);
}

TEST(ProtobufEncodersTest, HistoryReply) {
  const ClientInfoView publisher{"u", "c", "", ""};
  std::vector<RecoveredPublication> publications = {{1, "{\"a\":1}", nullptr},
                                                    {2, "[2]", &publisher}};
  proto::Reply reply = DecodeOne(pb::EncodeHistoryReply(3, publications, "ep", 2));
  EXPECT_EQ(reply.id(), 3u);
  const proto::HistoryResult& history = reply.history();
  ASSERT_EQ(history.publications_size(), 2);
  EXPECT_EQ(history.publications(0).data(), "{\"a\":1}");
  EXPECT_EQ(history.publications(0).offset(), 1u);
  EXPECT_EQ(history.publications(1).data(), "[2]");
  EXPECT_EQ(history.publications(1).info().user(), "u");
  EXPECT_EQ(history.epoch(), "ep");
  EXPECT_EQ(history.offset(), 2u);
}

TEST(ProtobufEncodersTest, HistoryReplyEmpty) {
  proto::Reply reply = DecodeOne(pb::EncodeHistoryReply(3, {}, "", 0));
  EXPECT_TRUE(reply.has_history());
  EXPECT_EQ(reply.history().ByteSizeLong(), 0u);
}

TEST(ProtobufEncodersTest, RefreshReply) {
  proto::Reply reply = DecodeOne(pb::EncodeRefreshReply(5, "cid", "v1", true, 120));
  EXPECT_EQ(reply.id(), 5u);
  EXPECT_EQ(reply.refresh().client(), "cid");
  EXPECT_EQ(reply.refresh().version(), "v1");
  EXPECT_TRUE(reply.refresh().expires());
  EXPECT_EQ(reply.refresh().ttl(), 120u);
  reply = DecodeOne(pb::EncodeRefreshReply(5, "cid", "v1", false, 120));
  EXPECT_FALSE(reply.refresh().expires());
  EXPECT_EQ(reply.refresh().ttl(), 0u);
}

TEST(ProtobufEncodersTest, SubRefreshReply) {
  proto::Reply reply = DecodeOne(pb::EncodeSubRefreshReply(6, true, 30));
  EXPECT_EQ(reply.id(), 6u);
  EXPECT_TRUE(reply.sub_refresh().expires());
  EXPECT_EQ(reply.sub_refresh().ttl(), 30u);
  reply = DecodeOne(pb::EncodeSubRefreshReply(6, false, 30));
  EXPECT_TRUE(reply.has_sub_refresh());
  EXPECT_EQ(reply.sub_refresh().ByteSizeLong(), 0u);
}

TEST(ProtobufEncodersTest, PresenceReply) {
  std::vector<ClientInfoView> clients = {{"u1", "c1", R"({"a":1})", ""}, {"", "c2", "", ""}};
  proto::Reply reply = DecodeOne(pb::EncodePresenceReply(7, clients), /*exact=*/false);
  EXPECT_EQ(reply.id(), 7u);
  const auto& presence = reply.presence().presence();
  ASSERT_EQ(presence.size(), 2u);
  EXPECT_EQ(presence.at("c1").user(), "u1");
  EXPECT_EQ(presence.at("c1").client(), "c1");
  EXPECT_EQ(presence.at("c1").conn_info(), R"({"a":1})");
  EXPECT_EQ(presence.at("c2").user(), "");
  EXPECT_EQ(presence.at("c2").client(), "c2");
}

TEST(ProtobufEncodersTest, PresenceReplyEmpty) {
  proto::Reply reply = DecodeOne(pb::EncodePresenceReply(7, {}));
  EXPECT_TRUE(reply.has_presence());
  EXPECT_TRUE(reply.presence().presence().empty());
}

TEST(ProtobufEncodersTest, PresenceStatsReplySaturates) {
  proto::Reply reply = DecodeOne(pb::EncodePresenceStatsReply(8, 3, 2));
  EXPECT_EQ(reply.presence_stats().num_clients(), 3u);
  EXPECT_EQ(reply.presence_stats().num_users(), 2u);
  reply = DecodeOne(pb::EncodePresenceStatsReply(8, 1ull << 40, 0));
  EXPECT_EQ(reply.presence_stats().num_clients(), UINT32_MAX);
  EXPECT_EQ(reply.presence_stats().num_users(), 0u);
}

TEST(ProtobufEncodersTest, ErrorReply) {
  proto::Reply reply = DecodeOne(pb::EncodeErrorReply(9, 111, "too many requests", true));
  EXPECT_EQ(reply.id(), 9u);
  EXPECT_EQ(reply.error().code(), 111u);
  EXPECT_EQ(reply.error().message(), "too many requests");
  EXPECT_TRUE(reply.error().temporary());
  reply = DecodeOne(pb::EncodeErrorReply(9, 107, "bad request: \"x\"", false));
  EXPECT_EQ(reply.error().code(), 107u);
  EXPECT_EQ(reply.error().message(), "bad request: \"x\"");
  EXPECT_FALSE(reply.error().temporary());
}

// ---------------------------------------------------------------------------
// Pushes.

TEST(ProtobufEncodersTest, PublicationPushWithBinaryData) {
  const std::string data(300, '\0');  // A two-byte length.
  proto::Reply reply = DecodeOne(pb::EncodePublicationPush("chat:1", data, 1ull << 53));
  EXPECT_EQ(reply.id(), 0u);
  EXPECT_EQ(reply.push().channel(), "chat:1");
  EXPECT_EQ(reply.push().pub().data(), data);
  EXPECT_EQ(reply.push().pub().offset(), 1ull << 53);
  EXPECT_FALSE(reply.push().pub().has_info());
}

TEST(ProtobufEncodersTest, PublicationPushWithInfo) {
  const ClientInfoView info{"user", "client", R"({"c":1})", R"({"h":2})"};
  proto::Reply reply = DecodeOne(pb::EncodePublicationPush("c", "\"x\"", 0, &info));
  EXPECT_EQ(reply.push().pub().data(), "\"x\"");
  EXPECT_EQ(reply.push().pub().offset(), 0u);
  EXPECT_EQ(reply.push().pub().info().user(), "user");
  EXPECT_EQ(reply.push().pub().info().client(), "client");
  EXPECT_EQ(reply.push().pub().info().conn_info(), R"({"c":1})");
  EXPECT_EQ(reply.push().pub().info().chan_info(), R"({"h":2})");
  EXPECT_EQ(pb::EncodePublicationPush("c", "1", 2, nullptr),
            pb::EncodePublicationPush("c", "1", 2));
}

TEST(ProtobufEncodersTest, LargePublicationPush) {
  const std::string data(70000, 'x');  // A three-byte length at every level.
  const std::string frame = pb::EncodePublicationPush("c", data, 1);
  proto::Reply reply = DecodeOne(frame);
  EXPECT_EQ(reply.push().pub().data(), data);
}

TEST(ProtobufEncodersTest, JoinAndLeavePushes) {
  const ClientInfoView info{"u", "c", "", R"({"x":1})"};
  proto::Reply join = DecodeOne(pb::EncodeJoinPush("room", info));
  EXPECT_EQ(join.push().channel(), "room");
  ASSERT_TRUE(join.push().has_join());
  EXPECT_FALSE(join.push().has_leave());
  EXPECT_EQ(join.push().join().info().user(), "u");
  EXPECT_EQ(join.push().join().info().client(), "c");
  EXPECT_EQ(join.push().join().info().chan_info(), R"({"x":1})");
  proto::Reply leave = DecodeOne(pb::EncodeLeavePush("room", info));
  ASSERT_TRUE(leave.push().has_leave());
  EXPECT_FALSE(leave.push().has_join());
  EXPECT_EQ(leave.push().leave().info().client(), "c");
}

TEST(ProtobufEncodersTest, SubscribePushCarriesOnlyPosition) {
  SubscribeResult result;
  result.recoverable = true;
  result.epoch = "ep";
  result.offset = 12;
  result.expires = true;
  result.ttl = 5;
  result.publications = {{1, "1", nullptr}};
  proto::Reply reply = DecodeOne(pb::EncodeSubscribePush("news", result));
  EXPECT_EQ(reply.push().channel(), "news");
  const proto::Subscribe& subscribe = reply.push().subscribe();
  EXPECT_TRUE(subscribe.recoverable());
  EXPECT_EQ(subscribe.epoch(), "ep");
  EXPECT_EQ(subscribe.offset(), 12u);
  EXPECT_TRUE(subscribe.positioned());
  // Without a stream: present and empty.
  reply = DecodeOne(pb::EncodeSubscribePush("news", SubscribeResult{}));
  EXPECT_TRUE(reply.push().has_subscribe());
  EXPECT_EQ(reply.push().subscribe().ByteSizeLong(), 0u);
}

TEST(ProtobufEncodersTest, UnsubscribePush) {
  proto::Reply reply = DecodeOne(pb::EncodeUnsubscribePush("c", 2500, "insufficient state"));
  EXPECT_EQ(reply.push().channel(), "c");
  EXPECT_EQ(reply.push().unsubscribe().code(), 2500u);
  EXPECT_EQ(reply.push().unsubscribe().reason(), "insufficient state");
}

TEST(ProtobufEncodersTest, DisconnectPush) {
  proto::Reply reply = DecodeOne(pb::EncodeDisconnectPush(3001, "shutdown"));
  EXPECT_EQ(reply.id(), 0u);
  EXPECT_EQ(reply.push().channel(), "");
  EXPECT_EQ(reply.push().disconnect().code(), 3001u);
  EXPECT_EQ(reply.push().disconnect().reason(), "shutdown");
}

TEST(ProtobufEncodersTest, MessagePush) {
  proto::Reply reply = DecodeOne(pb::EncodeMessagePush(std::string_view("\x00m", 2)));
  EXPECT_EQ(reply.push().channel(), "");
  EXPECT_EQ(reply.push().message().data(), std::string("\x00m", 2));
}

TEST(ProtobufEncodersTest, FramesConcatenateIntoOneMessage) {
  const std::string message = pb::EncodeConnectReply(1, "c", "v", 25, true) +
                              pb::EncodePublicationPush("a", "1", 1) + pb::EncodePing() +
                              pb::EncodeErrorReply(2, 103, "permission denied", false);
  std::vector<proto::Reply> replies = Decode(message);
  ASSERT_THAT(replies, SizeIs(4));
  EXPECT_TRUE(replies[0].has_connect());
  EXPECT_EQ(replies[1].push().pub().offset(), 1u);
  EXPECT_EQ(replies[2].ByteSizeLong(), 0u);
  EXPECT_EQ(replies[3].error().code(), 103u);
}

}  // namespace
}  // namespace wirehub::edge

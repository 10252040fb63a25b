#include "edge/handshake_check.h"

#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

constexpr std::string_view kPath = "/connection/websocket";

HandshakeRequest Good() {
  HandshakeRequest request;
  request.get_path = kPath;
  request.upgrade = "websocket";
  request.connection = "keep-alive, Upgrade";
  request.version = "13";
  request.key = "dGhlIHNhbXBsZSBub25jZQ==";
  request.host = "edge.example.com";
  return request;
}

int Status(const HandshakeRequest& request, const OriginPolicy& origins = OriginPolicy()) {
  std::optional<HandshakeRefusal> refusal = CheckHandshake(request, kPath, origins);
  return refusal.has_value() ? refusal->status : 101;
}

TEST(HandshakeCheckTest, AcceptsAGoodHandshake) {
  EXPECT_EQ(Status(Good()), 101);
  HandshakeRequest request = Good();
  request.protocol = "centrifuge-json";
  EXPECT_EQ(Status(request), 101);
  request.protocol = "foo, centrifuge-json";
  EXPECT_EQ(Status(request), 101);
  request.origin = "https://edge.example.com";
  EXPECT_EQ(Status(request), 101);
}

TEST(HandshakeCheckTest, PathAndMethod) {
  HandshakeRequest request = Good();
  request.get_path = "/other";
  EXPECT_EQ(Status(request), 404);
  request.get_path = "";
  EXPECT_EQ(Status(request), 400);
}

TEST(HandshakeCheckTest, UpgradeHeaders) {
  HandshakeRequest request = Good();
  request.connection = "keep-alive";
  EXPECT_EQ(Status(request), 400);
  request = Good();
  request.upgrade = "h2c";
  EXPECT_EQ(Status(request), 400);
}

TEST(HandshakeCheckTest, VersionOtherThan13Gets426) {
  for (const char* version : {"", "7", "8", "99", "13, 8"}) {
    HandshakeRequest request = Good();
    request.version = version;
    std::optional<HandshakeRefusal> refusal = CheckHandshake(request, kPath, OriginPolicy());
    ASSERT_TRUE(refusal.has_value()) << version;
    EXPECT_EQ(refusal->status, 426);
    EXPECT_TRUE(refusal->version_header);
  }
}

TEST(HandshakeCheckTest, MalformedKeys) {
  for (const char* key :
       {"", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZSE=",
        "dGhlIHNhbXBsZSBub25j*Q==", "dGhlIHNhbXBsZSBub25jZSEhIQ=="}) {
    HandshakeRequest request = Good();
    request.key = key;
    EXPECT_EQ(Status(request), 400) << key;
  }
}

TEST(HandshakeCheckTest, UnknownSubprotocols) {
  HandshakeRequest request = Good();
  request.protocol = "chat";
  EXPECT_EQ(Status(request), 400);
  request.protocol = "chat, mqtt";
  std::optional<HandshakeRefusal> refusal = CheckHandshake(request, kPath, OriginPolicy());
  ASSERT_TRUE(refusal.has_value());
  EXPECT_TRUE(refusal->subprotocol);
  EXPECT_EQ(refusal->reason,
            "unsupported subprotocol; this edge speaks centrifuge-json and centrifuge-protobuf");
  // Subprotocol names are compared exactly, as lws binds them.
  request.protocol = "Centrifuge-JSON";
  EXPECT_EQ(Status(request), 400);
}

TEST(HandshakeCheckTest, ChoosesTheFirstFormatTheClientOffers) {
  EXPECT_EQ(ChooseWireFormat("").format, WireFormat::kJson);
  EXPECT_EQ(ChooseWireFormat("centrifuge-json").format, WireFormat::kJson);
  EXPECT_EQ(ChooseWireFormat("centrifuge-protobuf").format, WireFormat::kProtobuf);
  EXPECT_EQ(ChooseWireFormat("chat, centrifuge-protobuf, centrifuge-json").format,
            WireFormat::kProtobuf);
  EXPECT_EQ(ChooseWireFormat("centrifuge-json,centrifuge-protobuf").format, WireFormat::kJson);
  EXPECT_FALSE(ChooseWireFormat(" centrifuge-protobuf ").refusal.has_value());
}

TEST(HandshakeCheckTest, RefusesWhatLwsWouldDropUnanswered) {
  // Each of these makes lws 4.1 close the socket without an HTTP answer.
  std::string long_list = "centrifuge-json";
  while (long_list.size() <= kMaxSubprotocolHeaderBytes) long_list += ", x";
  std::string long_token(kMaxSubprotocolTokenBytes + 1, 'a');
  for (const std::string& offered :
       {long_list, long_token + ", centrifuge-json", std::string("centrifuge-json,,x"),
        std::string("wamp.2.json, centrifuge-json"), std::string("a/b, centrifuge-protobuf"),
        std::string("1, centrifuge-json"), std::string("centrifuge-json, 42")}) {
    WireFormatChoice choice = ChooseWireFormat(offered);
    ASSERT_TRUE(choice.refusal.has_value()) << offered;
    EXPECT_EQ(choice.refusal->status, 400) << offered;
    EXPECT_TRUE(choice.refusal->subprotocol) << offered;
  }
  // lws takes these (checked against 4.1.6).
  for (const char* offered : {"1abc, centrifuge-json", "a_b, centrifuge-json",
                              "-x, centrifuge-protobuf", "1-a, centrifuge-json"}) {
    EXPECT_FALSE(ChooseWireFormat(offered).refusal.has_value()) << offered;
  }
  // At the bounds exactly: accepted.
  std::string fits = "centrifuge-protobuf";
  while (fits.size() + 2 <= kMaxSubprotocolHeaderBytes) fits += ",x";
  EXPECT_FALSE(ChooseWireFormat(fits).refusal.has_value()) << fits;
  EXPECT_FALSE(ChooseWireFormat(std::string(kMaxSubprotocolTokenBytes, 'a') + ",centrifuge-json")
                   .refusal.has_value());
}

TEST(HandshakeCheckTest, OriginAfterEverythingElse) {
  HandshakeRequest request = Good();
  request.origin = "https://evil.example";
  EXPECT_EQ(Status(request), 403);
  absl::StatusOr<OriginPolicy> policy = OriginPolicy::Create({"https://evil.example"});
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(Status(request, *policy), 101);
  // A bad version is answered as such even from a refused origin.
  request.version = "8";
  EXPECT_EQ(Status(request), 426);
}

}  // namespace
}  // namespace wirehub::edge

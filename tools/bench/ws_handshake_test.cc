#include "tools/bench/ws_handshake.h"

#include <string>

#include "common/websocket_key.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kRfcKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::string GoodResponse(std::string_view key) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         WebSocketAcceptKey(key) + "\r\n\r\n";
}

TEST(WsHandshakeTest, KeysAreBase64OfSixteenBytes) {
  const uint8_t nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                             'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};
  EXPECT_EQ(WsKeyFromNonce(nonce), kRfcKey);
  absl::StatusOr<std::string> a = RandomWsKey();
  absl::StatusOr<std::string> b = RandomWsKey();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 24u);
  EXPECT_NE(*a, *b);
}

TEST(WsHandshakeTest, RequestHasEveryRequiredHeader) {
  std::string request = BuildWsHandshakeRequest("127.0.0.1:8000", "/connection/websocket", kRfcKey,
                                                "Origin: http://bench\r\n");
  EXPECT_EQ(request,
            "GET /connection/websocket HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Origin: http://bench\r\n\r\n");
}

TEST(WsHandshakeTest, AcceptsAGoodAnswerAndLeavesTheFramesAfterIt) {
  std::string response = GoodResponse(kRfcKey);
  std::string with_frame = response + "\x81\x02{}";
  absl::StatusOr<size_t> used = ParseWsHandshakeResponse(with_frame, kRfcKey);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(*used, response.size());

  // Header names and tokens ignore case; Connection may list several tokens.
  std::string relaxed =
      "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, "
      "upgrade\r\nServer: x\r\nsec-websocket-accept:" +
      WebSocketAcceptKey(kRfcKey) + "\r\n\r\n";
  used = ParseWsHandshakeResponse(relaxed, kRfcKey);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(*used, relaxed.size());
}

TEST(WsHandshakeTest, WaitsForTheWholeHeader) {
  std::string response = GoodResponse(kRfcKey);
  for (size_t size = 0; size < response.size(); ++size) {
    absl::StatusOr<size_t> used = ParseWsHandshakeResponse(response.substr(0, size), kRfcKey);
    ASSERT_TRUE(used.ok()) << size << ": " << used.status();
    ASSERT_EQ(*used, 0u) << size;
  }
}

TEST(WsHandshakeTest, RefusesBadAnswers) {
  const std::string accept = WebSocketAcceptKey(kRfcKey);
  struct Case {
    std::string response;
    absl::StatusCode code;
    std::string_view error;
  };
  const Case cases[] = {
      {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", absl::StatusCode::kUnavailable,
       "403 Forbidden"},
      {"HTTP/1.1 1010 Odd\r\n\r\n", absl::StatusCode::kUnavailable, "refused"},
      {"SSH-2.0-OpenSSH\r\n\r\n", absl::StatusCode::kDataLoss, "not HTTP"},
      {"HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n",
       absl::StatusCode::kDataLoss, "Upgrade: websocket"},
      {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n",
       absl::StatusCode::kDataLoss, "Connection: Upgrade"},
      {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
       absl::StatusCode::kDataLoss, "without Sec-WebSocket-Accept"},
      {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: " +
           WebSocketAcceptKey("other") + "\r\n\r\n",
       absl::StatusCode::kDataLoss, "wrong Sec-WebSocket-Accept"},
      {GoodResponse(kRfcKey).insert(17 + 17, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
       absl::StatusCode::kDataLoss, "extension"},
      {"HTTP/1.1 101 OK\r\nno colon here\r\n\r\n", absl::StatusCode::kDataLoss, "malformed"},
      {"HTTP/1.1 101 OK\r\nX: " + std::string(kWsMaxHandshakeResponseBytes, 'y'),
       absl::StatusCode::kResourceExhausted, "longer than"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.response.substr(0, 120));
    absl::StatusOr<size_t> used = ParseWsHandshakeResponse(c.response, kRfcKey);
    EXPECT_EQ(used.status().code(), c.code) << used.status();
    EXPECT_THAT(used.status().message(), HasSubstr(c.error));
  }
}

TEST(WsHandshakeTest, ChecksTheSubprotocolTheServerChose) {
  const std::string with_protobuf =
      GoodResponse(kRfcKey).insert(17 + 17, "Sec-WebSocket-Protocol: centrifuge-protobuf\r\n");
  absl::StatusOr<size_t> used =
      ParseWsHandshakeResponse(with_protobuf, kRfcKey, "centrifuge-protobuf");
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(*used, with_protobuf.size());

  // Offered, but the server answered without it (an edge that speaks JSON
  // only) or with another one.
  used = ParseWsHandshakeResponse(GoodResponse(kRfcKey), kRfcKey, "centrifuge-protobuf");
  EXPECT_EQ(used.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(used.status().message(), HasSubstr("no Sec-WebSocket-Protocol"));
  used = ParseWsHandshakeResponse(with_protobuf, kRfcKey, "centrifuge-json");
  EXPECT_EQ(used.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(used.status().message(), HasSubstr("but centrifuge-protobuf"));
  // Not offered, yet chosen.
  used = ParseWsHandshakeResponse(with_protobuf, kRfcKey);
  EXPECT_EQ(used.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(used.status().message(), HasSubstr("not offered"));
}

}  // namespace
}  // namespace wirehub::bench

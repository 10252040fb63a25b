#include "tools/wirehubctl/ws_url.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::ctl {
namespace {

using ::testing::HasSubstr;

TEST(ParseWebSocketUrlTest, DefaultEdgeUrl) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl("ws://127.0.0.1:8000/connection/websocket");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->family, AF_INET);
  EXPECT_EQ(url->ip, "127.0.0.1");
  EXPECT_EQ(url->port, 8000);
  EXPECT_EQ(url->host_header, "127.0.0.1:8000");
  EXPECT_EQ(url->resource, "/connection/websocket");
}

TEST(ParseWebSocketUrlTest, DefaultsAndVariants) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl("WS://localhost");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->ip, "127.0.0.1");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->host_header, "localhost");
  EXPECT_EQ(url->resource, "/");

  url = ParseWebSocketUrl("ws://[::1]:9000/ws?x=1#frag");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->family, AF_INET6);
  EXPECT_EQ(url->ip, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->host_header, "[::1]:9000");
  EXPECT_EQ(url->resource, "/ws?x=1");

  url = ParseWebSocketUrl("ws://10.0.0.1?token=a");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->resource, "/?token=a");
  EXPECT_EQ(url->port, 80);
}

TEST(ParseWebSocketUrlTest, RefusesWhatItCannotDo) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl("wss://127.0.0.1/");
  EXPECT_EQ(url.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(url.status().message(), HasSubstr("ws:// only"));

  url = ParseWebSocketUrl("ws://edge.example.com:8000/");
  EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(url.status().message(), HasSubstr("names are not resolved"));

  for (const char* bad :
       {"http://127.0.0.1/", "127.0.0.1:8000", "ws://", "ws://:80/", "ws://127.0.0.1:/",
        "ws://127.0.0.1:0/", "ws://127.0.0.1:65536/", "ws://127.0.0.1:8x/", "ws://user@127.0.0.1/",
        "ws://[::1/", "ws://[127.0.0.1]/", "ws://[::1]x/", "ws://127.1/", "ws://127.0.0.1/a b",
        "ws://::1/"}) {
    EXPECT_FALSE(ParseWebSocketUrl(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace wirehub::ctl

#include "tools/wirehubctl/ws_url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::ctl {
namespace {

using ::testing::HasSubstr;

TEST(ParseWebSocketUrlTest, DefaultEdgeUrl) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl("ws://127.0.0.1:8000/connection/websocket");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_FALSE(url->tls);
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8000);
  EXPECT_EQ(url->host_header, "127.0.0.1:8000");
  EXPECT_EQ(url->resource, "/connection/websocket");
  EXPECT_EQ(HostAndPort(*url), "127.0.0.1:8000");
}

TEST(ParseWebSocketUrlTest, DefaultsAndVariants) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl("WS://localhost");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "localhost");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->host_header, "localhost");
  EXPECT_EQ(url->resource, "/");
  EXPECT_EQ(HostAndPort(*url), "localhost:80");

  url = ParseWebSocketUrl("ws://[::1]:9000/ws?x=1#frag");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 9000);
  EXPECT_EQ(url->host_header, "[::1]:9000");
  EXPECT_EQ(url->resource, "/ws?x=1");
  EXPECT_EQ(HostAndPort(*url), "[::1]:9000");

  url = ParseWebSocketUrl("ws://10.0.0.1?token=a");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->resource, "/?token=a");
  EXPECT_EQ(url->port, 80);
}

TEST(ParseWebSocketUrlTest, WssDefaultsToPort443) {
  absl::StatusOr<WebSocketUrl> url =
      ParseWebSocketUrl("wss://wh-wirehub-edge.ns.svc/connection/websocket");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "wh-wirehub-edge.ns.svc");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->host_header, "wh-wirehub-edge.ns.svc");
  EXPECT_EQ(url->resource, "/connection/websocket");
  EXPECT_EQ(HostAndPort(*url), "wh-wirehub-edge.ns.svc:443");

  url = ParseWebSocketUrl("WSS://[::1]");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->host_header, "[::1]");
  EXPECT_EQ(HostAndPort(*url), "[::1]:443");

  url = ParseWebSocketUrl("wss://127.0.0.1:8443/");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, 8443);
}

TEST(ParseWebSocketUrlTest, HostNames) {
  for (const char* text :
       {"ws://wh-wirehub-edge.ns.svc:80/connection/websocket", "ws://edge.example.com:8000/",
        "ws://EDGE_1.internal/", "wss://svc.cluster.local./", "ws://a/", "ws://1a.example/"}) {
    absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl(text);
    EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  }
  absl::StatusOr<WebSocketUrl> url =
      ParseWebSocketUrl("ws://wh-wirehub-edge.ns.svc:80/connection/websocket");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "wh-wirehub-edge.ns.svc");
  EXPECT_EQ(url->port, 80);
  EXPECT_EQ(url->host_header, "wh-wirehub-edge.ns.svc:80");
}

TEST(ParseWebSocketUrlTest, RefusesMalformedUrls) {
  absl::StatusOr<WebSocketUrl> url = ParseWebSocketUrl("ws://127.1/");
  EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(url.status().message(), HasSubstr("not one"));

  url = ParseWebSocketUrl("ws://edge..example/");
  EXPECT_THAT(url.status().message(), HasSubstr("empty label"));

  url = ParseWebSocketUrl("ws://edge!example/");
  EXPECT_THAT(url.status().message(), HasSubstr("host name"));

  for (const char* bad : {"http://127.0.0.1/",
                          "https://127.0.0.1/",
                          "127.0.0.1:8000",
                          "ws://",
                          "wss://",
                          "ws://:80/",
                          "wss://:443/",
                          "ws://127.0.0.1:/",
                          "ws://127.0.0.1:0/",
                          "ws://127.0.0.1:65536/",
                          "ws://127.0.0.1:8x/",
                          "ws://user@127.0.0.1/",
                          "wss://user:pw@edge.example/",
                          "ws://[::1/",
                          "ws://[127.0.0.1]/",
                          "ws://[::1]x/",
                          "ws://[edge.example]/",
                          "ws://127.1/",
                          "ws://1.2.3.4.5/",
                          "ws://127.0.0.1/a b",
                          "ws://::1/",
                          "ws://.edge/",
                          "ws://edge..x/",
                          "ws://ed ge/",
                          "ws://edge%41/",
                          "ws://edge.example:-1/"}) {
    EXPECT_FALSE(ParseWebSocketUrl(bad).ok()) << bad;
  }
}

TEST(IsIpAddressTest, NumericOnly) {
  EXPECT_TRUE(IsIpAddress("127.0.0.1"));
  EXPECT_TRUE(IsIpAddress("::1"));
  EXPECT_TRUE(IsIpAddress("fd00::2"));
  EXPECT_FALSE(IsIpAddress("localhost"));
  EXPECT_FALSE(IsIpAddress("[::1]"));
  EXPECT_FALSE(IsIpAddress("127.1"));
}

}  // namespace
}  // namespace wirehub::ctl

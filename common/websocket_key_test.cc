#include "common/websocket_key.h"

#include "gtest/gtest.h"

namespace wirehub {
namespace {

TEST(WebSocketKeyTest, Rfc6455Example) {
  // RFC 6455 section 1.3.
  EXPECT_EQ(WebSocketAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(WebSocketKeyTest, Base64PadsAndUsesTheStandardAlphabet) {
  // RFC 4648 section 10 test vectors.
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode("\xfb\xff"), "+/8=");
}

}  // namespace
}  // namespace wirehub

#include "edge/origin_policy.h"

#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

OriginPolicy Make(std::vector<std::string> allowed) {
  absl::StatusOr<OriginPolicy> policy = OriginPolicy::Create(allowed);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : OriginPolicy();
}

TEST(OriginPolicyTest, WithoutEntriesOnlySameOriginPasses) {
  OriginPolicy policy;
  EXPECT_TRUE(policy.Allows("http://127.0.0.1:8000", "127.0.0.1:8000"));
  EXPECT_TRUE(policy.Allows("https://Chat.Example.com", "chat.example.com"));
  EXPECT_FALSE(policy.Allows("https://evil.example", "chat.example.com"));
  // Another port is another origin.
  EXPECT_FALSE(policy.Allows("http://127.0.0.1:9000", "127.0.0.1:8000"));
  EXPECT_FALSE(policy.Allows("http://127.0.0.1:8000", ""));
  EXPECT_FALSE(policy.Allows("null", "127.0.0.1:8000"));
}

TEST(OriginPolicyTest, NoOriginAlwaysPasses) {
  EXPECT_TRUE(OriginPolicy().Allows("", "example.com"));
  EXPECT_TRUE(Make({"https://app.example.com"}).Allows("", "edge.example.com"));
}

TEST(OriginPolicyTest, ExactEntries) {
  OriginPolicy policy = Make({"https://app.example.com", "http://localhost:3000"});
  EXPECT_TRUE(policy.Allows("https://app.example.com", "edge.example.com"));
  EXPECT_TRUE(policy.Allows("HTTPS://APP.EXAMPLE.COM", "edge.example.com"));
  EXPECT_TRUE(policy.Allows("http://localhost:3000", "edge"));
  EXPECT_FALSE(policy.Allows("http://app.example.com", "edge.example.com"));
  EXPECT_FALSE(policy.Allows("https://app.example.com:8443", "edge.example.com"));
  EXPECT_FALSE(policy.Allows("https://app.example.com.evil.example", "edge.example.com"));
  EXPECT_FALSE(policy.Allows("http://localhost:3001", "edge"));
  // With entries, same-origin is not implied.
  EXPECT_FALSE(policy.Allows("https://edge.example.com", "edge.example.com"));
}

TEST(OriginPolicyTest, WildcardMatchesOneLabel) {
  OriginPolicy policy = Make({"https://*.example.com"});
  EXPECT_TRUE(policy.Allows("https://a.example.com", "edge"));
  EXPECT_FALSE(policy.Allows("https://a.b.example.com", "edge"));
  EXPECT_FALSE(policy.Allows("https://example.com", "edge"));
  EXPECT_FALSE(policy.Allows("https://evilexample.com", "edge"));
  EXPECT_FALSE(policy.Allows("http://a.example.com", "edge"));
  EXPECT_FALSE(policy.Allows("https://a.example.com:444", "edge"));
}

TEST(OriginPolicyTest, StarAllowsAnyOrigin) {
  OriginPolicy policy = Make({"*"});
  EXPECT_TRUE(policy.Allows("https://evil.example", "edge"));
  EXPECT_TRUE(policy.Allows("null", "edge"));
}

TEST(OriginPolicyTest, RefusesMalformedEntries) {
  for (const char* bad :
       {"example.com", "https://", "https://a.com/path", "https://*", "https://a.*.com", "://a.com",
        "1http://a.com", "https://a.com:", "https://user@a.com"}) {
    absl::StatusOr<OriginPolicy> policy = OriginPolicy::Create({bad});
    ASSERT_FALSE(policy.ok()) << bad;
    EXPECT_NE(policy.status().message().find(bad), std::string::npos);
  }
}

}  // namespace
}  // namespace wirehub::edge

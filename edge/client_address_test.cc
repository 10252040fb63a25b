#include "edge/client_address.h"

#include "gtest/gtest.h"

namespace wirehub::edge {
namespace {

IpAddress Ip(std::string_view text) {
  std::optional<IpAddress> address = IpAddress::Parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress());
}

TEST(IpAddressTest, ParsesBothFamilies) {
  EXPECT_EQ(Ip("192.0.2.1").ToString(), "192.0.2.1");
  EXPECT_TRUE(Ip("192.0.2.1").is_v4());
  EXPECT_EQ(Ip("[2001:db8::1]").ToString(), "2001:db8::1");
  EXPECT_FALSE(Ip("2001:db8::1").is_v4());
  EXPECT_EQ(Ip("::ffff:192.0.2.1"), Ip("192.0.2.1"));
  for (const char* bad : {"", "1.2.3", "256.1.1.1", "example.com", "1.2.3.4:80", "::g"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
  }
}

TEST(IpAddressTest, LimitKeyGroupsIpv6By64) {
  EXPECT_EQ(Ip("192.0.2.1").LimitKey(), "192.0.2.1");
  EXPECT_EQ(Ip("2001:db8:1:2:3:4:5:6").LimitKey(), Ip("2001:db8:1:2:ffff::1").LimitKey());
  EXPECT_NE(Ip("2001:db8:1:2::1").LimitKey(), Ip("2001:db8:1:3::1").LimitKey());
  EXPECT_EQ(Ip("2001:db8:1:2::1").LimitKey(), "2001:db8:1:2::/64");
}

TEST(TrustedProxiesTest, ContainsRanges) {
  absl::StatusOr<TrustedProxies> proxies =
      TrustedProxies::Create({"10.0.0.0/8", "192.0.2.7", "fd00::/8", "172.16.0.0/12"});
  ASSERT_TRUE(proxies.ok()) << proxies.status();
  EXPECT_TRUE(proxies->Contains(Ip("10.1.2.3")));
  EXPECT_FALSE(proxies->Contains(Ip("11.0.0.1")));
  EXPECT_TRUE(proxies->Contains(Ip("192.0.2.7")));
  EXPECT_FALSE(proxies->Contains(Ip("192.0.2.8")));
  EXPECT_TRUE(proxies->Contains(Ip("fd12::1")));
  EXPECT_FALSE(proxies->Contains(Ip("fe80::1")));
  EXPECT_TRUE(proxies->Contains(Ip("172.31.255.255")));
  EXPECT_FALSE(proxies->Contains(Ip("172.32.0.0")));
}

TEST(TrustedProxiesTest, RefusesBadEntries) {
  for (const char* bad :
       {"10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/x", "proxy", "10.0.0.0/-1"}) {
    absl::StatusOr<TrustedProxies> proxies = TrustedProxies::Create({bad});
    EXPECT_FALSE(proxies.ok()) << bad;
  }
}

TEST(TrustedProxiesTest, ResolvesForwardedFor) {
  TrustedProxies proxies = *TrustedProxies::Create({"127.0.0.1", "10.0.0.0/8"});
  // An untrusted peer's header is ignored.
  EXPECT_EQ(proxies.Resolve(Ip("192.0.2.9"), "198.51.100.1").ToString(), "192.0.2.9");
  // A trusted peer: the right-most untrusted hop.
  EXPECT_EQ(proxies.Resolve(Ip("127.0.0.1"), "198.51.100.1").ToString(), "198.51.100.1");
  EXPECT_EQ(proxies.Resolve(Ip("127.0.0.1"), "6.6.6.6, 198.51.100.1, 10.1.1.1").ToString(),
            "198.51.100.1");
  // Garbage ends the walk at the last good address.
  EXPECT_EQ(proxies.Resolve(Ip("127.0.0.1"), "junk, 10.1.1.1").ToString(), "10.1.1.1");
  EXPECT_EQ(proxies.Resolve(Ip("127.0.0.1"), "").ToString(), "127.0.0.1");
  EXPECT_EQ(proxies.Resolve(Ip("127.0.0.1"), "2001:db8::5").ToString(), "2001:db8::5");
}

}  // namespace
}  // namespace wirehub::edge

#include "edge/channel_authorizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "common/jwt.h"

namespace wirehub::edge {
namespace {

constexpr char kSecret[] = "authorizer-test-secret";

class ChannelAuthorizerTest : public ::testing::Test {
 protected:
  std::string SubToken(std::string user, std::string channel, std::string tenant = "",
                       absl::Duration ttl = absl::Hours(1)) {
    TokenSpec spec;
    spec.subject = std::move(user);
    spec.channel = std::move(channel);
    spec.tenant = std::move(tenant);
    spec.issued_at = now_ - absl::Minutes(1);
    spec.expires_at = now_ + ttl;
    spec.info_json = R"({"role":"member"})";
    return MintToken(kSecret, spec);
  }
  std::string ConnToken(std::string user) {
    TokenSpec spec;
    spec.subject = std::move(user);
    spec.issued_at = now_ - absl::Minutes(1);
    spec.expires_at = now_ + absl::Hours(1);
    return MintToken(kSecret, spec);
  }

  absl::Time now_ = absl::FromUnixSeconds(1'900'000'000);
  JwtVerifier verifier_{kSecret};
  ChannelAuthorizer authorizer_{&verifier_, "", ""};
  config::v1::NamespaceOptions closed_;
};

TEST_F(ChannelAuthorizerTest, ClosedNamespaceDeniesPlainSubscribe) {
  ConnectionIdentity who{"42", "", nullptr};
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe(who, "room:1", closed_, "", now_).status()));
}

TEST_F(ChannelAuthorizerTest, PublicNamespaceAllowsUsersButNotAnonymousByDefault) {
  config::v1::NamespaceOptions open;
  open.set_allow_subscribe_for_client(true);
  EXPECT_TRUE(authorizer_.AuthorizeSubscribe({"42", "", nullptr}, "news:1", open, "", now_).ok());
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe({"", "", nullptr}, "news:1", open, "", now_).status()));
  open.set_allow_subscribe_for_anonymous(true);
  EXPECT_TRUE(authorizer_.AuthorizeSubscribe({"", "", nullptr}, "news:1", open, "", now_).ok());
}

TEST_F(ChannelAuthorizerTest, TokenChannelsAllow) {
  absl::flat_hash_set<std::string> listed = {"room:7"};
  ConnectionIdentity who{"42", "", &listed};
  EXPECT_TRUE(authorizer_.AuthorizeSubscribe(who, "room:7", closed_, "", now_).ok());
  EXPECT_FALSE(authorizer_.AuthorizeSubscribe(who, "room:8", closed_, "", now_).ok());
}

TEST_F(ChannelAuthorizerTest, UserLimitedChannels) {
  config::v1::NamespaceOptions limited;
  limited.set_allow_user_limited_channels(true);
  limited.set_allow_subscribe_for_client(true);  // Public must not open '#'.
  EXPECT_TRUE(
      authorizer_.AuthorizeSubscribe({"42", "", nullptr}, "personal:inbox#42", limited, "", now_)
          .ok());
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe({"43", "", nullptr}, "personal:inbox#42", limited, "", now_)
          .status()));
  EXPECT_TRUE(
      authorizer_.AuthorizeSubscribe({"43", "", nullptr}, "dialog:x#42,43", limited, "", now_)
          .ok());
  EXPECT_FALSE(
      authorizer_.AuthorizeSubscribe({"4", "", nullptr}, "dialog:x#42,43", limited, "", now_).ok());
  // Without the option a '#' channel is just a name (closed here).
  EXPECT_FALSE(
      authorizer_.AuthorizeSubscribe({"42", "", nullptr}, "personal:inbox#42", closed_, "", now_)
          .ok());
}

TEST(UserLimitedAllowsTest, Matching) {
  EXPECT_TRUE(ChannelAuthorizer::UserLimitedAllows("a#1", "1"));
  EXPECT_FALSE(ChannelAuthorizer::UserLimitedAllows("a#1", "11"));
  EXPECT_FALSE(ChannelAuthorizer::UserLimitedAllows("a#11", "1"));
  EXPECT_FALSE(ChannelAuthorizer::UserLimitedAllows("a#", ""));
  EXPECT_FALSE(ChannelAuthorizer::UserLimitedAllows("a", "a"));
  EXPECT_TRUE(ChannelAuthorizer::UserLimitedAllows("a#1,2,3", "3"));
}

TEST_F(ChannelAuthorizerTest, SubscriptionTokenForThisChannelUserAndTenant) {
  ConnectionIdentity who{"42", "", nullptr};
  absl::StatusOr<SubscribeGrant> grant =
      authorizer_.AuthorizeSubscribe(who, "room:1", closed_, SubToken("42", "room:1"), now_);
  ASSERT_TRUE(grant.ok()) << grant.status();
  EXPECT_EQ(grant->chan_info, R"({"role":"member"})");
  EXPECT_EQ(grant->expires_at, now_ + absl::Hours(1));
  // Another channel, user or tenant.
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe(who, "room:2", closed_, SubToken("42", "room:1"), now_)
          .status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe(who, "room:1", closed_, SubToken("43", "room:1"), now_)
          .status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe(who, "room:1", closed_, SubToken("42", "room:1", "acme"), now_)
          .status()));
  ConnectionIdentity acme{"42", "acme", nullptr};
  EXPECT_TRUE(
      authorizer_
          .AuthorizeSubscribe(acme, "room:1", closed_, SubToken("42", "room:1", "acme"), now_)
          .ok());
}

TEST_F(ChannelAuthorizerTest, ConnectionTokenIsNotASubscriptionToken) {
  ConnectionIdentity who{"42", "", nullptr};
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe(who, "room:1", closed_, ConnToken("42"), now_).status()));
}

TEST_F(ChannelAuthorizerTest, ExpiredSubscriptionTokenAsksForAFreshOne) {
  ConnectionIdentity who{"42", "", nullptr};
  std::string token = SubToken("42", "room:1", "", absl::Seconds(10));
  EXPECT_TRUE(absl::IsDeadlineExceeded(
      authorizer_.AuthorizeSubscribe(who, "room:1", closed_, token, now_ + absl::Minutes(1))
          .status()));
}

TEST_F(ChannelAuthorizerTest, BadTokenDeniesEvenOnPublicChannel) {
  config::v1::NamespaceOptions open;
  open.set_allow_subscribe_for_client(true);
  EXPECT_TRUE(absl::IsPermissionDenied(
      authorizer_.AuthorizeSubscribe({"42", "", nullptr}, "news:1", open, "garbage", now_)
          .status()));
}

TEST(PermissionTest, PublishHistoryPresence) {
  config::v1::NamespaceOptions options;
  EXPECT_FALSE(ChannelAuthorizer::CanPublish(options, true));
  options.set_allow_publish_for_subscriber(true);
  EXPECT_TRUE(ChannelAuthorizer::CanPublish(options, true));
  EXPECT_FALSE(ChannelAuthorizer::CanPublish(options, false));
  options.set_allow_publish_for_client(true);
  EXPECT_TRUE(ChannelAuthorizer::CanPublish(options, false));

  EXPECT_FALSE(ChannelAuthorizer::CanReadHistory(options, true));
  options.set_history_size(10);
  options.set_allow_history_for_subscriber(true);
  EXPECT_TRUE(ChannelAuthorizer::CanReadHistory(options, true));
  EXPECT_FALSE(ChannelAuthorizer::CanReadHistory(options, false));

  options.set_allow_presence_for_subscriber(true);
  EXPECT_FALSE(ChannelAuthorizer::CanReadPresence(options, true));
  options.set_presence(true);
  EXPECT_TRUE(ChannelAuthorizer::CanReadPresence(options, true));
  EXPECT_FALSE(ChannelAuthorizer::CanReadPresence(options, false));
}

}  // namespace
}  // namespace wirehub::edge

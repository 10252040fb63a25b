#include "control/api_key_set.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;

std::string HexSha256(std::string_view key) {
  std::array<uint8_t, 32> digest = Sha256(key);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

config::v1::Config Keys() {
  config::v1::Config config;
  config::v1::ApiKey* full = config.add_api_keys();
  full->set_name("ops");
  full->set_sha256(HexSha256("wh_full"));
  config::v1::ApiKey* publisher = config.add_api_keys();
  publisher->set_name("publisher");
  publisher->set_sha256(HexSha256("wh_publish"));
  publisher->set_scope("publish");
  config::v1::ApiKey* acme = config.add_api_keys();
  acme->set_name("acme-backend");
  acme->set_sha256(HexSha256("wh_acme"));
  acme->set_tenant("acme");
  acme->set_scope("full");
  return config;
}

TEST(ApiKeySetTest, Sha256OfAKnownInput) {
  EXPECT_EQ(HexSha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ApiKeySetTest, EmptySetLetsEveryCallThrough) {
  ApiKeySet keys;
  EXPECT_TRUE(keys.empty());
  absl::StatusOr<const ApiKey*> key = keys.Authorize(std::nullopt, "Disconnect", ApiScope::kFull);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, nullptr);
  EXPECT_TRUE(ApiKeySet::CheckTenant(*key, "Stats", nullptr).ok());
}

TEST(ApiKeySetTest, MissingWrongAndUnknownKeysAreUnauthenticated) {
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(Keys().api_keys(), "config.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  for (std::optional<std::string_view> header :
       {std::optional<std::string_view>(), std::optional<std::string_view>("Bearer wh_full"),
        std::optional<std::string_view>("apikey"), std::optional<std::string_view>("apikey wh_"),
        std::optional<std::string_view>("apikeywh_full")}) {
    absl::StatusOr<const ApiKey*> key = keys->Authorize(header, "Publish", ApiScope::kPublish);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kUnauthenticated) << header.value_or("(none)");
  }
  EXPECT_THAT(std::string(keys->Authenticate(std::nullopt).status().message()),
              HasSubstr("authorization: apikey KEY"));
  EXPECT_EQ(keys->Authenticate("apikey nope").status().message(), "unknown API key");
}

TEST(ApiKeySetTest, KnownKeyIsFoundWhateverTheSchemeCase) {
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(Keys().api_keys(), "config.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  absl::StatusOr<const ApiKey*> key = keys->Authenticate("ApiKey  wh_publish ");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->name, "publisher");
  EXPECT_EQ((*key)->scope, ApiScope::kPublish);
}

TEST(ApiKeySetTest, PublishKeyMayPublishButNotDisconnect) {
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(Keys().api_keys(), "config.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->Authorize("apikey wh_publish", "Publish", ApiScope::kPublish).ok());
  absl::StatusOr<const ApiKey*> denied =
      keys->Authorize("apikey wh_publish", "Disconnect", ApiScope::kFull);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("'publisher'"));
  EXPECT_THAT(std::string(denied.status().message()), HasSubstr("Disconnect"));
  EXPECT_TRUE(keys->Authorize("apikey wh_full", "Disconnect", ApiScope::kFull).ok());
}

TEST(ApiKeySetTest, TenantKeyIsConfinedToItsTenant) {
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(Keys().api_keys(), "config.json");
  ASSERT_TRUE(keys.ok()) << keys.status();
  absl::StatusOr<const ApiKey*> acme =
      keys->Authorize("apikey wh_acme", "Publish", ApiScope::kFull);
  ASSERT_TRUE(acme.ok());
  const std::string own = "acme";
  const std::string other = "globex";
  const std::string none;
  EXPECT_TRUE(ApiKeySet::CheckTenant(*acme, "Publish", &own).ok());
  absl::Status wrong = ApiKeySet::CheckTenant(*acme, "Publish", &other);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(wrong.message()), HasSubstr("tenant 'globex'"));
  EXPECT_EQ(ApiKeySet::CheckTenant(*acme, "Publish", &none).code(),
            absl::StatusCode::kPermissionDenied);
  absl::Status wide = ApiKeySet::CheckTenant(*acme, "Stats", nullptr);
  EXPECT_EQ(wide.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(wide.message()), HasSubstr("spans every tenant"));
  // A key without a tenant may name any.
  absl::StatusOr<const ApiKey*> ops = keys->Authorize("apikey wh_full", "Stats", ApiScope::kFull);
  ASSERT_TRUE(ops.ok());
  EXPECT_TRUE(ApiKeySet::CheckTenant(*ops, "Publish", &other).ok());
  EXPECT_TRUE(ApiKeySet::CheckTenant(*ops, "Stats", nullptr).ok());
}

TEST(ApiKeySetTest, ConfigErrorsNameTheEntryAndTheProblem) {
  struct Case {
    std::string name, sha256, tenant, scope, expected;
  };
  const std::string good = HexSha256("k");
  std::string upper = good;
  upper[0] = 'A';
  const Case cases[] = {
      {"", good, "", "", "api_keys[0]: name is required"},
      {"a", "abc", "", "", "64 lower-case hex digits, got 3"},
      {"a", upper, "", "", "lower-case hex digits"},
      {"a", good, "bad|tenant", "", "api_keys[0] (\"a\"): tenant"},
      {"a", good, "", "admin", "scope must be \"publish\" or \"full\", not \"admin\""},
  };
  for (const Case& c : cases) {
    config::v1::Config config;
    config::v1::ApiKey* key = config.add_api_keys();
    key->set_name(c.name);
    key->set_sha256(c.sha256);
    key->set_tenant(c.tenant);
    key->set_scope(c.scope);
    absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(config.api_keys(), "f.json");
    ASSERT_FALSE(keys.ok()) << c.expected;
    EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(keys.status().message()), HasSubstr("f.json: "));
    EXPECT_THAT(std::string(keys.status().message()), HasSubstr(c.expected));
  }
  config::v1::Config twice = Keys();
  twice.mutable_api_keys(1)->set_name("ops");
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(twice.api_keys(), "f.json");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(std::string(keys.status().message()),
              HasSubstr("api_keys[1] (\"ops\"): name is used by an earlier key"));
  config::v1::Config same_hash = Keys();
  same_hash.mutable_api_keys(1)->set_sha256(same_hash.api_keys(0).sha256());
  EXPECT_FALSE(ApiKeySet::FromConfig(same_hash.api_keys(), "f.json").ok());
}

}  // namespace
}  // namespace wirehub::control

#include "control/request_validation.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ChannelKeyForTest, DefaultSpaceKeyIsTheChannel) {
  absl::StatusOr<std::string> key = ChannelKeyFor("", "chat:1");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "chat:1");
}

TEST(ChannelKeyForTest, TenantKeyHasTheTenantInFront) {
  absl::StatusOr<std::string> key = ChannelKeyFor("acme", "chat:1");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "acme|chat:1");
}

TEST(ChannelKeyForTest, BadTenantIsInvalidArgumentNamingTenant) {
  for (const std::string& tenant :
       std::vector<std::string>{"a|b", "sp ace", std::string(65, 't'), "x:y"}) {
    SCOPED_TRACE(tenant);
    absl::StatusOr<std::string> key = ChannelKeyFor(tenant, "chat:1");
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(key.status().message()), StartsWith("tenant"));
  }
}

TEST(ChannelKeyForTest, ChannelWithSeparatorIsRefused) {
  // No channel name can reach another tenant's key.
  absl::StatusOr<std::string> key = ChannelKeyFor("", "acme|chat:1");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("channel name"));
}

TEST(ValidateChannelKeyTest, AcceptsKeysOfBothSpaces) {
  EXPECT_TRUE(ValidateChannelKey("chat:1").ok());
  EXPECT_TRUE(ValidateChannelKey("acme|chat:1").ok());
}

TEST(ValidateChannelKeyTest, RefusesMalformedKeys) {
  for (const char* key : {"", "|chat:1", "acme|", "a b|chat", "acme|chat|x", "acme|bad channel"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(ValidateChannelKey(key).code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ValidatePublicationDataTest, ChecksSizeAndJson) {
  EXPECT_TRUE(ValidatePublicationData(R"({"a":1})", 64).ok());
  absl::Status too_big = ValidatePublicationData(std::string(70, '1'), 64);
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("64"));
  absl::Status not_json = ValidatePublicationData("{oops", 64);
  EXPECT_EQ(not_json.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(not_json.message()), HasSubstr("JSON"));
}

}  // namespace
}  // namespace wirehub::control

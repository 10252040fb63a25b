#include "control/request_validation.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
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

config::v1::NamespaceOptions BinaryOptions(bool binary) {
  config::v1::NamespaceOptions options;
  options.set_binary_data(binary);
  return options;
}

TEST(ValidateChannelDataTest, BinaryNamespaceTakesAnyBytesWithinTheLimit) {
  const config::v1::NamespaceOptions binary = BinaryOptions(true);
  const std::string bytes("\x00\xff\n{oops", 8);
  EXPECT_TRUE(ValidateChannelData("bin:1", &binary, bytes, 64).ok());
  EXPECT_TRUE(ValidateChannelData("bin:1", &binary, "", 64).ok());
  EXPECT_TRUE(ValidateChannelData("bin:1", &binary, R"({"a":1})", 64).ok());
  EXPECT_TRUE(ValidateChannelData("bin:1", &binary, std::string(64, '\xff'), 64).ok());
  absl::Status too_big = ValidateChannelData("bin:1", &binary, std::string(65, '\0'), 64);
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(too_big.message(), "data is 65 bytes, over the limit of 64 bytes");
}

TEST(ValidateChannelDataTest, JsonNamespaceNamesTheChannelAndItsNamespace) {
  const config::v1::NamespaceOptions json = BinaryOptions(false);
  EXPECT_TRUE(ValidateChannelData("chat:1", &json, "[1]", 64).ok());
  absl::Status status = ValidateChannelData("chat:1", &json, std::string("\x00\xff", 2), 64);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), StartsWith("data: invalid JSON"));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(R"(; channel chat:1 is in namespace "chat", which takes JSON only)"
                        " (binary_data is off)"));
  absl::Status plain = ValidateChannelData("news", &json, "nope", 64);
  EXPECT_THAT(std::string(plain.message()),
              HasSubstr("channel news has no namespace, and defaults take JSON only"));
  // The size is reported alone, and an unknown namespace gets the bare
  // reason (the hub refuses the channel anyway).
  EXPECT_EQ(ValidateChannelData("chat:1", &json, std::string(65, 'x'), 64).message(),
            "data is 65 bytes, over the limit of 64 bytes");
  absl::Status unknown = ValidateChannelData("nope:1", nullptr, "nope", 64);
  EXPECT_THAT(std::string(unknown.message()), StartsWith("data: invalid JSON"));
  EXPECT_THAT(std::string(unknown.message()), Not(HasSubstr("nope:1")));
  EXPECT_FALSE(ValidateChannelData("nope:1", nullptr, "\xff", 64).ok());
}

}  // namespace
}  // namespace wirehub::control

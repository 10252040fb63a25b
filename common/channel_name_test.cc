#include "common/channel_name.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;

TEST(ChannelNameTest, AcceptsLettersAndDigits) {
  EXPECT_TRUE(ValidateChannelName("news").ok());
  EXPECT_TRUE(ValidateChannelName("Room42").ok());
  EXPECT_TRUE(ValidateChannelName("7").ok());
}

TEST(ChannelNameTest, AcceptsEveryAllowedPunctuationByte) {
  for (char c : std::string("_-:.@#,=/+$!~")) {
    EXPECT_TRUE(ValidateChannelName(std::string("a") + c + "b").ok()) << "byte " << c;
  }
  EXPECT_TRUE(ValidateChannelName("user:42/inbox#main@eu-1.v=2,x+y$z!~").ok());
}

TEST(ChannelNameTest, RejectsEmpty) {
  absl::Status status = ValidateChannelName("");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("empty"));
}

TEST(ChannelNameTest, AcceptsMaximumLength) {
  EXPECT_TRUE(ValidateChannelName(std::string(kMaxChannelNameBytes, 'a')).ok());
}

TEST(ChannelNameTest, RejectsOneByteTooLong) {
  absl::Status status = ValidateChannelName(std::string(kMaxChannelNameBytes + 1, 'a'));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("256 bytes"));
}

TEST(ChannelNameTest, RejectsSpaceAndNamesItsPosition) {
  absl::Status status = ValidateChannelName("ab cd");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("0x20"));
  EXPECT_THAT(status.message(), HasSubstr("position 2"));
}

TEST(ChannelNameTest, ReportsFirstOffendingByte) {
  absl::Status status = ValidateChannelName("a*b?");
  EXPECT_THAT(status.message(), HasSubstr("0x2a"));
  EXPECT_THAT(status.message(), HasSubstr("position 1"));
}

TEST(ChannelNameTest, RejectsDisallowedPunctuation) {
  for (char c : std::string(" \"%&'()*;<>?[\\]^`{|}")) {
    EXPECT_EQ(ValidateChannelName(std::string("a") + c).code(), absl::StatusCode::kInvalidArgument)
        << "byte " << c;
  }
}

TEST(ChannelNameTest, RejectsControlBytes) {
  EXPECT_FALSE(ValidateChannelName(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateChannelName("a\nb").ok());
  EXPECT_FALSE(ValidateChannelName("\x7f").ok());
}

TEST(ChannelNameTest, RejectsNonAsciiBytesWithHexInMessage) {
  absl::Status status = ValidateChannelName("caf\xc3\xa9");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("0xc3"));
  EXPECT_THAT(status.message(), HasSubstr("position 3"));
}

}  // namespace
}  // namespace wirehub

namespace wirehub {
namespace {

TEST(TenantTest, AcceptsAndRefuses) {
  EXPECT_TRUE(ValidateTenant("acme").ok());
  EXPECT_TRUE(ValidateTenant("a-b_c.9").ok());
  EXPECT_FALSE(ValidateTenant("").ok());
  EXPECT_FALSE(ValidateTenant(std::string(65, 'a')).ok());
  EXPECT_FALSE(ValidateTenant("a|b").ok());
  EXPECT_FALSE(ValidateTenant("a:b").ok());
}

TEST(ChannelKeyTest, RoundTrips) {
  EXPECT_EQ(MakeChannelKey("", "chat:1"), "chat:1");
  EXPECT_EQ(MakeChannelKey("acme", "chat:1"), "acme|chat:1");
  ChannelKeyParts parts = SplitChannelKey("acme|chat:1");
  EXPECT_EQ(parts.tenant, "acme");
  EXPECT_EQ(parts.channel, "chat:1");
  parts = SplitChannelKey("chat:1");
  EXPECT_EQ(parts.tenant, "");
  EXPECT_EQ(parts.channel, "chat:1");
}

TEST(ChannelKeyTest, NoValidChannelNameIsATenantKey) {
  // '|' is never a valid channel byte, so a client cannot name a key.
  EXPECT_FALSE(ValidateChannelName("acme|chat:1").ok());
}

}  // namespace
}  // namespace wirehub

#include "common/json_validator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;

TEST(JsonValidatorTest, AcceptsObject) {
  JsonValidator validator;
  EXPECT_TRUE(validator.Validate(R"({"a":[1,2.5,-3e2,true,false,null],"b":{"c":"d"}})").ok());
}

TEST(JsonValidatorTest, AcceptsTopLevelScalars) {
  JsonValidator validator;
  EXPECT_TRUE(validator.Validate("42").ok());
  EXPECT_TRUE(validator.Validate(R"("text")").ok());
  EXPECT_TRUE(validator.Validate("null").ok());
  EXPECT_TRUE(validator.Validate("[]").ok());
}

TEST(JsonValidatorTest, AcceptsSurroundingWhitespace) {
  JsonValidator validator;
  EXPECT_TRUE(validator.Validate(" \t\r\n{\"a\":1}\n \t\r\n").ok());
}

TEST(JsonValidatorTest, AcceptsUtf8Strings) {
  JsonValidator validator;
  EXPECT_TRUE(validator.Validate("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"").ok());
  EXPECT_TRUE(validator.Validate(R"("\u00e9\ud83d\ude00")").ok());
}

TEST(JsonValidatorTest, RejectsEmptyInput) {
  JsonValidator validator;
  absl::Status status = validator.Validate("");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("empty"));
}

TEST(JsonValidatorTest, RejectsWhitespaceOnly) {
  JsonValidator validator;
  EXPECT_EQ(validator.Validate(" \n\t").code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonValidatorTest, RejectsTrailingGarbage) {
  JsonValidator validator;
  EXPECT_EQ(validator.Validate("{} x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(validator.Validate("[1]]").code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonValidatorTest, RejectsTwoDocuments) {
  JsonValidator validator;
  EXPECT_EQ(validator.Validate("1 2").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(validator.Validate("{}{}").code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonValidatorTest, RejectsTrailingNulByte) {
  JsonValidator validator;
  EXPECT_EQ(validator.Validate(std::string("{}\0", 3)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(JsonValidatorTest, RejectsInvalidUtf8) {
  JsonValidator validator;
  absl::Status status = validator.Validate("\"\xff\"");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("UTF-8"));
  // Overlong encoding of '/' and a lone continuation byte.
  EXPECT_FALSE(validator.Validate("\"\xc0\xaf\"").ok());
  EXPECT_FALSE(validator.Validate("\"\x80\"").ok());
}

TEST(JsonValidatorTest, RejectsStructuralErrors) {
  JsonValidator validator;
  EXPECT_FALSE(validator.Validate("{").ok());
  EXPECT_FALSE(validator.Validate(R"({"a":1,})").ok());
  EXPECT_FALSE(validator.Validate(R"({a:1})").ok());
  EXPECT_FALSE(validator.Validate("[1,]").ok());
  EXPECT_FALSE(validator.Validate("'single'").ok());
}

TEST(JsonValidatorTest, RejectsInvalidLiteralsAndNumbers) {
  JsonValidator validator;
  EXPECT_FALSE(validator.Validate("nul").ok());
  EXPECT_FALSE(validator.Validate("True").ok());
  EXPECT_FALSE(validator.Validate("01").ok());
  EXPECT_FALSE(validator.Validate("1.").ok());
  EXPECT_FALSE(validator.Validate("NaN").ok());
}

TEST(JsonValidatorTest, RejectsUnescapedControlCharacterInString) {
  JsonValidator validator;
  EXPECT_FALSE(validator.Validate("\"a\nb\"").ok());
}

TEST(JsonValidatorTest, ReusableAfterError) {
  JsonValidator validator;
  EXPECT_FALSE(validator.Validate("{").ok());
  EXPECT_TRUE(validator.Validate(R"({"ok":true})").ok());
  // A larger document after a small one grows the reused buffers.
  std::string big = "[";
  for (int i = 0; i < 10000; ++i) big += "1,";
  big += "1]";
  EXPECT_TRUE(validator.Validate(big).ok());
  EXPECT_TRUE(validator.Validate("0").ok());
}

TEST(JsonValidatorTest, DoesNotReadPastTheView) {
  JsonValidator validator;
  // Only the first two bytes are the document; the rest must be ignored.
  std::string storage = "{}garbage";
  EXPECT_TRUE(validator.Validate(std::string_view(storage.data(), 2)).ok());
}

}  // namespace
}  // namespace wirehub

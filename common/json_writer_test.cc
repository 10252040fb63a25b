#include "common/json_writer.h"

#include <string>

#include "gtest/gtest.h"

namespace wirehub {
namespace {

std::string Quote(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

TEST(AppendJsonStringTest, QuotesPlainText) { EXPECT_EQ(Quote("chat:1"), "\"chat:1\""); }

TEST(AppendJsonStringTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Quote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
}

TEST(AppendJsonStringTest, KeepsUtf8) { EXPECT_EQ(Quote("h\xC3\xA9"), "\"h\xC3\xA9\""); }

}  // namespace
}  // namespace wirehub

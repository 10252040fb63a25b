#include "common/log_flags.h"

#include "absl/flags/flag.h"
#include "gtest/gtest.h"

namespace wirehub {
namespace {

class LogFlagsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    absl::SetFlag(&FLAGS_log_format, "text");
    absl::SetFlag(&FLAGS_log_level, "info");
    SetLogFormat(LogFormat::kText);
    SetMinLogSeverity(LogSeverity::kInfo);
  }
};

TEST_F(LogFlagsTest, DefaultsAreTextAndInfo) {
  ASSERT_TRUE(ApplyLogFlags().ok());
  EXPECT_TRUE(LogIsOn(LogSeverity::kInfo));
  EXPECT_FALSE(LogIsOn(LogSeverity::kDebug));
}

TEST_F(LogFlagsTest, LevelApplies) {
  absl::SetFlag(&FLAGS_log_level, "error");
  ASSERT_TRUE(ApplyLogFlags().ok());
  EXPECT_FALSE(LogIsOn(LogSeverity::kWarning));
  EXPECT_TRUE(LogIsOn(LogSeverity::kError));
  absl::SetFlag(&FLAGS_log_level, "debug");
  ASSERT_TRUE(ApplyLogFlags().ok());
  EXPECT_TRUE(LogIsOn(LogSeverity::kDebug));
}

TEST_F(LogFlagsTest, InvalidValuesNameTheFlagAndTheChoices) {
  absl::SetFlag(&FLAGS_log_level, "verbose");
  absl::Status status = ApplyLogFlags();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--log_level=verbose: must be one of debug, info, warning, error");

  absl::SetFlag(&FLAGS_log_level, "warning");
  absl::SetFlag(&FLAGS_log_format, "JSON");
  status = ApplyLogFlags();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--log_format=JSON: must be text or json");
  // Nothing applied from a refused pair.
  EXPECT_TRUE(LogIsOn(LogSeverity::kInfo));
}

TEST(ParseLogTest, Names) {
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_FALSE(ParseLogFormat("").ok());
  EXPECT_EQ(*ParseLogSeverity("warning"), LogSeverity::kWarning);
  EXPECT_FALSE(ParseLogSeverity("warn").ok());
}

}  // namespace
}  // namespace wirehub

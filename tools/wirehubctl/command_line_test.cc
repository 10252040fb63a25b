#include "tools/wirehubctl/command_line.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/cli_test_fixture.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

TEST_F(CliTest, UnknownFlagIsUsageError) {
  EXPECT_EQ(Run({"stats", "--verbose"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unknown flag --verbose"));
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, FlagOfAnotherSubcommandIsUsageError) {
  EXPECT_EQ(Run({"publish", "news", "{}", "--top=3"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--top does not apply to 'publish' (it belongs to 'stats')"));
  EXPECT_EQ(Run({"--user=alice", "stats"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news", "{}", "--json"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--json does not apply to 'publish' (it belongs to 'stats', "
                               "'history', 'presence', 'connections', 'channels' and 'info')"));
  EXPECT_EQ(Run({"stats", "--limit=3"}), kExitUsage);
  EXPECT_EQ(Run({"history-remove", "news", "--reverse"}), kExitUsage);
  EXPECT_EQ(Run({"publish-stream", "--idempotency_key=k"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, BadTimeoutAndControlAreUsageErrors) {
  for (const char* timeout : {"--timeout=0", "--timeout=-1", "--timeout=abc", "--timeout=inf",
                              "--timeout=nan", "--timeout=1e9"}) {
    EXPECT_EQ(Run({timeout, "stats"}), kExitUsage) << timeout;
  }
  EXPECT_EQ(Run({"--control=", "stats"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, ValueFlagWithoutValueIsUsageError) {
  EXPECT_EQ(Run({"stats", "--top"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--top needs a value"));
  EXPECT_EQ(Run({"--control", "--timeout=1", "stats"}), kExitUsage);
}

TEST_F(CliTest, DefaultsToLocalControlAndFiveSeconds) {
  EXPECT_EQ(Run({"publish", "news", "{}"}), kExitOk);
  ASSERT_EQ(connections_.size(), 1u);
  EXPECT_EQ(connections_[0].target, "127.0.0.1:7100");
  EXPECT_EQ(connections_[0].timeout, absl::Seconds(5));
}

TEST_F(CliTest, ControlFromEnvironmentAndFlagOverridesIt) {
  env_["WIREHUB_CONTROL"] = "control.internal:9000";
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_EQ(Run({"stats", "--control=10.1.2.3:7100"}), kExitOk);
  ASSERT_EQ(connections_.size(), 2u);
  EXPECT_EQ(connections_[0].target, "control.internal:9000");
  EXPECT_EQ(connections_[1].target, "10.1.2.3:7100");
}

TEST_F(CliTest, FlagsMayComeBeforeOrAfterSubcommand) {
  EXPECT_EQ(Run({"--control=h:1", "--timeout=2.5", "--idempotency_key=k1", "publish", "c", "{}"}),
            kExitOk);
  EXPECT_EQ(
      Run({"publish", "c", "--control=h:2", "{}", "--timeout", "7", "--idempotency_key", "k2"}),
      kExitOk);
  ASSERT_EQ(connections_.size(), 2u);
  EXPECT_EQ(connections_[0].target, "h:1");
  EXPECT_EQ(connections_[0].timeout, absl::Milliseconds(2500));
  EXPECT_EQ(connections_[1].target, "h:2");
  EXPECT_EQ(connections_[1].timeout, absl::Seconds(7));
  ASSERT_EQ(control_.publishes.size(), 2u);
  EXPECT_EQ(control_.publishes[0].idempotency_key(), "k1");
  EXPECT_EQ(control_.publishes[1].idempotency_key(), "k2");
  EXPECT_EQ(control_.publishes[1].channel(), "c");
  EXPECT_EQ(control_.publishes[1].data(), "{}");
}

TEST_F(CliTest, DoubleDashEndsFlags) {
  EXPECT_EQ(Run({"publish", "--", "news", "--not-a-flag"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].data(), "--not-a-flag");
}

TEST_F(CliTest, NegativeNumberIsAPositional) {
  EXPECT_EQ(Run({"publish", "news", "-5"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].data(), "-5");
}

}  // namespace
}  // namespace wirehub::ctl

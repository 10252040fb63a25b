#include "tools/wirehubctl/cli.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/cli_test_fixture.h"
#include "tools/wirehubctl/subcommand_help.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

TEST_F(CliTest, NoArgumentsIsUsageError) {
  EXPECT_EQ(Run({}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_THAT(err(), AllOf(HasSubstr("missing subcommand"), HasSubstr("publish")));
}

TEST_F(CliTest, UnknownSubcommandIsUsageError) {
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unknown subcommand 'frobnicate'"));
  EXPECT_EQ(Run({"frobnicate", "--help"}), kExitUsage);
  EXPECT_EQ(Run({"help", "frobnicate"}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
}

TEST(SubcommandRunnerTest, EverySubcommandWithHelpHasARunner) {
  for (const SubcommandHelp& help : AllSubcommandHelp()) {
    EXPECT_NE(FindRunner(help.name), nullptr) << help.name;
  }
  EXPECT_EQ(FindRunner("help"), nullptr);
  EXPECT_EQ(FindRunner("nope"), nullptr);
}

}  // namespace
}  // namespace wirehub::ctl

#include "tools/wirehubctl/subcommand_support.h"

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

TEST_F(CliTest, UnavailableControlIsReported) {
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect");
  EXPECT_EQ(Run({"stats"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: failed to connect\n");
}

}  // namespace
}  // namespace wirehub::ctl

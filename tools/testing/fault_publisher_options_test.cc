#include "tools/testing/fault_publisher_options.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::faults {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kRequired = {"--controls=127.0.0.1:1,127.0.0.1:2",
                                            "--channels=chat:f0,chat:f1", "--rate=500",
                                            "--duration=10"};

std::vector<std::string> With(std::vector<std::string> extra) {
  std::vector<std::string> args = kRequired;
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(ParseFaultPublisherArgsTest, ReadsEveryFlag) {
  absl::StatusOr<FaultPublisherOptions> options =
      ParseFaultPublisherArgs(With({"--deadline=2.5", "--key_prefix=case-a", "--max_in_flight=64",
                                    "--batch=8", "--answer_timeout=500ms"}));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_THAT(options->controls, ElementsAre("127.0.0.1:1", "127.0.0.1:2"));
  EXPECT_THAT(options->channels, ElementsAre("chat:f0", "chat:f1"));
  EXPECT_EQ(options->rate, 500);
  EXPECT_EQ(options->duration, absl::Seconds(10));
  EXPECT_EQ(options->deadline, absl::Milliseconds(2500));
  EXPECT_EQ(options->key_prefix, "case-a");
  EXPECT_EQ(options->max_in_flight, 64);
  EXPECT_EQ(options->batch, 8);
  EXPECT_EQ(options->answer_timeout, absl::Milliseconds(500));
  EXPECT_EQ(options->Total(), 5000);
}

TEST(ParseFaultPublisherArgsTest, Defaults) {
  absl::StatusOr<FaultPublisherOptions> options = ParseFaultPublisherArgs(kRequired);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->deadline, absl::Seconds(30));
  EXPECT_EQ(options->key_prefix, "fault");
  EXPECT_EQ(options->max_in_flight, 1000);
  EXPECT_EQ(options->batch, 32);
  EXPECT_EQ(options->answer_timeout, absl::Seconds(5));
}

TEST(ParseFaultPublisherArgsTest, LastOccurrenceWins) {
  absl::StatusOr<FaultPublisherOptions> options = ParseFaultPublisherArgs(With({"--rate=7"}));
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->rate, 7);
}

TEST(ParseFaultPublisherArgsTest, RejectsBadInput) {
  struct Case {
    std::vector<std::string> args;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"--channels=a", "--rate=1", "--duration=1"}, "--controls is required"},
      {{"--controls=h:1", "--rate=1", "--duration=1"}, "--channels is required"},
      {{"--controls=h:1", "--channels=a", "--duration=1"}, "--rate is required"},
      {{"--controls=h:1", "--channels=a", "--rate=1"}, "--duration is required"},
      {With({"--rate=0"}), "--rate"},
      {With({"--rate=fast"}), "--rate"},
      {With({"--rate=nan"}), "--rate"},
      {With({"--duration=-1"}), "--duration"},
      {With({"--deadline=soon"}), "--deadline"},
      {With({"--batch=0"}), "--batch"},
      {With({"--batch=1025"}), "--batch"},
      {With({"--max_in_flight=x"}), "--max_in_flight"},
      {With({"--key_prefix="}), "--key_prefix"},
      {With({"--controls=a:1,,b:2"}), "empty entry"},
      {With({"--verbose=1"}), "unknown flag --verbose"},
      {With({"--rate"}), "needs a value"},
      {With({"extra"}), "unexpected argument 'extra'"},
      {{"--controls=h:1", "--channels=a", "--rate=0.01", "--duration=1"}, "at least one"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<FaultPublisherOptions> options = ParseFaultPublisherArgs(c.args);
    ASSERT_FALSE(options.ok()) << c.error;
    EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(options.status().message()), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace wirehub::faults

#include "tools/bench/token_scenario.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tools/bench/client_group.h"

namespace wirehub::bench {
namespace {

TEST(TokenScenarioTest, DefaultCasesOnePerApi) {
  BenchOptions options;
  absl::StatusOr<std::vector<TokenCaseSpec>> cases = TokenCases(options, /*smoke=*/false);
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 3u);
  EXPECT_EQ((*cases)[0].api, TokenApi::kStream);
  EXPECT_EQ((*cases)[1].api, TokenApi::kMultiplexed);
  EXPECT_EQ((*cases)[2].api, TokenApi::kUnary);
  const TokenCaseSpec& spec = (*cases)[1];
  EXPECT_EQ(spec.scenario, "tokens");
  EXPECT_EQ(spec.name, "1000 conversations @ 30 tokens/s via multiplexed");
  EXPECT_EQ(spec.conversations, 1000u);
  EXPECT_EQ(spec.token_rate, 30);
  EXPECT_EQ(spec.reply_tokens, 100u);
  EXPECT_EQ(spec.duration, absl::Seconds(10));
  EXPECT_EQ(spec.payload_bytes, 40u);
  EXPECT_EQ(spec.streams, 4u);
  EXPECT_FALSE(spec.strict);
}

TEST(TokenScenarioTest, FlagsOverrideTheDefaults) {
  BenchOptions options;
  options.apis = {"stream"};
  options.conversations = 10000;
  options.token_rate = 20;
  options.reply_tokens = 50;
  options.duration = absl::Seconds(5);
  options.streams = 8;
  options.client_processes = 2;
  absl::StatusOr<std::vector<TokenCaseSpec>> cases = TokenCases(options, false);
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 1u);
  EXPECT_EQ((*cases)[0].name, "10000 conversations @ 20 tokens/s via stream");
  EXPECT_EQ((*cases)[0].reply_tokens, 50u);
  EXPECT_EQ((*cases)[0].streams, 8u);
  EXPECT_EQ((*cases)[0].client_processes, 2u);
  options.apis = {"broadcast"};
  EXPECT_EQ(TokenCases(options, false).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenScenarioTest, SmokeIsSmallStrictAndCoversEveryApi) {
  BenchOptions options;
  options.apis = {"unary"};  // the smoke runs every api regardless
  absl::StatusOr<std::vector<TokenCaseSpec>> cases = TokenCases(options, /*smoke=*/true);
  ASSERT_TRUE(cases.ok()) << cases.status();
  ASSERT_EQ(cases->size(), 3u);
  for (const TokenCaseSpec& spec : *cases) {
    EXPECT_EQ(spec.scenario, "smoke");
    EXPECT_TRUE(spec.strict);
    EXPECT_EQ(spec.conversations, 50u);
    EXPECT_LE(spec.duration, absl::Seconds(2));
  }
  EXPECT_EQ((*cases)[1].name, "tokens via multiplexed");
}

TEST(TokenScenarioTest, TenThousandConversationsNeedTwoProcesses) {
  // 1 + i % 3 subscribers: 19,999 clients for 10,000 conversations.
  size_t clients = SubscribersOfChannels(kSubscribersPerConversation, 10000);
  EXPECT_EQ(clients, 19999u);
  EXPECT_EQ(ClientProcessesFor(clients, 19000, 1), 2u);
  EXPECT_EQ(ClientProcessesFor(2000, 19000, 1), 1u);
  EXPECT_EQ(ClientProcessesFor(2000, 19000, 3), 3u);
  EXPECT_GT(ClientsPerProcess(), 0u);
}

}  // namespace
}  // namespace wirehub::bench

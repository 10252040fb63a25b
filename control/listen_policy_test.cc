#include "control/listen_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;

TEST(IsLoopbackAddressTest, LoopbackOnly) {
  for (const char* address : {"127.0.0.1:7100", "127.1.2.3:0", "[::1]:7100", "localhost:7100"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address : {"0.0.0.0:7100", ":7100", "[::]:7100", "10.0.0.1:7100",
                              "control.example.com:7100", "128.0.0.1:1", "[::2]:1", "7100"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

TEST(CheckListenPolicyTest, LoopbackNeedsNothing) {
  std::vector<std::string> warnings;
  EXPECT_TRUE(CheckListenPolicy({"127.0.0.1:7100", "127.0.0.1:7101"}, &warnings).ok());
  EXPECT_TRUE(warnings.empty());
}

TEST(CheckListenPolicyTest, PublicApiNeedsKeysOrTheOverride) {
  std::vector<std::string> warnings;
  ListenPolicyInput input{"0.0.0.0:7100", "127.0.0.1:7101"};
  absl::Status refused = CheckListenPolicy(input, &warnings);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("--grpc_listen=0.0.0.0:7100"));
  EXPECT_THAT(std::string(refused.message()), HasSubstr("--insecure_api"));
  input.has_api_keys = true;
  input.api_tls = true;
  EXPECT_TRUE(CheckListenPolicy(input, &warnings).ok());
  EXPECT_TRUE(warnings.empty());
  // Keys over plaintext beyond loopback start, with a warning.
  input.api_tls = false;
  EXPECT_TRUE(CheckListenPolicy(input, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("API keys cross the network in clear"));
  warnings.clear();
  input.has_api_keys = false;
  input.insecure_api = true;
  EXPECT_TRUE(CheckListenPolicy(input, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("WARNING: --insecure_api"));
}

TEST(CheckListenPolicyTest, PublicEdgeLinkNeedsMutualTlsOrTheOverride) {
  std::vector<std::string> warnings;
  ListenPolicyInput input{"127.0.0.1:7100", "[::]:7101"};
  absl::Status refused = CheckListenPolicy(input, &warnings);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("--edge_tls_client_ca_file"));
  input.edge_mutual_tls = true;
  EXPECT_TRUE(CheckListenPolicy(input, &warnings).ok());
  input.edge_mutual_tls = false;
  input.insecure_edge_link = true;
  EXPECT_TRUE(CheckListenPolicy(input, &warnings).ok());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("WARNING: --insecure_edge_link"));
}

}  // namespace
}  // namespace wirehub::control

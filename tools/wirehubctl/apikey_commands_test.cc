#include "tools/wirehubctl/apikey_commands.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/cli_test_fixture.h"

namespace wirehub::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;

TEST(Sha256HexTest, KnownInput) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(CliTest, ApiKeyPrintsTheKeyItsHashAndTheConfigEntry) {
  ASSERT_EQ(Run({"apikey", "--name=billing", "--tenant=acme", "--scope=publish"}), kExitOk);
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
  // key: wh_ + 43 base64url characters (32 bytes, unpadded).
  EXPECT_THAT(out(),
              MatchesRegex("key: wh_[A-Za-z0-9_-]{43}\n"
                           "sha256: [0-9a-f]{64}\n"
                           "api_keys entry: \\{\"name\":\"billing\",\"sha256\":\"[0-9a-f]{64}\","
                           "\"tenant\":\"acme\",\"scope\":\"publish\"\\}\n"));
  const std::string text = out();
  const std::string key = text.substr(5, text.find('\n') - 5);
  EXPECT_THAT(text, HasSubstr("sha256: " + Sha256Hex(key) + "\n"));
  EXPECT_THAT(text, HasSubstr("\"sha256\":\"" + Sha256Hex(key) + "\""));
}

TEST_F(CliTest, ApiKeyDefaultsAndFreshKeys) {
  ASSERT_EQ(Run({"apikey"}), kExitOk);
  const std::string first = out();
  EXPECT_THAT(first, HasSubstr("\"scope\":\"full\"}"));
  EXPECT_THAT(first, ::testing::Not(HasSubstr("tenant")));
  EXPECT_THAT(first, MatchesRegex("(.|\n)*\\{\"name\":\"key-[0-9a-f]{8}\"(.|\n)*"));
  ASSERT_EQ(Run({"apikey"}), kExitOk);
  EXPECT_NE(out(), first);
}

TEST_F(CliTest, ApiKeyRefusesBadFlags) {
  EXPECT_EQ(Run({"apikey", "--scope=admin"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--scope must be publish or full"));
  EXPECT_EQ(Run({"apikey", "--tenant=a|b"}), kExitUsage);
  EXPECT_EQ(Run({"apikey", "extra"}), kExitUsage);
  EXPECT_EQ(Run({"apikey", "--name="}), kExitUsage);
}

TEST_F(CliTest, ApiKeyAndTlsFlagsReachTheConnection) {
  env_["WIREHUB_API_KEY"] = "from-env";
  ASSERT_EQ(Run({"stats"}), kExitOk);
  ASSERT_EQ(Run({"stats", "--api_key=from-flag", "--tls_ca_file=/ca.pem",
                 "--tls_server_name=control.internal"}),
            kExitOk);
  ASSERT_EQ(connections_.size(), 2u);
  EXPECT_EQ(connections_[0].api_key, "from-env");
  EXPECT_EQ(connections_[0].tls_ca_file, "");
  EXPECT_EQ(connections_[1].api_key, "from-flag");
  EXPECT_EQ(connections_[1].tls_ca_file, "/ca.pem");
  EXPECT_EQ(connections_[1].tls_server_name, "control.internal");
  EXPECT_EQ(Run({"stats", "--tls_server_name=x"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--tls_server_name needs --tls_ca_file"));
  EXPECT_EQ(Run({"stats", "--api_key="}), kExitUsage);
}

}  // namespace
}  // namespace wirehub::ctl

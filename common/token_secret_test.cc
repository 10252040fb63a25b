#include "common/token_secret.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kEnvVar[] = "WIREHUB_TOKEN_HMAC_SECRET";

// Each test starts and ends with the environment variable unset and removes
// the file it wrote.
class TokenSecretTest : public ::testing::Test {
 protected:
  void SetUp() override { ::unsetenv(kEnvVar); }
  void TearDown() override {
    ::unsetenv(kEnvVar);
    if (!path_.empty()) std::remove(path_.c_str());
  }

  // Writes `contents` to a fresh file under the test temp dir.
  std::string WriteFile(const std::string& contents) {
    path_ = ::testing::TempDir() + "/token_secret_test_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << contents;
    return path_;
  }

 private:
  std::string path_;
};

TEST_F(TokenSecretTest, ReadsFileAndStripsTrailingNewline) {
  absl::StatusOr<std::string> secret = LoadTokenSecret(WriteFile("s3cret\n"));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "s3cret");
}

TEST_F(TokenSecretTest, StripsTrailingCrLf) {
  absl::StatusOr<std::string> secret = LoadTokenSecret(WriteFile("s3cret\r\n"));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "s3cret");
}

TEST_F(TokenSecretTest, StripsOnlyOneNewline) {
  absl::StatusOr<std::string> secret = LoadTokenSecret(WriteFile("s3cret\n\n"));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "s3cret\n");
}

TEST_F(TokenSecretTest, KeepsFileWithoutNewlineVerbatim) {
  absl::StatusOr<std::string> secret = LoadTokenSecret(WriteFile(" s3 cret "));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, " s3 cret ");
}

TEST_F(TokenSecretTest, FilePreferredOverEnvironment) {
  ::setenv(kEnvVar, "from-env", 1);
  absl::StatusOr<std::string> secret = LoadTokenSecret(WriteFile("from-file\n"));
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "from-file");
}

TEST_F(TokenSecretTest, FallsBackToEnvironment) {
  ::setenv(kEnvVar, "from-env", 1);
  absl::StatusOr<std::string> secret = LoadTokenSecret("");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "from-env");
}

TEST_F(TokenSecretTest, FailsWhenFileAndEnvironmentMissing) {
  absl::StatusOr<std::string> secret = LoadTokenSecret("");
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(secret.status().message(), HasSubstr(kEnvVar));
}

TEST_F(TokenSecretTest, FailsWhenEnvironmentEmpty) {
  ::setenv(kEnvVar, "", 1);
  EXPECT_EQ(LoadTokenSecret("").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(TokenSecretTest, FailsOnEmptyFileNamingIt) {
  ::setenv(kEnvVar, "from-env", 1);
  const std::string path = WriteFile("\n");
  absl::StatusOr<std::string> secret = LoadTokenSecret(path);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(secret.status().message(), HasSubstr(path));
}

TEST_F(TokenSecretTest, FailsOnMissingFileNamingIt) {
  const std::string path = ::testing::TempDir() + "/token_secret_test_does_not_exist";
  absl::StatusOr<std::string> secret = LoadTokenSecret(path);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(secret.status().message(), HasSubstr(path));
}

TEST_F(TokenSecretTest, ErrorNeverContainsSecret) {
  const std::string path = WriteFile(std::string(70 * 1024, 'k'));
  absl::StatusOr<std::string> secret = LoadTokenSecret(path);
  EXPECT_EQ(secret.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(secret.status().message(), Not(HasSubstr("kkkk")));
}

}  // namespace
}  // namespace wirehub

#include "control/certificate_reloader.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "control/testing/test_pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;
using testing::TestCa;
using testing::TestPair;
using testing::WriteTestFile;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

TEST(ValidateTlsPairTest, AcceptsAMatchingPairAndRefusesOthers) {
  TestCa ca = TestCa::Create("test CA");
  TestPair server = ca.IssueServer();
  TestPair other = ca.IssueServer();
  EXPECT_TRUE(ValidateTlsPair(server.cert_pem, server.key_pem, "cert.pem", "key.pem").ok());

  absl::Status mismatch = ValidateTlsPair(server.cert_pem, other.key_pem, "cert.pem", "key.pem");
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.message()),
              HasSubstr("the private key in key.pem does not match the certificate in cert.pem"));

  TestPair expired = ca.IssueServer(-absl::Hours(1));
  EXPECT_THAT(std::string(ValidateTlsPair(expired.cert_pem, expired.key_pem, "c", "k").message()),
              HasSubstr("has expired"));
  EXPECT_THAT(std::string(ValidateTlsPair("junk", server.key_pem, "c", "k").message()),
              HasSubstr("c: no PEM certificate"));
  EXPECT_THAT(std::string(ValidateTlsPair(server.cert_pem, "junk", "c", "k").message()),
              HasSubstr("k: no PEM private key"));
  // Key material never appears in a message.
  EXPECT_THAT(std::string(mismatch.message()), ::testing::Not(HasSubstr("PRIVATE KEY")));
}

TEST(ValidateCaBundleTest, NeedsACertificate) {
  TestCa ca = TestCa::Create("test CA");
  EXPECT_TRUE(ValidateCaBundle(ca.cert_pem(), "ca.pem").ok());
  EXPECT_FALSE(ValidateCaBundle("", "ca.pem").ok());
}

TEST(CertificateReloaderTest, CreateRefusesAMismatchedPair) {
  TestCa ca = TestCa::Create("test CA");
  TestPair a = ca.IssueServer();
  TestPair b = ca.IssueServer();
  absl::StatusOr<std::unique_ptr<CertificateReloader>> reloader =
      CertificateReloader::Create("API", {WriteTestFile("mismatch-cert.pem", a.cert_pem),
                                          WriteTestFile("mismatch-key.pem", b.key_pem), ""});
  ASSERT_FALSE(reloader.ok());
  EXPECT_THAT(std::string(reloader.status().message()), HasSubstr("does not match"));
}

// Kubernetes mounts a Secret as DIR/cert.pem -> ..data/cert.pem, with
// ..data a symlink swapped atomically to a new timestamped directory.
class SecretDir {
 public:
  SecretDir() : root_(WriteTestFile("secret-root-marker", "")) {
    root_ = root_.substr(0, root_.rfind('/')) + "/secret-" + std::to_string(getpid());
    mkdir(root_.c_str(), 0700);
  }
  void Publish(const TestPair& pair, int version) {
    const std::string dir = absl::StrCat(root_, "/..v", version);
    mkdir(dir.c_str(), 0700);
    std::ofstream(dir + "/tls.crt") << pair.cert_pem;
    std::ofstream(dir + "/tls.key") << pair.key_pem;
    const std::string link = root_ + "/..data_tmp";
    unlink(link.c_str());
    ASSERT_EQ(symlink(absl::StrCat("..v", version).c_str(), link.c_str()), 0);
    ASSERT_EQ(rename(link.c_str(), (root_ + "/..data").c_str()), 0);
    if (version == 1) {
      ASSERT_EQ(symlink("..data/tls.crt", cert().c_str()), 0);
      ASSERT_EQ(symlink("..data/tls.key", key().c_str()), 0);
    }
  }
  std::string cert() const { return root_ + "/tls.crt"; }
  std::string key() const { return root_ + "/tls.key"; }

 private:
  std::string root_;
};

TEST(CertificateReloaderTest, InstallsAGoodSwapAndKeepsTheOldPairOnABadOne) {
  TestCa ca = TestCa::Create("test CA");
  TestPair first = ca.IssueServer();
  TestPair second = ca.IssueServer();
  SecretDir secret;
  secret.Publish(first, 1);
  absl::StatusOr<std::unique_ptr<CertificateReloader>> reloader =
      CertificateReloader::Create("API", {secret.cert(), secret.key(), ""});
  ASSERT_TRUE(reloader.ok()) << reloader.status();
  ASSERT_NE((*reloader)->ServerCredentials(), nullptr);

  // Nothing changed.
  absl::StatusOr<bool> unchanged = (*reloader)->Reload();
  ASSERT_TRUE(unchanged.ok());
  EXPECT_FALSE(*unchanged);

  // A certificate with another pair's key: refused, nothing installed.
  TestPair bad{second.cert_pem, first.key_pem};
  secret.Publish(bad, 2);
  absl::StatusOr<bool> refused = (*reloader)->Reload();
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("does not match"));
  EXPECT_THAT(Slurp((*reloader)->identity_path()), HasSubstr(first.cert_pem));
  // Logged once, refused again while the files stay bad.
  EXPECT_FALSE((*reloader)->Reload().ok());

  // The good new pair is installed.
  secret.Publish(second, 3);
  absl::StatusOr<bool> reloaded = (*reloader)->Reload();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(*reloaded);
  const std::string installed = Slurp((*reloader)->identity_path());
  EXPECT_THAT(installed, HasSubstr(second.cert_pem));
  EXPECT_THAT(installed, HasSubstr(second.key_pem));
}

}  // namespace
}  // namespace wirehub::control

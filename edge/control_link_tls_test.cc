// The control link over TLS: start-up checks of the --control_tls_* files,
// mutual TLS accepted and refused, the server name override, rotation of the
// client certificate, and how a refused link is logged. Every certificate is
// made here with the OpenSSL API, in a temporary directory.
#include "edge/control_link_tls.h"

#include <grpcpp/grpcpp.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "edge/control_link.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::edge {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  return pem;
}

void AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  ASSERT_NE(extension, nullptr) << "extension " << nid << " = " << value;
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

// A certificate and its key, as PEM.
struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// Thread-compatible. A throw-away CA (EC P-256, one day) issuing server and
// client certificates.
class TestCa {
 public:
  explicit TestCa(const std::string& name) : key_(EVP_EC_gen("P-256")), cert_(X509_new()) {
    Fill(cert_.get(), name, key_.get());
    X509_set_issuer_name(cert_.get(), X509_get_subject_name(cert_.get()));
    AddExtension(cert_.get(), cert_.get(), NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(cert_.get(), cert_.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_sign(cert_.get(), key_.get(), EVP_sha256());
  }

  std::string cert_pem() const { return ToPem(cert_.get()); }

  // Issue() signs a certificate for `name` with subject alternative names
  // `sans` ("IP:127.0.0.1,DNS:control.internal"; empty: none) for
  // `usage` ("serverAuth" or "clientAuth").
  KeyPair Issue(const std::string& name, const std::string& sans, const std::string& usage) {
    PkeyPtr key(EVP_EC_gen("P-256"));
    X509Ptr cert(X509_new());
    Fill(cert.get(), name, key.get());
    X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get()));
    AddExtension(cert.get(), cert_.get(), NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(cert.get(), cert_.get(), NID_ext_key_usage, usage);
    if (!sans.empty()) AddExtension(cert.get(), cert_.get(), NID_subject_alt_name, sans);
    X509_sign(cert.get(), key_.get(), EVP_sha256());
    return KeyPair{ToPem(cert.get()), ToPem(key.get())};
  }

 private:
  void Fill(X509* cert, const std::string& name, EVP_PKEY* key) {
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), ++serial_);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  }

  PkeyPtr key_;
  X509Ptr cert_;
  long serial_ = 0;
};

// Thread-compatible. A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "control_link_tls.XXXXXX");
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  // Write() replaces `name` atomically (rename), as a rotation does, and
  // returns its path.
  std::string Write(const std::string& name, const std::string& content) const {
    const std::string path = absl::StrCat(path_, "/", name);
    const std::string staged = absl::StrCat(path, ".new");
    std::ofstream(staged, std::ios::binary | std::ios::trunc) << content;
    std::filesystem::rename(staged, path);
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Answers PresenceStats with 7 clients; Attach stays unimplemented.
class CountingEdgeLinkService final : public v1::EdgeLinkService::CallbackService {
 public:
  grpc::ServerUnaryReactor* PresenceStats(grpc::CallbackServerContext* context,
                                          const control::v1::PresenceStatsRequest*,
                                          control::v1::PresenceStatsResponse* response) override {
    response->set_num_clients(7);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// An edge link server on 127.0.0.1 that requires a client certificate from
// `client_ca` (mutual TLS), with its own certificate `server`.
class MutualTlsServer {
 public:
  MutualTlsServer(const KeyPair& server, const std::string& client_ca_pem) {
    grpc::SslServerCredentialsOptions options(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = client_ca_pem;
    options.pem_key_cert_pairs.push_back({server.key_pem, server.cert_pem});
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(options), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~MutualTlsServer() {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }
  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  CountingEdgeLinkService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Thread-safe. The answer to one PresenceStats call; shared with the call's
// callback, so an answer arriving after the test gave up touches nothing
// gone.
class StatsAnswer {
 public:
  using Result = absl::StatusOr<control::v1::PresenceStatsResponse>;

  static ControlApi::Callback<control::v1::PresenceStatsResponse> CallbackFor(
      std::shared_ptr<StatsAnswer> answer) {
    return [answer = std::move(answer)](Result result) {
      absl::MutexLock lock(&answer->mu_);
      answer->result_ = std::move(result);
    };
  }

  // Wait() returns the answer, or DeadlineExceeded after `timeout`.
  Result Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return result_.has_value(); };
    if (!mu_.AwaitWithTimeout(absl::Condition(&arrived), timeout)) {
      return absl::DeadlineExceededError("no answer");
    }
    return *result_;
  }

 private:
  absl::Mutex mu_;
  std::optional<Result> result_ ABSL_GUARDED_BY(mu_);
};

// One PresenceStats call through `link`.
absl::StatusOr<control::v1::PresenceStatsResponse> CallOnce(ControlLink& link) {
  auto answer = std::make_shared<StatsAnswer>();
  control::v1::PresenceStatsRequest request;
  request.set_channel("room:1");
  link.FetchPresenceStats(request, absl::Seconds(3), StatsAnswer::CallbackFor(answer));
  return answer->Wait(kWait);
}

// One PresenceStats call through a link configured with `tls`.
absl::StatusOr<control::v1::PresenceStatsResponse> CallThroughLink(
    const std::string& address, const ControlLinkTlsOptions& tls) {
  ControlLinkOptions options;
  options.control_address = address;
  options.edge_id = "edge-tls";
  options.tls = tls;
  ControlLink link(
      options, [](v1::ControlMessage&&) {}, [](bool) {});
  absl::StatusOr<control::v1::PresenceStatsResponse> result = CallOnce(link);
  link.Stop();
  return result;
}

class ControlLinkTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    const KeyPair server = ca_.Issue("control", "IP:127.0.0.1", "serverAuth");
    server_ = std::make_unique<MutualTlsServer>(server, ca_.cert_pem());
    ASSERT_TRUE(server_->ok());
    const KeyPair client = ca_.Issue("edge-1", "", "clientAuth");
    tls_.ca_file = dir_.Write("ca.pem", ca_.cert_pem());
    tls_.cert_file = dir_.Write("edge.pem", client.cert_pem);
    tls_.key_file = dir_.Write("edge.key", client.key_pem);
  }

  TempDir dir_;
  TestCa ca_{"wirehub test CA"};
  TestCa other_ca_{"another CA"};
  std::unique_ptr<MutualTlsServer> server_;
  // A valid configuration: the CA, and a client certificate from it.
  ControlLinkTlsOptions tls_;
};

TEST_F(ControlLinkTlsTest, CheckAcceptsPlaintextAndAValidConfiguration) {
  EXPECT_TRUE(CheckControlLinkTls(ControlLinkTlsOptions()).ok());
  EXPECT_TRUE(CheckControlLinkTls(tls_).ok()) << CheckControlLinkTls(tls_);
  ControlLinkTlsOptions server_only;
  server_only.ca_file = tls_.ca_file;
  EXPECT_TRUE(CheckControlLinkTls(server_only).ok());
}

TEST_F(ControlLinkTlsTest, CheckRefusesIncompleteOrWrongFilesWithAPreciseMessage) {
  ControlLinkTlsOptions no_ca = tls_;
  no_ca.ca_file.clear();
  EXPECT_EQ(CheckControlLinkTls(no_ca).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(CheckControlLinkTls(no_ca).message()),
              HasSubstr("--control_tls_ca_file"));

  ControlLinkTlsOptions no_key = tls_;
  no_key.key_file.clear();
  EXPECT_EQ(CheckControlLinkTls(no_key).code(), absl::StatusCode::kInvalidArgument);

  ControlLinkTlsOptions missing = tls_;
  missing.ca_file = dir_.path() + "/absent.pem";
  EXPECT_EQ(CheckControlLinkTls(missing).code(), absl::StatusCode::kNotFound);

  ControlLinkTlsOptions not_pem = tls_;
  not_pem.ca_file = dir_.Write("garbage.pem", "not a certificate\n");
  EXPECT_EQ(CheckControlLinkTls(not_pem).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(CheckControlLinkTls(not_pem).message()),
              HasSubstr("holds no PEM certificate"));

  ControlLinkTlsOptions mismatched = tls_;
  mismatched.key_file = dir_.Write("other.key", ca_.Issue("edge-2", "", "clientAuth").key_pem);
  EXPECT_EQ(CheckControlLinkTls(mismatched).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(CheckControlLinkTls(mismatched).message()),
              HasSubstr("does not belong to the certificate"));
}

TEST_F(ControlLinkTlsTest, FlagsCheckReadsNoFileButRefusesIncompleteSets) {
  ControlLinkTlsOptions absent;
  absent.ca_file = dir_.path() + "/absent-ca.pem";
  absent.cert_file = dir_.path() + "/absent.crt";
  absent.key_file = dir_.path() + "/absent.key";
  EXPECT_TRUE(CheckControlLinkTlsFlags(absent).ok());
  EXPECT_EQ(CheckControlLinkTls(absent).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(CheckControlLinkTlsFlags(ControlLinkTlsOptions()).ok());

  ControlLinkTlsOptions no_ca = absent;
  no_ca.ca_file.clear();
  EXPECT_THAT(std::string(CheckControlLinkTlsFlags(no_ca).message()),
              HasSubstr("--control_tls_ca_file"));
  ControlLinkTlsOptions no_key = absent;
  no_key.key_file.clear();
  EXPECT_EQ(CheckControlLinkTlsFlags(no_key).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ControlLinkTlsTest, MutualTlsWithAClientCertificateFromTheCaIsAnswered) {
  absl::StatusOr<control::v1::PresenceStatsResponse> response =
      CallThroughLink(server_->address(), tls_);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->num_clients(), 7u);
}

TEST_F(ControlLinkTlsTest, NoClientCertificateOrOneFromAnotherCaIsRefused) {
  ControlLinkTlsOptions no_cert;
  no_cert.ca_file = tls_.ca_file;
  EXPECT_EQ(CallThroughLink(server_->address(), no_cert).status().code(),
            absl::StatusCode::kUnavailable);

  const KeyPair stranger = other_ca_.Issue("edge-x", "", "clientAuth");
  ControlLinkTlsOptions other = tls_;
  other.cert_file = dir_.Write("stranger.pem", stranger.cert_pem);
  other.key_file = dir_.Write("stranger.key", stranger.key_pem);
  EXPECT_EQ(CallThroughLink(server_->address(), other).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ControlLinkTlsTest, ControlCertificateFromAnotherCaIsRefused) {
  ControlLinkTlsOptions wrong_ca = tls_;
  wrong_ca.ca_file = dir_.Write("other-ca.pem", other_ca_.cert_pem());
  absl::StatusOr<control::v1::PresenceStatsResponse> response =
      CallThroughLink(server_->address(), wrong_ca);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ControlLinkTlsTest, ServerNameIsVerifiedAndCanBeOverridden) {
  // Control's certificate names a DNS name only; the edge dials an IP.
  const KeyPair named = ca_.Issue("control", "DNS:control.wirehub.internal", "serverAuth");
  MutualTlsServer server(named, ca_.cert_pem());
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(CallThroughLink(server.address(), tls_).status().code(),
            absl::StatusCode::kUnavailable);

  ControlLinkTlsOptions overridden = tls_;
  overridden.server_name = "control.wirehub.internal";
  absl::StatusOr<control::v1::PresenceStatsResponse> response =
      CallThroughLink(server.address(), overridden);
  ASSERT_TRUE(response.ok()) << response.status();

  overridden.server_name = "elsewhere.wirehub.internal";
  EXPECT_EQ(CallThroughLink(server.address(), overridden).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ControlLinkTlsTest, ARotatedClientCertificateIsPickedUpWithoutARestart) {
  // Starts with a certificate control refuses, then the files are replaced
  // (atomically, as a Kubernetes secret update does) by a valid pair.
  const KeyPair stranger = other_ca_.Issue("edge-x", "", "clientAuth");
  const KeyPair valid = ca_.Issue("edge-1", "", "clientAuth");
  ControlLinkTlsOptions tls = tls_;
  tls.cert_file = dir_.Write("rotating.pem", stranger.cert_pem);
  tls.key_file = dir_.Write("rotating.key", stranger.key_pem);
  tls.refresh_interval = absl::Seconds(1);

  ControlLinkOptions options;
  options.control_address = server_->address();
  options.edge_id = "edge-rotating";
  options.tls = tls;
  ControlLink link(
      options, [](v1::ControlMessage&&) {}, [](bool) {});

  auto call = [&link] { return CallOnce(link); };
  EXPECT_EQ(call().status().code(), absl::StatusCode::kUnavailable);

  // The key first, then the certificate: a provider reading in between sees
  // a mismatched pair and keeps the old one.
  dir_.Write("rotating.key", valid.key_pem);
  dir_.Write("rotating.pem", valid.cert_pem);
  const absl::Time deadline = absl::Now() + kWait;
  absl::Status last;
  while (absl::Now() < deadline) {
    absl::StatusOr<control::v1::PresenceStatsResponse> response = call();
    last = response.status();
    if (response.ok()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(last.ok()) << "the rotated certificate was never used: " << last;
  link.Stop();
}

TEST_F(ControlLinkTlsTest, StopDuringTheHandshakeCancelsCleanly) {
  for (int i = 0; i < 50; ++i) {
    ControlLinkOptions options;
    options.control_address = server_->address();
    options.edge_id = "edge-stopping";
    options.tls = tls_;
    ControlLink link(
        options, [](v1::ControlMessage&&) {}, [](bool) {});
    link.Start();
    int runs = 0;
    control::v1::PresenceStatsRequest request;
    request.set_channel("room:1");
    link.FetchPresenceStats(
        request, kWait, [&runs](absl::StatusOr<control::v1::PresenceStatsResponse>) { ++runs; });
    link.Stop();
    EXPECT_EQ(runs, 1);
  }
}

TEST_F(ControlLinkTlsTest, ARefusedAttachIsLoggedWithItsReasonOncePerInterval) {
  ControlLinkOptions options;
  options.control_address = server_->address();
  options.edge_id = "edge-no-cert";
  options.tls.ca_file = tls_.ca_file;  // No client certificate.
  options.initial_backoff = absl::Milliseconds(20);
  options.max_backoff = absl::Milliseconds(100);
  options.failure_log_interval = absl::Seconds(30);
  ::testing::internal::CaptureStderr();
  {
    ControlLink link(
        options, [](v1::ControlMessage&&) {}, [](bool) {});
    link.Start();
    // About 20 attempts.
    absl::SleepFor(absl::Milliseconds(1500));
    link.Stop();
  }
  const std::string logged = ::testing::internal::GetCapturedStderr();
  std::vector<std::string> ours;
  for (absl::string_view line : absl::StrSplit(logged, '\n')) {
    if (absl::StrContains(line, "control link attach to")) ours.emplace_back(line);
  }
  ASSERT_EQ(ours.size(), 1u) << logged;
  EXPECT_THAT(ours[0], HasSubstr(server_->address()));
  // gRPC's status: UNAVAILABLE (14) with the transport's reason.
  EXPECT_THAT(ours[0], HasSubstr("(14)"));
  // A refused client certificate shows only as a closed socket, so the line
  // says what the edge presented.
  EXPECT_THAT(ours[0], HasSubstr(absl::StrCat("[TLS: control verified with ", tls_.ca_file,
                                              ", no client certificate]")));
}

}  // namespace
}  // namespace wirehub::edge

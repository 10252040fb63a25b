// Certificates made by tests (never committed): a CA, server certificates
// for 127.0.0.1 and localhost, client certificates, all with P-256 keys.
#ifndef WIREHUB_CONTROL_TESTING_TEST_PKI_H_
#define WIREHUB_CONTROL_TESTING_TEST_PKI_H_

#include <memory>
#include <string>
#include <string_view>

#include <openssl/types.h>

#include "absl/time/time.h"

namespace wirehub::control::testing {

// A certificate and its private key, PEM.
struct TestPair {
  std::string cert_pem;
  std::string key_pem;
};

// TestCa issues certificates. Thread-compatible.
//
// Example:
//   TestCa ca = TestCa::Create("test CA");
//   TestPair server = ca.IssueServer();
//   TestPair client = ca.IssueClient("edge-1");
class TestCa {
 public:
  // A self-signed CA valid for a day. CHECK-fails if OpenSSL cannot.
  static TestCa Create(std::string_view common_name);

  // The CA certificate, PEM (what a peer trusts).
  const std::string& cert_pem() const { return cert_pem_; }

  // A server certificate with SAN IP:127.0.0.1 and DNS:localhost, valid
  // from now for `lifetime` (negative: already expired).
  TestPair IssueServer(absl::Duration lifetime = absl::Hours(24)) const;
  // A client certificate (extended key usage clientAuth).
  TestPair IssueClient(std::string_view common_name) const;

 private:
  TestCa() = default;
  TestPair Issue(std::string_view common_name, bool server, absl::Duration lifetime) const;

  std::shared_ptr<EVP_PKEY> key_;
  std::shared_ptr<X509> cert_;
  std::string cert_pem_;
};

// WriteTestFile()
//
// Writes `content` to `name` under the test's temporary directory (a fresh
// subdirectory per process) and returns the path.
std::string WriteTestFile(std::string_view name, std::string_view content);

}  // namespace wirehub::control::testing

#endif  // WIREHUB_CONTROL_TESTING_TEST_PKI_H_

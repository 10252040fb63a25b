// TlsKeyPair: a server certificate chain and its private key, validated as
// a pair before anything serves with them.
#ifndef WIREHUB_COMMON_TLS_KEY_PAIR_H_
#define WIREHUB_COMMON_TLS_KEY_PAIR_H_

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub {

// TlsKeyPair holds parsed OpenSSL objects; copies share them.
// Thread-safe: immutable after Load().
class TlsKeyPair {
 public:
  // Load()
  //
  // Reads `cert_file` (PEM: the leaf certificate first, then its chain) and
  // `key_file` (a PEM private key) and checks that the key belongs to the
  // leaf and that the leaf has not expired at `now`. Errors are
  // InvalidArgument (or errno-based for an unreadable file), name the file
  // and carry OpenSSL's reason; they never contain key material.
  static absl::StatusOr<TlsKeyPair> Load(std::string_view cert_file, std::string_view key_file,
                                         absl::Time now);

  // Makes `ctx` serve this pair (certificate, chain and key replaced in one
  // step); handshakes already under way keep the pair they started with.
  absl::Status InstallInto(SSL_CTX* ctx) const;

  // The leaf's serial number in upper-case hex, its subject (one line), its
  // expiry, and the SHA-256 of its DER in hex (tells two pairs apart).
  const std::string& serial_hex() const { return serial_hex_; }
  const std::string& subject() const { return subject_; }
  absl::Time not_after() const { return not_after_; }
  const std::string& fingerprint() const { return fingerprint_; }
  // Same leaf certificate and same key.
  bool SameAs(const TlsKeyPair& other) const;

 private:
  struct Objects;
  std::shared_ptr<const Objects> objects_;
  std::string serial_hex_;
  std::string subject_;
  absl::Time not_after_;
  std::string fingerprint_;
};

}  // namespace wirehub

#endif  // WIREHUB_COMMON_TLS_KEY_PAIR_H_

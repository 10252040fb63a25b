// TLS for the edge's link to control: the options behind the edge's
// --control_tls_* flags, their start-up check, and the gRPC channel
// credentials built from them.
#ifndef WIREHUB_EDGE_CONTROL_LINK_TLS_H_
#define WIREHUB_EDGE_CONTROL_LINK_TLS_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace wirehub::edge {

// How the edge secures its link to control (the EdgeLinkService listener).
// With `ca_file` empty the link is plaintext and the other fields must be
// empty too.
struct ControlLinkTlsOptions {
  // PEM bundle of the CA certificates that verify control's certificate.
  // Setting it turns TLS on.
  std::string ca_file;
  // PEM certificate chain and private key the edge presents to control
  // (mutual TLS). Both or neither.
  std::string cert_file;
  std::string key_file;
  // The name control's certificate must hold (a DNS or IP subject
  // alternative name) when it is not the host part of the control address,
  // e.g. a Kubernetes service name or a certificate issued for a DNS name
  // while the edge dials an IP. Empty: the host of the control address.
  std::string server_name;
  // How often the three files are re-read. A rotated certificate or CA is
  // used from the next connection on; the files may be swapped atomically
  // (a symlinked directory, as Kubernetes does).
  absl::Duration refresh_interval = absl::Seconds(30);

  bool enabled() const { return !ca_file.empty(); }
};

// CheckControlLinkTls()
//
// Validates `tls` once at start-up, so a typo fails the edge with a precise
// message instead of a link that never attaches: InvalidArgument when a
// field is set without `ca_file`, when only one of `cert_file` and
// `key_file` is set, when a file holds no PEM certificate (or key), or when
// the key does not belong to the certificate; the file error (NotFound,
// PermissionDenied) when a file cannot be read. OK for a plaintext link.
absl::Status CheckControlLinkTls(const ControlLinkTlsOptions& tls);

// CheckControlLinkTlsFlags()
//
// The part of CheckControlLinkTls() that reads no file: which fields go
// together, and the refresh interval (wirehub-edge --check_config, where the
// files are paths inside a pod).
absl::Status CheckControlLinkTlsFlags(const ControlLinkTlsOptions& tls);

// ControlLinkCredentials()
//
// The channel credentials for `tls`: insecure when TLS is off; otherwise
// TLS through a certificate provider that watches the files, verifying
// control's certificate chain against `ca_file` and its name against the
// control host (or `server_name`, which is then also set in `args`), and
// presenting the edge's certificate when one is configured.
std::shared_ptr<grpc::ChannelCredentials> ControlLinkCredentials(const ControlLinkTlsOptions& tls,
                                                                 grpc::ChannelArguments* args);

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CONTROL_LINK_TLS_H_

// Secure by default: which listener set-ups control refuses to start with.
#ifndef WIREHUB_CONTROL_LISTEN_POLICY_H_
#define WIREHUB_CONTROL_LISTEN_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace wirehub::control {

// IsLoopbackAddress()
//
// Whether HOST:PORT (HOST may be "[v6]") only listens on loopback:
// 127.0.0.0/8, ::1 or "localhost". An empty host, 0.0.0.0, [::] and any
// other name are not.
bool IsLoopbackAddress(std::string_view host_port);

// What CheckListenPolicy() decides on.
struct ListenPolicyInput {
  std::string grpc_listen;
  std::string edge_listen;
  bool has_api_keys = false;
  // --edge_tls_client_ca_file given (and so mutual TLS on the edge link).
  bool edge_mutual_tls = false;
  bool insecure_api = false;
  bool insecure_edge_link = false;
  // --grpc_tls_cert_file given.
  bool api_tls = false;
};

// CheckListenPolicy()
//
// FailedPrecondition naming the flag to change when:
//   - --grpc_listen is beyond loopback, no api_keys are configured and
//     --insecure_api is not given (anyone reaching it could publish,
//     disconnect and read every tenant);
//   - --edge_listen is beyond loopback without --edge_tls_client_ca_file
//     and --insecure_edge_link is not given (anyone reaching it could pose
//     as an edge).
// An override that lets a listener through appends a WARNING line to
// `warnings`, and so does an API beyond loopback with keys but without TLS
// (the keys would cross the network in clear).
absl::Status CheckListenPolicy(const ListenPolicyInput& input, std::vector<std::string>* warnings);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_LISTEN_POLICY_H_

// The real ControlClient: a synchronous ControlService stub, over plaintext
// or TLS, sending the API key with every call.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_GRPC_CONTROL_CLIENT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_GRPC_CONTROL_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/control_client.h"

namespace wirehub::ctl {

// NewGrpcControlClient()
//
// The real client: TLS verified with `target.tls_ca_file` when given (else
// plaintext) and a synchronous stub. Creating it does not connect; the first
// RPC does. Every unary call gets `target.timeout` as its deadline; every
// call carries `target.api_key` (when set) as "authorization: apikey KEY".
// Fails when the CA file cannot be read.
absl::StatusOr<std::unique_ptr<ControlClient>> NewGrpcControlClient(const ControlTarget& target);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_GRPC_CONTROL_CLIENT_H_

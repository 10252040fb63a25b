// The real ControlClient: a synchronous ControlService stub over an insecure
// channel.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_GRPC_CONTROL_CLIENT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_GRPC_CONTROL_CLIENT_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "tools/wirehubctl/control_client.h"

namespace wirehub::ctl {

// NewGrpcControlClient()
//
// The real client: insecure channel credentials and a synchronous stub.
// Creating it does not connect; the first RPC does. Every unary call gets
// `timeout` as its deadline.
std::unique_ptr<ControlClient> NewGrpcControlClient(const std::string& target,
                                                    absl::Duration timeout);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_GRPC_CONTROL_CLIENT_H_

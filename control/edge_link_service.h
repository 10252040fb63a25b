// The internal EdgeLinkService (proto/wirehub/edge/v1) served by control.
#ifndef WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_
#define WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "control/edge_hub.h"
#include "control/edge_session.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::control {

// EdgeLinkServiceImpl creates one EdgeSession per Attach stream.
// Thread-safe.
class EdgeLinkServiceImpl final : public edge::v1::EdgeLinkService::CallbackService {
 public:
  EdgeLinkServiceImpl(EdgeHub* hub, const EdgeSessionOptions& options)
      : hub_(hub), options_(options) {}

  grpc::ServerBidiReactor<edge::v1::EdgeMessage, edge::v1::ControlMessage>* Attach(
      grpc::CallbackServerContext* context) override {
    return new EdgeSession(hub_, context, options_);
  }

 private:
  EdgeHub* const hub_;
  const EdgeSessionOptions options_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_

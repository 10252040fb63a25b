// The internal EdgeLinkService (proto/wirehub/edge/v1) served by control.
#ifndef WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_
#define WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_

#include <cstddef>

#include <grpcpp/grpcpp.h>

#include "control/edge_hub.h"
#include "control/edge_session.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::control {

struct EdgeLinkServiceOptions {
  EdgeSessionOptions session;
  // Largest accepted client publication `data`, in bytes (as the public
  // Publish).
  size_t max_payload_bytes = 64 * 1024;
};

// Thread-safe.
//
// EdgeLinkServiceImpl creates one EdgeSession per Attach stream and
// sequences client publications.
class EdgeLinkServiceImpl final : public edge::v1::EdgeLinkService::CallbackService {
 public:
  EdgeLinkServiceImpl(EdgeHub* hub, const EdgeLinkServiceOptions& options)
      : hub_(hub), options_(options) {}

  grpc::ServerBidiReactor<edge::v1::EdgeMessage, edge::v1::ControlMessage>* Attach(
      grpc::CallbackServerContext* context) override;

  // Publish()
  //
  // A client's publication, authorized by the edge. The channel is a key;
  // its tenant and channel parts and the data are checked like the public
  // Publish (INVALID_ARGUMENT naming the problem). The publication carries
  // the request's ClientInfo to the edges and into history.
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const edge::v1::ClientPublishRequest* request,
                                    v1::PublishResponse* response) override;

 private:
  EdgeHub* const hub_;
  const EdgeLinkServiceOptions options_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_

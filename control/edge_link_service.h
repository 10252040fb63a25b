// The internal EdgeLinkService (proto/wirehub/edge/v1) served by control.
#ifndef WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_
#define WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_

#include <cstddef>

#include <grpcpp/grpcpp.h>

#include "control/channel_reads.h"
#include "control/edge_hub.h"
#include "control/edge_session.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::control {

struct EdgeLinkServiceOptions {
  EdgeSessionOptions session;
  // Largest accepted client publication `data`, in bytes (as the public
  // Publish).
  size_t max_payload_bytes = 64 * 1024;
  // Most publication bytes one History reply carries (as the public
  // History); the rest is left for the next page.
  size_t max_history_reply_bytes = kMaxHistoryReplyBytes;
};

// Thread-safe.
//
// EdgeLinkServiceImpl creates one EdgeSession per Attach stream, sequences
// client publications and answers the history and presence reads edges make
// for their clients. Every call an edge makes goes here, so the public
// ControlService serves backends only.
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

  // History(), Presence(), PresenceStats()
  //
  // A client's reads, authorized by the edge, which sets the request's
  // tenant to the client's. Answered exactly as the public ControlService
  // answers them (control/channel_reads.h).
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* Presence(grpc::CallbackServerContext* context,
                                     const v1::PresenceRequest* request,
                                     v1::PresenceResponse* response) override;
  grpc::ServerUnaryReactor* PresenceStats(grpc::CallbackServerContext* context,
                                          const v1::PresenceStatsRequest* request,
                                          v1::PresenceStatsResponse* response) override;

 private:
  EdgeHub* const hub_;
  const EdgeLinkServiceOptions options_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_LINK_SERVICE_H_

#include "control/edge_link_service.h"

#include <utility>

#include "control/channel_reads.h"
#include "control/control_service.h"
#include "control/request_validation.h"

namespace wirehub::control {

grpc::ServerBidiReactor<edge::v1::EdgeMessage, edge::v1::ControlMessage>*
EdgeLinkServiceImpl::Attach(grpc::CallbackServerContext* context) {
  return new EdgeSession(hub_, hub_->router(), context, options_.session);
}

grpc::ServerUnaryReactor* EdgeLinkServiceImpl::Publish(
    grpc::CallbackServerContext* context, const edge::v1::ClientPublishRequest* request,
    v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = ValidateChannelKey(request->channel());
  if (valid.ok()) {
    valid = ValidateKeyData(*hub_->config()->namespaces, request->channel(), request->data(),
                            options_.max_payload_bytes);
  }
  if (!valid.ok()) {
    hub_->CountRefusal(request->channel(), valid);
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  hub_->Publish(request->channel(), request->data(), /*idempotency_key=*/"",
                request->has_info() ? &request->info() : nullptr,
                [reactor, response](absl::StatusOr<StreamPosition> position) {
                  if (!position.ok()) {
                    reactor->Finish(ToGrpcStatus(position.status()));
                    return;
                  }
                  response->set_offset(position->offset);
                  response->set_epoch(std::move(position->epoch));
                  reactor->Finish(grpc::Status::OK);
                });
  return reactor;
}

grpc::ServerUnaryReactor* EdgeLinkServiceImpl::History(grpc::CallbackServerContext* context,
                                                       const v1::HistoryRequest* request,
                                                       v1::HistoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ReadHistory(hub_, *request, options_.max_history_reply_bytes, response,
              [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* EdgeLinkServiceImpl::Presence(grpc::CallbackServerContext* context,
                                                        const v1::PresenceRequest* request,
                                                        v1::PresenceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ReadPresence(hub_, *request, response,
               [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* EdgeLinkServiceImpl::PresenceStats(
    grpc::CallbackServerContext* context, const v1::PresenceStatsRequest* request,
    v1::PresenceStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ReadPresenceStats(hub_, *request, response,
                    [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

}  // namespace wirehub::control

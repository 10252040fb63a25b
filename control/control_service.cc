#include "control/control_service.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/channel_name.h"
#include "common/json_validator.h"
#include "control/publish_stream_reactor.h"

namespace wirehub::control {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

ControlServiceImpl::ControlServiceImpl(EdgeHub* hub, const ControlServiceOptions& options)
    : hub_(hub), options_(options) {}

absl::Status ControlServiceImpl::ValidateData(std::string_view data) const {
  if (data.size() > options_.max_payload_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("data is ", data.size(),
                                                   " bytes, over the limit of ",
                                                   options_.max_payload_bytes, " bytes"));
  }
  thread_local JsonValidator validator;
  absl::Status json = validator.Validate(data);
  if (!json.ok()) {
    // The validator's message already starts with "invalid JSON".
    return absl::InvalidArgumentError(absl::StrCat("data: ", json.message()));
  }
  return absl::OkStatus();
}

absl::Status ControlServiceImpl::ValidatePublication(std::string_view channel,
                                                     std::string_view data) const {
  absl::Status name = ValidateChannelName(channel);
  if (!name.ok()) return name;
  return ValidateData(data);
}

grpc::ServerUnaryReactor* ControlServiceImpl::Publish(grpc::CallbackServerContext* context,
                                                      const v1::PublishRequest* request,
                                                      v1::PublishResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = ValidatePublication(request->channel(), request->data());
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  absl::StatusOr<StreamPosition> position =
      hub_->Publish(request->channel(), request->data(), request->idempotency_key());
  if (!position.ok()) {
    reactor->Finish(ToGrpcStatus(position.status()));
    return reactor;
  }
  response->set_offset(position->offset);
  response->set_epoch(std::move(position->epoch));
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

v1::PublishStreamResponse ControlServiceImpl::PublishOne(const std::string& channel,
                                                         const std::string& data,
                                                         const std::string& idempotency_key) {
  v1::PublishStreamResponse response;
  absl::Status valid = ValidatePublication(channel, data);
  absl::StatusOr<StreamPosition> position = valid.ok()
                                                ? hub_->Publish(channel, data, idempotency_key)
                                                : absl::StatusOr<StreamPosition>(valid);
  if (!position.ok()) {
    response.set_error_code(static_cast<int32_t>(position.status().code()));
    response.set_error_message(std::string(position.status().message()));
    return response;
  }
  response.set_offset(position->offset);
  response.set_epoch(std::move(position->epoch));
  return response;
}

grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>*
ControlServiceImpl::PublishStream(grpc::CallbackServerContext* context) {
  return new PublishStreamReactor(this);
}

grpc::ServerUnaryReactor* ControlServiceImpl::History(grpc::CallbackServerContext* context,
                                                      const v1::HistoryRequest* request,
                                                      v1::HistoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status valid = ValidateChannelName(request->channel());
  if (!valid.ok()) {
    reactor->Finish(ToGrpcStatus(valid));
    return reactor;
  }
  std::optional<StreamPosition> since;
  if (request->has_since()) {
    since = StreamPosition{request->since().offset(), request->since().epoch()};
  }
  absl::StatusOr<HistoryRead> read =
      hub_->History(request->channel(), since, request->limit(), request->reverse());
  if (!read.ok()) {
    reactor->Finish(ToGrpcStatus(read.status()));
    return reactor;
  }
  for (const auto& publication : read->publications) {
    v1::HistoryPublication* out = response->add_publications();
    out->set_offset(publication->offset());
    out->set_data(publication->data());
  }
  response->set_epoch(read->epoch);
  response->set_offset(read->top_offset);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::HistoryRemove(grpc::CallbackServerContext* context,
                                                            const v1::HistoryRemoveRequest* request,
                                                            v1::HistoryRemoveResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = ValidateChannelName(request->channel());
  if (status.ok()) status = hub_->HistoryRemove(request->channel());
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::Broadcast(grpc::CallbackServerContext* context,
                                                        const v1::BroadcastRequest* request,
                                                        v1::BroadcastResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (request->channels().empty()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "channels is empty"));
    return reactor;
  }
  // A bad document fails every channel the same way; check it once.
  absl::Status data_status = ValidateData(request->data());
  for (const std::string& channel : request->channels()) {
    v1::BroadcastResult* result = response->add_results();
    result->set_channel(channel);
    absl::Status status = ValidateChannelName(channel);
    if (status.ok()) status = data_status;
    if (!status.ok()) {
      result->set_error_code(static_cast<int32_t>(status.code()));
      result->set_error_message(std::string(status.message()));
      continue;
    }
    absl::StatusOr<StreamPosition> position = hub_->Publish(channel, request->data());
    if (!position.ok()) {
      result->set_error_code(static_cast<int32_t>(position.status().code()));
      result->set_error_message(std::string(position.status().message()));
      continue;
    }
    result->set_offset(position->offset);
    result->set_epoch(std::move(position->epoch));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::Stats(grpc::CallbackServerContext* context,
                                                    const v1::StatsRequest* request,
                                                    v1::StatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  hub_->FillStats(request->top_channels(), response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace wirehub::control

#include "control/control_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/channel_name.h"
#include "common/json_validator.h"

namespace wirehub::control {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
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
  StreamPosition position = hub_->Publish(request->channel(), request->data());
  response->set_offset(position.offset);
  response->set_epoch(std::move(position.epoch));
  reactor->Finish(grpc::Status::OK);
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
    StreamPosition position = hub_->Publish(channel, request->data());
    result->set_offset(position.offset);
    result->set_epoch(std::move(position.epoch));
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

#include "control/authenticated_control_service.h"

#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "control/publish_stream_reactor.h"

namespace wirehub::control {
namespace {

// The first "authorization" metadata value, if any.
std::optional<std::string_view> AuthorizationOf(const grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kAuthorizationMetadata);
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// A stream refused before it starts.
class RefusedStream
    : public grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse> {
 public:
  explicit RefusedStream(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

AuthenticatedControlService::AuthenticatedControlService(std::shared_ptr<const ApiKeySet> keys,
                                                         ControlServiceImpl* service)
    : keys_(keys != nullptr ? std::move(keys) : std::make_shared<const ApiKeySet>()),
      service_(service) {}

void AuthenticatedControlService::CountRefusal(const v1::PublishRequest& request,
                                               const absl::Status& status) const {
  service_->hub()->CountRefusal(request.channel(), status);
}

void AuthenticatedControlService::CountRefusal(const v1::BroadcastRequest& request,
                                               const absl::Status& status) const {
  for (const std::string& channel : request.channels()) {
    service_->hub()->CountRefusal(channel, status);
  }
}

absl::Status AuthenticatedControlService::Check(grpc::CallbackServerContext* context,
                                                const char* call, ApiScope scope,
                                                const std::string* tenant) {
  if (service_->refusing()) return ControlServiceImpl::DrainingError();
  // The set stays alive for the check; the key found is not kept.
  std::shared_ptr<const ApiKeySet> keys = keys_.load();
  if (keys->empty()) return absl::OkStatus();
  absl::StatusOr<const ApiKey*> key = keys->Authorize(AuthorizationOf(context), call, scope);
  absl::Status status = key.ok() ? ApiKeySet::CheckTenant(*key, call, tenant) : key.status();
  if (!status.ok()) LogRefusal(call, context->peer(), status);
  return status;
}

void AuthenticatedControlService::LogRefusal(const char* call, const std::string& peer,
                                             const absl::Status& status) {
  uint64_t unlogged = 0;
  {
    absl::MutexLock lock(&log_mu_);
    const absl::Time now = absl::Now();
    if (now - last_logged_ < absl::Seconds(1)) {
      ++unlogged_;
      return;
    }
    last_logged_ = now;
    unlogged = unlogged_;
    unlogged_ = 0;
  }
  std::string more;
  if (unlogged > 0) more = absl::StrCat(" (", unlogged, " more refused since the last line)");
  WH_LOG(WARNING) << "API call " << call << " from " << peer << " refused: " << status.message()
                  << more;
}

// Each handler: the check, then the implementation.
#define WIREHUB_CHECKED_UNARY(Method, scope, tenant_expr)                       \
  grpc::ServerUnaryReactor* AuthenticatedControlService::Method(                \
      grpc::CallbackServerContext* context, const v1::Method##Request* request, \
      v1::Method##Response* response) {                                         \
    absl::Status allowed = Check(context, #Method, scope, tenant_expr);         \
    if (!allowed.ok()) {                                                        \
      CountRefusal(*request, allowed);                                          \
      return Refuse(context, allowed);                                          \
    }                                                                           \
    return service_->Method(context, request, response);                        \
  }

WIREHUB_CHECKED_UNARY(Publish, ApiScope::kPublish, &request->tenant())
WIREHUB_CHECKED_UNARY(Broadcast, ApiScope::kPublish, &request->tenant())
WIREHUB_CHECKED_UNARY(Stats, ApiScope::kFull, nullptr)
WIREHUB_CHECKED_UNARY(History, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(HistoryRemove, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Presence, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(PresenceStats, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Subscribe, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Unsubscribe, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Disconnect, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Refresh, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Connections, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Channels, ApiScope::kFull, &request->tenant())
WIREHUB_CHECKED_UNARY(Info, ApiScope::kFull, nullptr)

#undef WIREHUB_CHECKED_UNARY

grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>*
AuthenticatedControlService::PublishStream(grpc::CallbackServerContext* context) {
  if (service_->refusing()) return new RefusedStream(ControlServiceImpl::DrainingError());
  std::shared_ptr<const ApiKeySet> keys = keys_.load();
  if (keys->empty()) return service_->PublishStream(context);
  absl::StatusOr<const ApiKey*> key =
      keys->Authorize(AuthorizationOf(context), "PublishStream", ApiScope::kPublish);
  if (!key.ok()) {
    LogRefusal("PublishStream", context->peer(), key.status());
    return new RefusedStream(key.status());
  }
  const ApiKey* confined = (*key)->tenant.empty() ? nullptr : *key;
  if (confined == nullptr) return service_->PublishStream(context);
  // The stream holds the set its key lives in, whatever reloads do.
  return new PublishStreamReactor([service = service_, keys = std::move(keys), confined](
                                      const v1::PublishStreamRequest& request,
                                      std::function<void(v1::PublishStreamResponse)> done) {
    absl::Status allowed = ApiKeySet::CheckTenant(confined, "PublishStream", &request.tenant());
    if (allowed.ok()) {
      service->PublishOne(request, std::move(done));
      return;
    }
    service->hub()->metrics().publish_stream_items().Increment();
    service->hub()->CountRefusal(request.channel(), allowed);
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_error_code(static_cast<int32_t>(allowed.code()));
    response.set_error_message(std::string(allowed.message()));
    done(std::move(response));
  });
}

}  // namespace wirehub::control

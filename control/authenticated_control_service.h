// The ControlService that control's public listener serves: every call is
// checked against the API keys (ApiKeySet) before ControlServiceImpl runs
// it.
#ifndef WIREHUB_CONTROL_AUTHENTICATED_CONTROL_SERVICE_H_
#define WIREHUB_CONTROL_AUTHENTICATED_CONTROL_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/api_key_set.h"
#include "control/control_service.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {

// AuthenticatedControlService checks the "authorization: apikey KEY"
// metadata of every call, then hands the call to ControlServiceImpl.
// Thread-safe: handlers run on gRPC callback threads concurrently.
//
// Who may call what (nothing is asked when `keys` is empty):
//   - no key, another scheme, an unknown key: UNAUTHENTICATED;
//   - a "publish" key may call Publish, Broadcast and PublishStream only;
//     anything else: PERMISSION_DENIED;
//   - a key with a tenant may only name that tenant in a request (the
//     default space, an empty tenant, is another tenant); Stats and Info,
//     which describe every tenant, are refused to it: PERMISSION_DENIED.
//     Connections and Channels name their tenant, so they are allowed for
//     the key's own tenant. In a PublishStream each item naming another
//     tenant is answered with PERMISSION_DENIED and the stream goes on.
//
// The keys are replaced whole by SetKeys() (a configuration reload): calls
// that begin afterwards are checked against the new set; a PublishStream
// keeps the key it was opened with (and the set holding it) until it ends.
// While the service refuses (ControlServiceImpl::refusing(), a drain), every
// new call is answered UNAVAILABLE "draining" before any key check.
class AuthenticatedControlService final : public v1::ControlService::CallbackService {
 public:
  // `service` must outlive this service.
  AuthenticatedControlService(std::shared_ptr<const ApiKeySet> keys, ControlServiceImpl* service);

  void SetKeys(std::shared_ptr<const ApiKeySet> keys) { keys_.store(std::move(keys)); }
  std::shared_ptr<const ApiKeySet> keys() const { return keys_.load(); }

  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const v1::PublishRequest* request,
                                    v1::PublishResponse* response) override;
  grpc::ServerUnaryReactor* Broadcast(grpc::CallbackServerContext* context,
                                      const v1::BroadcastRequest* request,
                                      v1::BroadcastResponse* response) override;
  grpc::ServerUnaryReactor* Stats(grpc::CallbackServerContext* context,
                                  const v1::StatsRequest* request,
                                  v1::StatsResponse* response) override;
  grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>* PublishStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* HistoryRemove(grpc::CallbackServerContext* context,
                                          const v1::HistoryRemoveRequest* request,
                                          v1::HistoryRemoveResponse* response) override;
  grpc::ServerUnaryReactor* Presence(grpc::CallbackServerContext* context,
                                     const v1::PresenceRequest* request,
                                     v1::PresenceResponse* response) override;
  grpc::ServerUnaryReactor* PresenceStats(grpc::CallbackServerContext* context,
                                          const v1::PresenceStatsRequest* request,
                                          v1::PresenceStatsResponse* response) override;
  grpc::ServerUnaryReactor* Subscribe(grpc::CallbackServerContext* context,
                                      const v1::SubscribeRequest* request,
                                      v1::SubscribeResponse* response) override;
  grpc::ServerUnaryReactor* Unsubscribe(grpc::CallbackServerContext* context,
                                        const v1::UnsubscribeRequest* request,
                                        v1::UnsubscribeResponse* response) override;
  grpc::ServerUnaryReactor* Disconnect(grpc::CallbackServerContext* context,
                                       const v1::DisconnectRequest* request,
                                       v1::DisconnectResponse* response) override;
  grpc::ServerUnaryReactor* Refresh(grpc::CallbackServerContext* context,
                                    const v1::RefreshRequest* request,
                                    v1::RefreshResponse* response) override;
  grpc::ServerUnaryReactor* Connections(grpc::CallbackServerContext* context,
                                        const v1::ConnectionsRequest* request,
                                        v1::ConnectionsResponse* response) override;
  grpc::ServerUnaryReactor* Channels(grpc::CallbackServerContext* context,
                                     const v1::ChannelsRequest* request,
                                     v1::ChannelsResponse* response) override;
  grpc::ServerUnaryReactor* Info(grpc::CallbackServerContext* context,
                                 const v1::InfoRequest* request,
                                 v1::InfoResponse* response) override;

 private:
  // OK when the call may run: the key covers `scope` and `tenant` (nullptr:
  // a call spanning every tenant).
  absl::Status Check(grpc::CallbackServerContext* context, const char* call, ApiScope scope,
                     const std::string* tenant);
  // Counts a refused publish call (Publish, Broadcast) by its channels.
  void CountRefusal(const v1::PublishRequest& request, const absl::Status& status) const;
  void CountRefusal(const v1::BroadcastRequest& request, const absl::Status& status) const;
  template <typename Request>
  void CountRefusal(const Request& /*request*/, const absl::Status& /*status*/) const {}

  // Logs a refusal: at most one line per second, with the details of the
  // refusal that opens the second and the count of those not logged since,
  // so a client hammering with a bad key cannot flood the log.
  void LogRefusal(const char* call, const std::string& peer, const absl::Status& status);

  std::atomic<std::shared_ptr<const ApiKeySet>> keys_;
  ControlServiceImpl* const service_;
  absl::Mutex log_mu_;
  absl::Time last_logged_ ABSL_GUARDED_BY(log_mu_) = absl::InfinitePast();
  uint64_t unlogged_ ABSL_GUARDED_BY(log_mu_) = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_AUTHENTICATED_CONTROL_SERVICE_H_

// The public ControlService (proto/wirehub/control/v1) served by control.
#ifndef WIREHUB_CONTROL_CONTROL_SERVICE_H_
#define WIREHUB_CONTROL_CONTROL_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/edge_hub.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {

struct ControlServiceOptions {
  // Largest accepted `data`, in bytes.
  size_t max_payload_bytes = 64 * 1024;
  // Longest a server API call forwarded to the edges waits for their
  // answers; the call's own deadline shortens it.
  absl::Duration max_command_wait = absl::Seconds(5);
  // Reported by Info.
  std::string version = "0.1.0";
  // Most publication bytes one History reply carries; the rest is left for
  // the next page (HistoryResponse.more). Below the server's send limit.
  size_t max_history_reply_bytes = 2 << 20;
};

// Thread-safe: handlers run on gRPC callback threads concurrently.
//
// ControlServiceImpl validates backend requests and hands them to EdgeHub.
// Calls that act on live connections (Subscribe ... Info) are forwarded to
// every attached edge through EdgeHub::SendCommand and answered from the
// edges' results; they finish on the router's or an edge session's thread.
class ControlServiceImpl final : public v1::ControlService::CallbackService {
 public:
  ControlServiceImpl(EdgeHub* hub, const ControlServiceOptions& options);

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

  // PublishOne() validates and publishes one item of a PublishStream;
  // failures are reported in the response, never as a stream error. `done`
  // runs exactly once, possibly on another thread.
  void PublishOne(const v1::PublishStreamRequest& request,
                  std::function<void(v1::PublishStreamResponse)> done);

  // ValidatePublication()
  //
  // InvalidArgument naming the problem: bad channel name, data over the
  // payload limit, or data that is not one JSON document.
  absl::Status ValidatePublication(std::string_view channel, std::string_view data) const;
  absl::Status ValidateData(std::string_view data) const;

  // set_address() records the address control serves on, for Info.
  void set_address(std::string address);

  // While refusing (a drain stopped taking calls), new calls and each new
  // PublishStream item are answered UNAVAILABLE "draining".
  void set_refusing(bool refusing) { refusing_.store(refusing, std::memory_order_relaxed); }
  bool refusing() const { return refusing_.load(std::memory_order_relaxed); }
  static absl::Status DrainingError() { return absl::UnavailableError("draining"); }

  EdgeHub* hub() const { return hub_; }

 private:
  // The deadline for the edges' answers to a call: max_command_wait, or
  // sooner so that the answer reaches the caller before its own deadline.
  absl::Time CommandDeadline(const grpc::CallbackServerContext* context) const;
  // Publishes to `key` after validating `data` (asynchronously, see
  // EdgeHub::Publish).
  void PublishToKey(const std::string& key, const std::string& data,
                    const std::string& idempotency_key, EdgeHub::PublishDone done);

  EdgeHub* const hub_;
  const ControlServiceOptions options_;
  const absl::Time started_at_;
  std::atomic<bool> refusing_{false};
  mutable absl::Mutex address_mu_;
  std::string address_ ABSL_GUARDED_BY(address_mu_);
};

// ToGrpcStatus() is the one conversion from absl::Status at the RPC edge.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_SERVICE_H_

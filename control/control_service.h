// The public ControlService (proto/wirehub/control/v1) served by control.
#ifndef WIREHUB_CONTROL_CONTROL_SERVICE_H_
#define WIREHUB_CONTROL_CONTROL_SERVICE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "control/edge_hub.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {

struct ControlServiceOptions {
  // Largest accepted `data`, in bytes.
  size_t max_payload_bytes = 64 * 1024;
};

// ControlServiceImpl validates backend requests and hands them to EdgeHub.
// Thread-safe: handlers run on gRPC callback threads concurrently.
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

  // PublishOne() validates and publishes one item of a PublishStream;
  // failures are reported in the response, never as a stream error.
  v1::PublishStreamResponse PublishOne(const std::string& channel, const std::string& data,
                                       const std::string& idempotency_key);

  // ValidatePublication()
  //
  // InvalidArgument naming the problem: bad channel name, data over the
  // payload limit, or data that is not one JSON document.
  absl::Status ValidatePublication(std::string_view channel, std::string_view data) const;
  absl::Status ValidateData(std::string_view data) const;

 private:
  EdgeHub* const hub_;
  const ControlServiceOptions options_;
};

// ToGrpcStatus() is the one conversion from absl::Status at the RPC edge.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CONTROL_SERVICE_H_

// ControlClient: the slice of wirehub-control's ControlService that
// wirehubctl calls, as an interface, so the subcommands' tests can answer
// with a fake. The real one is in grpc_control_client.h.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_CONTROL_CLIENT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_CONTROL_CLIENT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

// ControlClient is the slice of ControlService that wirehubctl calls. Each
// unary call carries the deadline the client was created with; PublishStream
// has none.
class ControlClient {
 public:
  // StreamRequest is one request of a PublishStream and what follows it.
  struct StreamRequest {
    control::v1::PublishStreamRequest request;
    // The next request is already at hand: the client may hold this one
    // back to send both together. Never set when the next one waits for
    // input, or this one could sit unsent while its producer waits.
    bool more_ready = false;
  };
  // Supplies the next request of a stream; nullopt ends the input.
  using NextStreamRequest = std::function<std::optional<StreamRequest>()>;
  // Receives each response of a stream as it arrives.
  using OnStreamResponse = std::function<void(const control::v1::PublishStreamResponse&)>;

  virtual ~ControlClient() = default;

  virtual grpc::Status Publish(const control::v1::PublishRequest& request,
                               control::v1::PublishResponse* response) = 0;
  virtual grpc::Status Broadcast(const control::v1::BroadcastRequest& request,
                                 control::v1::BroadcastResponse* response) = 0;
  virtual grpc::Status Stats(const control::v1::StatsRequest& request,
                             control::v1::StatsResponse* response) = 0;
  virtual grpc::Status History(const control::v1::HistoryRequest& request,
                               control::v1::HistoryResponse* response) = 0;
  virtual grpc::Status HistoryRemove(const control::v1::HistoryRemoveRequest& request,
                                     control::v1::HistoryRemoveResponse* response) = 0;
  virtual grpc::Status Presence(const control::v1::PresenceRequest& request,
                                control::v1::PresenceResponse* response) = 0;
  virtual grpc::Status PresenceStats(const control::v1::PresenceStatsRequest& request,
                                     control::v1::PresenceStatsResponse* response) = 0;
  virtual grpc::Status Subscribe(const control::v1::SubscribeRequest& request,
                                 control::v1::SubscribeResponse* response) = 0;
  virtual grpc::Status Unsubscribe(const control::v1::UnsubscribeRequest& request,
                                   control::v1::UnsubscribeResponse* response) = 0;
  virtual grpc::Status Disconnect(const control::v1::DisconnectRequest& request,
                                  control::v1::DisconnectResponse* response) = 0;
  virtual grpc::Status Refresh(const control::v1::RefreshRequest& request,
                               control::v1::RefreshResponse* response) = 0;
  virtual grpc::Status Connections(const control::v1::ConnectionsRequest& request,
                                   control::v1::ConnectionsResponse* response) = 0;
  virtual grpc::Status Channels(const control::v1::ChannelsRequest& request,
                                control::v1::ChannelsResponse* response) = 0;
  virtual grpc::Status Info(const control::v1::InfoRequest& request,
                            control::v1::InfoResponse* response) = 0;

  // Runs one PublishStream without a deadline: sends each request
  // `next_request` returns until it returns nullopt (without waiting for a
  // round trip per request while `more_ready` says another follows at once),
  // then half-closes, hands every response to `on_response` as soon as it
  // arrives and returns the stream's final status once the server has ended
  // it. The two callbacks may
  // run at the same time on different threads (so a slow input does not hold
  // back responses); neither is called after PublishStream returns. When the
  // stream fails, `next_request` is not called again, but a call already
  // waiting for input is waited for.
  virtual grpc::Status PublishStream(const NextStreamRequest& next_request,
                                     const OnStreamResponse& on_response) = 0;
};

// ControlTarget is where control's API is and how to reach it.
struct ControlTarget {
  // HOST:PORT.
  std::string address;
  // The deadline of every unary call.
  absl::Duration timeout;
  // Sent with every call as "authorization: apikey KEY"; empty: none.
  std::string api_key;
  // PEM CA bundle: TLS to control, its certificate verified with these CAs.
  // Empty: plaintext.
  std::string tls_ca_file;
  // With TLS: the name control's certificate must hold instead of the host
  // of `address`.
  std::string tls_server_name;
};

// Connects to `target`; fails (a CA file that cannot be read) with the
// reason.
using ControlClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<ControlClient>>(const ControlTarget& target)>;

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CONTROL_CLIENT_H_

// ControlApi: what the edge's protocol logic needs from wirehub-control.
#ifndef WIREHUB_EDGE_CONTROL_API_H_
#define WIREHUB_EDGE_CONTROL_API_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "wirehub/control/v1/control.pb.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::edge {

// ControlApi is the edge's view of control: interest and presence mirrored
// to it, stats and command results sent to it, and unary calls made for
// clients. ControlLink implements it over gRPC; tests use a fake.
//
// Thread-safe. Callbacks of the unary calls run on a thread of the
// implementation and must only post to the edge loop; every callback runs
// exactly once, at the latest before the implementation's Stop() returns.
class ControlApi {
 public:
  template <typename Response>
  using Callback = std::function<void(absl::StatusOr<Response>)>;

  virtual ~ControlApi() = default;

  // Interest changes. Each returns the sequence number control will
  // acknowledge (ControlMessage.interest_ack) once the change is applied.
  virtual uint64_t AddChannel(const std::string& channel_key) = 0;
  virtual uint64_t RemoveChannel(const std::string& channel_key) = 0;
  virtual void AddUser(const std::string& user_key) = 0;
  virtual void RemoveUser(const std::string& user_key) = 0;
  // Presence of one client in one channel (by channel key).
  virtual void AddPresence(const std::string& channel_key, const control::v1::ClientInfo& info) = 0;
  virtual void RemovePresence(const std::string& channel_key, const std::string& client) = 0;

  // Queues a stats report; a report not yet sent is replaced, with its
  // delivery count carried over.
  virtual void SendStats(edge::v1::EdgeStats stats) = 0;
  // Queues the answer to an EdgeCommand of the current stream.
  virtual void SendResult(edge::v1::CommandResult result) = 0;

  // Unary calls, each bounded by `timeout`. A gRPC status arrives as the
  // absl::Status of the same code and message.
  virtual void FetchHistory(const control::v1::HistoryRequest& request, absl::Duration timeout,
                            Callback<control::v1::HistoryResponse> done) = 0;
  virtual void FetchPresence(const control::v1::PresenceRequest& request, absl::Duration timeout,
                             Callback<control::v1::PresenceResponse> done) = 0;
  virtual void FetchPresenceStats(const control::v1::PresenceStatsRequest& request,
                                  absl::Duration timeout,
                                  Callback<control::v1::PresenceStatsResponse> done) = 0;
  virtual void Publish(const edge::v1::ClientPublishRequest& request, absl::Duration timeout,
                       Callback<control::v1::PublishResponse> done) = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CONTROL_API_H_

// ClientCalls: the client commands answered by control (history,
// presence, presence stats, publish).
#ifndef WIREHUB_EDGE_CLIENT_CALLS_H_
#define WIREHUB_EDGE_CLIENT_CALLS_H_

#include <cstddef>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/namespace_registry.h"
#include "edge/client_protocol.h"
#include "edge/client_session.h"
#include "edge/control_api.h"
#include "edge/edge_metrics.h"
#include "edge/reply_sequencer.h"
#include "edge/session_registry.h"
#include "edge/transport.h"

namespace wirehub::edge {

struct ClientCallOptions {
  // A history reply must fit the client's queue; the client pages.
  size_t client_queue_max_bytes = 1 << 20;
  absl::Duration history_timeout = absl::Seconds(5);
  // Bound of publish and presence calls.
  absl::Duration control_call_timeout = absl::Seconds(5);
  // Client publish rate limit per connection: sustained per second and
  // burst. Beyond it a publish answers 111 (too many requests).
  double client_publish_rate = 20;
  double client_publish_burst = 40;
  // Borrowed; null counts into EdgeMetrics::Discard().
  EdgeMetrics* metrics = nullptr;
};

// ClientCalls checks a command's permission, starts its call to control
// within the session's and the edge's calls-in-flight bounds (111 past
// them), and answers it in the place the command reserved, so replies keep
// command order. Answers come back through the transport's door.
// Thread: edge loop only.
class ClientCalls {
 public:
  ClientCalls(ClientCallOptions options, const NamespaceRegistry* namespaces,
              SessionRegistry* sessions, Transport* transport)
      : options_(options),
        metrics_(options.metrics != nullptr ? options.metrics : &EdgeMetrics::Discard()),
        namespaces_(namespaces),
        sessions_(sessions),
        transport_(transport) {}

  // Borrowed; null answers 108 (not available). Set before serving.
  void set_link(ControlApi* link) { link_ = link; }

  void HandleHistory(ClientSession* session, const Command& command);
  void HandlePresence(ClientSession* session, const Command& command);
  void HandlePublish(ClientSession* session, const Command& command);

 private:
  // Reserves the reply's place and one call in flight; false (answered and
  // counted as `method`) without a link or past the bounds.
  bool BeginCall(ClientSession* session, const Command& command, CommandMethod method,
                 ReplySequencer::Ticket* ticket);
  // Runs `on_loop` on the loop with the answer of a call BeginCall()
  // allowed, releasing the call; not when the session is gone.
  template <typename Response>
  ControlApi::Callback<Response> ToLoop(
      ClientSession* session,
      std::function<void(ClientSession*, absl::StatusOr<Response>)> on_loop);
  // Sends the session's oldest waiting publication to control unless one
  // is in flight: control sequences them in the order the client sent them.
  void SendNextPublish(ClientSession* session);

  const ClientCallOptions options_;
  EdgeMetrics* const metrics_;
  const NamespaceRegistry* const namespaces_;
  SessionRegistry* const sessions_;
  Transport* const transport_;
  ControlApi* link_ = nullptr;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_CALLS_H_

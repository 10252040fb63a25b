// ClientSession: the state of one WebSocket client connection.
#ifndef WIREHUB_EDGE_CLIENT_SESSION_H_
#define WIREHUB_EDGE_CLIENT_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "edge/outbound_queue.h"

struct lws;

namespace wirehub::edge {

// ClientSession is owned by EdgeServer from LWS_CALLBACK_ESTABLISHED to
// LWS_CALLBACK_CLOSED.
// Thread: edge loop only.
struct ClientSession {
  ClientSession(uint64_t id, struct lws* wsi, size_t queue_max_bytes)
      : id(id), wsi(wsi), queue(queue_max_bytes) {}

  // Unique per edge process; callbacks from other threads name sessions by
  // id because the pointer may be gone when they run.
  const uint64_t id;
  struct lws* const wsi;
  OutboundQueue queue;

  // Set by a successful connect command.
  bool connected = false;
  std::string user;
  std::string client_id;

  // Channels subscribed or with a subscribe awaiting control's ack.
  absl::flat_hash_set<std::string> channels;

  // A text message arriving in several fragments.
  std::string rx;

  absl::Time connect_deadline = absl::InfiniteFuture();
  absl::Time next_ping = absl::InfiniteFuture();
  absl::Time pong_deadline = absl::InfiniteFuture();

  // Non-zero once the connection is to be closed with this code; nothing
  // more is read or queued after that.
  int close_code = 0;
  std::string close_reason;
  bool writable_requested = false;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_SESSION_H_

// ClientSession: the state of one WebSocket client connection.
#ifndef WIREHUB_EDGE_CLIENT_SESSION_H_
#define WIREHUB_EDGE_CLIENT_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "edge/outbound_queue.h"
#include "wirehub/edge/v1/edge.pb.h"

struct lws;

namespace wirehub::edge {

// One subscription of a session, by channel name.
struct Subscription {
  // The subscription token's `info` (raw JSON), shown in presence.
  std::string chan_info;
  // The subscription token's expiry; InfiniteFuture without a token.
  absl::Time expires_at = absl::InfiniteFuture();
  // Reported to control's presence (namespace with presence or join_leave).
  bool in_presence = false;
};

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
  // The connection token's `tenant`: every channel this session names is in
  // that tenant's space (its key is MakeChannelKey(tenant, name)).
  std::string tenant;
  // The connection token's `info`, raw JSON.
  std::string conn_info;
  // The connection token's `channels`.
  absl::flat_hash_set<std::string> token_channels;
  absl::Time connected_at;
  // When the connection token expires (InfiniteFuture: never); the session
  // is closed with 3005 if no refresh moved it by then plus the grace.
  absl::Time expires_at = absl::InfiniteFuture();

  // Channels (by name) subscribed or with a subscribe in progress.
  absl::flat_hash_map<std::string, Subscription> channels;

  // Client publish token bucket.
  double publish_tokens = 0;
  absl::Time publish_refilled_at;
  // Client publications waiting for control, one in flight at a time so
  // control sequences them in the order the client sent them. Bounded by
  // the token bucket.
  // A list, not a deque: an empty one allocates nothing.
  std::list<std::pair<uint32_t, std::shared_ptr<edge::v1::ClientPublishRequest>>> publishes;
  bool publish_in_flight = false;

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
  // Listed in EdgeServer::dirty_: has queued output for the end-of-turn flush.
  bool dirty = false;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_SESSION_H_

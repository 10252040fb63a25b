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
#include "edge/reply_sequencer.h"
#include "edge/token_bucket.h"
#include "edge/transport.h"
#include "wirehub/edge/v1/edge.pb.h"

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

// ClientSession is owned by SessionRegistry from the transport's OnOpen to
// its OnClose.
// Thread: edge loop only.
struct ClientSession {
  explicit ClientSession(Connection* connection) : id(connection->id), connection(connection) {}

  // Unique per edge process; callbacks from other threads name sessions by
  // id because the pointer may be gone when they run.
  const uint64_t id;
  Connection* const connection;
  // Output in command order while replies wait for control.
  ReplySequencer replies;
  // Calls to control (or waits for its acknowledgement) this session's
  // commands have started and that have not come back yet.
  uint32_t calls_in_flight = 0;

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

  // Command token bucket (every command but pong), and the refusals since
  // the last admitted command.
  TokenBucket command_bucket;
  uint32_t command_strikes = 0;

  // Client publish token bucket.
  TokenBucket publish_bucket;
  // Client publications waiting for control, one in flight at a time so
  // control sequences them in the order the client sent them, each with
  // the place its reply takes. Bounded by the calls-in-flight limit.
  // A list, not a deque: an empty one allocates nothing.
  struct QueuedPublish {
    uint32_t command_id;
    ReplySequencer::Ticket ticket;
    std::shared_ptr<edge::v1::ClientPublishRequest> request;
  };
  std::list<QueuedPublish> publishes;
  bool publish_in_flight = false;

  absl::Time connect_deadline = absl::InfiniteFuture();
  absl::Time next_ping = absl::InfiniteFuture();
  absl::Time pong_deadline = absl::InfiniteFuture();

  // Non-zero once the connection is to be closed with this code; nothing
  // more is read or queued after that.
  int close_code = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_SESSION_H_

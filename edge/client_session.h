// ClientSession: the state of one WebSocket client connection.
#ifndef WIREHUB_EDGE_CLIENT_SESSION_H_
#define WIREHUB_EDGE_CLIENT_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "edge/compact_time.h"
#include "edge/reply_sequencer.h"
#include "edge/subscribed_channels.h"
#include "edge/token_bucket.h"
#include "edge/transport.h"
#include "edge/wire_format.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::edge {

// ClientSession is owned by SessionRegistry from the transport's OnOpen to
// its OnClose.
//
// An edge holds one per connection, so its size is most of what an idle
// connection costs beyond lws's own: times are CompactTime, what few
// sessions use (client publishes, token channels) hangs off pointers that
// stay null until then, and the small fields sit together to save padding.
// Thread: edge loop only.
struct ClientSession {
  explicit ClientSession(Connection* connection)
      : id(connection->id), connection(connection), format(connection->format) {}

  // Unique per edge process; callbacks from other threads name sessions by
  // id because the pointer may be gone when they run.
  const uint64_t id;
  Connection* const connection;
  // What every reply and push to this session is encoded as.
  const WireFormat format;
  // Output in command order while replies wait for control.
  ReplySequencer replies;
  // Calls to control (or waits for its acknowledgement) this session's
  // commands have started and that have not come back yet.
  uint32_t calls_in_flight = 0;
  // Non-zero once the connection is to be closed with this code; nothing
  // more is read or queued after that.
  int close_code = 0;
  // Refusals by command_bucket since the last admitted command.
  uint32_t command_strikes = 0;

  // Set by a successful connect command.
  bool connected = false;
  std::string user;
  std::string client_id;
  // The connection token's `tenant`: every channel this session names is in
  // that tenant's space (its key is MakeChannelKey(tenant, name)).
  std::string tenant;
  // The connection token's `info`, raw JSON.
  std::string conn_info;
  // The connection token's `channels`; null when it has none.
  std::unique_ptr<absl::flat_hash_set<std::string>> token_channels;
  CompactTime connected_at;
  // When the connection token expires (InfiniteFuture: never); the session
  // is closed with 3005 if no refresh moved it by then plus the grace.
  CompactTime expires_at = absl::InfiniteFuture();

  // Channels (by name) subscribed or with a subscribe in progress.
  SubscribedChannels channels;

  // Command token bucket (every command but pong).
  TokenBucket command_bucket;

  // Client publishes: created by the first one and kept from then on.
  struct Publishing {
    // The publish rate limit's bucket, full when created (as it would be
    // had it been filled at connect and never drawn from).
    TokenBucket bucket;
    // Publications waiting for control, one in flight at a time so control
    // sequences them in the order the client sent them, each with the
    // place its reply takes. Bounded by the calls-in-flight limit. A list,
    // not a deque: an empty one allocates nothing.
    struct Queued {
      uint32_t command_id;
      ReplySequencer::Ticket ticket;
      std::shared_ptr<edge::v1::ClientPublishRequest> request;
    };
    std::list<Queued> queue;
    bool in_flight = false;
  };
  std::unique_ptr<Publishing> publishing;

  // When the client must have sent what the edge waits for: its connect
  // command (connect_timeout after the handshake), then the pong to the
  // last ping (pong_timeout after it). InfiniteFuture while nothing is
  // awaited. One field for both: they never overlap.
  CompactTime reply_deadline = absl::InfiniteFuture();
  // When the next ping goes (connected sessions).
  CompactTime next_ping = absl::InfiniteFuture();
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_SESSION_H_

// SessionRegistry: the edge's client sessions and the one way output
// reaches them.
#ifndef WIREHUB_EDGE_SESSION_REGISTRY_H_
#define WIREHUB_EDGE_SESSION_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "edge/client_session.h"
#include "edge/reply_sequencer.h"
#include "edge/transport.h"

namespace wirehub::edge {

struct SessionLimits {
  // Bound of what may wait for one client: queued in the transport plus
  // held behind replies still waiting for control.
  size_t queue_max_bytes = 1 << 20;
  // Control calls in flight per connection and for the whole edge; a
  // command past either gets error 111 (too many requests).
  uint32_t max_calls_per_connection = 16;
  uint32_t max_calls_per_edge = 8192;
};

// SessionRegistry owns every ClientSession, sends to them in command order
// (each session's ReplySequencer), closes them, and counts the control
// calls they have in flight.
// Thread: edge loop only.
class SessionRegistry {
 public:
  SessionRegistry(Transport* transport, SessionLimits limits)
      : transport_(transport), limits_(limits) {}
  ~SessionRegistry();
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;

  ClientSession* Open(Connection* connection);
  // Forgets and deletes `session` (the transport closed its connection).
  void Remove(ClientSession* session);
  // Null when that session is gone: answers from other threads name
  // sessions by id.
  ClientSession* Find(uint64_t id) const;
  // Sessions hash and compare by id, so one set of pointers serves both
  // iteration and Find(id): 8 bytes per session where a set and an id map
  // took 24.
  struct ById {
    using is_transparent = void;
    size_t operator()(const ClientSession* session) const { return (*this)(session->id); }
    size_t operator()(uint64_t id) const { return absl::Hash<uint64_t>()(id); }
    bool operator()(const ClientSession* a, const ClientSession* b) const { return a->id == b->id; }
    bool operator()(const ClientSession* a, uint64_t id) const { return a->id == id; }
    bool operator()(uint64_t id, const ClientSession* a) const { return a->id == id; }
  };
  using Sessions = absl::flat_hash_set<ClientSession*, ById, ById>;
  const Sessions& all() const { return sessions_; }
  size_t size() const { return sessions_.size(); }

  // Output in order behind any reply still waiting; a session whose output
  // outgrows its bound is closed as slow (3008). Nothing is sent to a
  // closing session. Returns false when the frame was dropped.
  bool Send(ClientSession* session, Frame frame);
  bool SendText(ClientSession* session, std::string text);
  // Reserves the place of a reply that comes later; Answer() fills it.
  ReplySequencer::Ticket Reserve(ClientSession* session) { return session->replies.Reserve(); }
  void Answer(ClientSession* session, ReplySequencer::Ticket ticket, std::vector<Frame> frames);
  void AnswerText(ClientSession* session, ReplySequencer::Ticket ticket, std::string text);
  void Disconnect(ClientSession* session, int code, std::string_view reason);

  // Takes one control call for `session` unless it or the edge is at its
  // bound. Every successful TryAcquire is matched by one Release with the
  // session's id, whether or not the session still exists then.
  bool TryAcquireCall(ClientSession* session);
  void ReleaseCall(uint64_t session_id);
  uint64_t calls_in_flight() const { return edge_calls_; }

 private:
  void Write(ClientSession* session, Frame frame);
  void Flush(ClientSession* session);

  Transport* const transport_;
  const SessionLimits limits_;
  Sessions sessions_;
  uint64_t edge_calls_ = 0;
  std::vector<Frame> released_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_SESSION_REGISTRY_H_

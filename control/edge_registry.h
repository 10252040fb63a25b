// EdgeRegistry: the attached edges, their interest and their reports.
#ifndef WIREHUB_CONTROL_EDGE_REGISTRY_H_
#define WIREHUB_CONTROL_EDGE_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

class EdgeSession;

// What Stats and Info tell about one attached edge.
struct EdgeSnapshot {
  EdgeSession* session = nullptr;
  // Unique per attach in this process: tells a session from a later one
  // allocated at the same address.
  uint64_t serial = 0;
  std::string edge_id;
  std::string version;
  std::string public_address;
  std::string peer;
  absl::Time attached_at;
  std::shared_ptr<const edge::v1::EdgeStats> last_stats;
};

// EdgeRegistry knows which edges are attached, which channels each has
// local subscribers for, and which users each has connections of.
//
// Thread-safe, behind one reader/writer lock: publishing reads interest
// (shared), attach/detach and interest changes write it. Nothing is done
// under the lock but map updates and the per-edge enqueue of a fan-out;
// in particular no session method that may write or finish a stream.
class EdgeRegistry {
 public:
  // Attaches `session`; false when it already was.
  bool Attach(EdgeSession* session, const edge::v1::Hello& hello, std::string peer);
  // Drops every trace of `session` and returns what was known of it;
  // nullopt when it was not attached.
  // `channels`, when given, receives the channels it had interest in.
  std::optional<EdgeSnapshot> Detach(EdgeSession* session,
                                     std::vector<std::string>* channels = nullptr);
  bool attached(EdgeSession* session) const;
  // The serial of `session`'s attach; 0 when it is not attached.
  uint64_t SerialOf(EdgeSession* session) const;
  // Runs `fn` under the shared lock when `session` is attached with
  // `serial` (so it stays alive meanwhile); false otherwise.
  template <typename Fn>
  bool WithAttached(EdgeSession* session, uint64_t serial, Fn fn) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end() || it->second.snapshot.serial != serial) return false;
    fn();
    return true;
  }

  // Interest and user changes of an attached session (ignored otherwise).
  // True when the session's interest changed (it did not have / had it).
  bool AddInterest(EdgeSession* session, const std::string& key);
  bool RemoveInterest(EdgeSession* session, const std::string& key);
  void AddUser(EdgeSession* session, const std::string& user);
  void RemoveUser(EdgeSession* session, const std::string& user);
  void UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats);

  // Calls `visit` for every edge interested in `key`, under the shared
  // lock: a session cannot be detached (nor deleted) meanwhile, so `visit`
  // may enqueue on it, and must do nothing more.
  template <typename Enqueue>
  void ForEachInterested(const std::string& key, Enqueue enqueue) const {
    absl::ReaderMutexLock lock(&mu_);
    auto it = interest_.find(key);
    if (it == interest_.end()) return;
    for (EdgeSession* session : it->second) enqueue(session);
  }
  bool HasInterest(const std::string& key) const;

  // Calls `visit` with every attached session's snapshot under the shared
  // lock (same rules as ForEachInterested).
  template <typename Visit>
  void WithSessions(Visit visit) const {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<const EdgeSnapshot*> edges;
    edges.reserve(sessions_.size());
    for (const auto& [session, state] : sessions_) edges.push_back(&state.snapshot);
    visit(edges);
  }
  template <typename Visit>
  void ForEachSession(Visit visit) const {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [session, state] : sessions_) visit(state.snapshot);
  }
  // O(edges) copies of pointers under the lock; callers aggregate outside.
  std::vector<EdgeSnapshot> Snapshot() const;
  size_t size() const;
  // Distinct users with connections on any edge.
  size_t users() const;

 private:
  struct SessionState {
    EdgeSnapshot snapshot;
    absl::flat_hash_set<std::string> channels;
    absl::flat_hash_set<std::string> users;
  };
  void RemoveUserLocked(const std::string& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<EdgeSession*, SessionState> sessions_ ABSL_GUARDED_BY(mu_);
  // Channel key -> edges with local subscribers; small, usually a handful.
  absl::flat_hash_map<std::string, std::vector<EdgeSession*>> interest_ ABSL_GUARDED_BY(mu_);
  // User -> number of attached edges where the user has connections.
  absl::flat_hash_map<std::string, uint32_t> users_ ABSL_GUARDED_BY(mu_);
  uint64_t serials_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_REGISTRY_H_

// CommandRouter: bookkeeping of server API calls forwarded to every
// attached edge (EdgeCommand out, CommandResult back).
#ifndef WIREHUB_CONTROL_COMMAND_ROUTER_H_
#define WIREHUB_CONTROL_COMMAND_ROUTER_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::control {

class EdgeSession;

// One edge a command was sent to.
struct CommandTarget {
  const EdgeSession* session = nullptr;  // Identity only; never dereferenced.
  std::string edge_id;
};

// What came back for one command.
struct CommandOutcome {
  // One per edge that answered, with the edge's id (from its Hello).
  struct Answer {
    std::string edge_id;
    edge::v1::CommandResult result;
  };
  std::vector<Answer> answers;
  // Targeted edges that did not answer: deadline passed or detached first.
  uint32_t missing = 0;
};

using CommandCallback = std::function<void(CommandOutcome)>;

// Thread-safe; callbacks run with no router or hub lock held (below).
//
// CommandRouter tracks commands in flight until every targeted edge has
// answered, a targeted edge went away (counted missing) or the deadline
// passed (unanswered ones counted missing), then runs the command's callback
// exactly once. It does not send anything: EdgeHub enqueues the command on
// each session after Begin() gave it an id.
//
// Callbacks run without any router lock held, either inline in
// OnResult() (which sessions call holding no lock) or on the router's own
// thread (deadlines, and completions caused by Begin() or SessionGone(),
// which EdgeHub calls with its lock held). So a callback never runs under
// the hub lock and may call back into the hub or finish an RPC.
class CommandRouter {
 public:
  // The router thread starts in Start(), not here.
  CommandRouter();
  // Stop().
  ~CommandRouter();
  // Starts the router thread (deadlines and deferred callbacks).
  void Start();
  // Ends the thread and completes every command still in flight
  // (unanswered edges missing). Idempotent; no Start() afterwards.
  void Stop();
  CommandRouter(const CommandRouter&) = delete;
  CommandRouter& operator=(const CommandRouter&) = delete;

  // Begin()
  //
  // Registers a command sent to `targets`, to complete by `deadline`, and
  // returns its id (never 0). With no targets it completes at once (on the
  // router thread) with an empty outcome. May be called under the hub lock.
  uint64_t Begin(std::vector<CommandTarget> targets, absl::Time deadline, CommandCallback done);

  // OnResult() records the answer `from` sent; ignored when the command is
  // no longer in flight, `from` was not targeted or already answered.
  // Runs the callback inline when this was the last answer awaited.
  void OnResult(const EdgeSession* from, edge::v1::CommandResult result);

  // SessionGone() counts `session` missing in every command awaiting it.
  // May be called under the hub lock.
  void SessionGone(const EdgeSession* session);

  // Commands in flight (for tests and stats).
  size_t in_flight() const;

 private:
  struct Pending {
    std::vector<CommandTarget> targets;
    std::vector<bool> resolved;  // Per target: answered or counted missing.
    size_t outstanding = 0;
    absl::Time deadline;
    CommandOutcome outcome;
    CommandCallback done;
  };
  struct Ready {
    CommandCallback done;
    CommandOutcome outcome;
  };

  // Removes command `id` and returns its callback with the outcome;
  // unresolved targets count as missing.
  Ready TakeLocked(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();
  bool HasWorkLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const EdgeSession*, absl::flat_hash_set<uint64_t>> by_session_
      ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, uint64_t>> deadlines_ ABSL_GUARDED_BY(mu_);
  // Completed commands whose callbacks the router thread runs.
  std::vector<Ready> ready_ ABSL_GUARDED_BY(mu_);
  // The deadline the router thread sleeps until; an earlier one wakes it.
  absl::Time sleeping_until_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_COMMAND_ROUTER_H_

// RedisScriptSet: Lua scripts loaded into the Redis behind one connection.
#ifndef WIREHUB_CONTROL_REDIS_SCRIPT_SET_H_
#define WIREHUB_CONTROL_REDIS_SCRIPT_SET_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/redis_connection.h"

namespace wirehub::control {

// RedisScriptSet loads its scripts (SCRIPT LOAD) each time its connection
// comes up, and hands out their SHA1s with the run_id they were loaded
// into. A command built with them must be sent with that run_id as
// RedisConnection::Command's expected_run_id: after a restart of Redis its
// script cache is empty, and the command fails instead of reaching it.
//
// Thread-safe.
class RedisScriptSet {
 public:
  struct Loaded {
    std::string run_id;
    std::vector<std::string> shas;  // In the order of the texts.
  };

  // `what` names the set in logs ("stream", "presence").
  RedisScriptSet(std::string what, std::vector<std::string_view> texts);

  // OnState() is the connection's state callback (or part of it): loads
  // every script on up, forgets them on down.
  void OnState(RedisConnection* connection, bool up, const std::string& run_id);
  // Loads again (a NOSCRIPT reply: SCRIPT FLUSH); nothing is used until
  // every script is back.
  void Reload(RedisConnection* connection, const std::string& run_id) const;

  // UNAVAILABLE until every script is loaded. A load that failed (Redis
  // answers LOADING while it reads its AOF after a restart) is retried from
  // here, at most every 100 ms: the stores call Get() on every operation and
  // at least once a second (readiness, maintenance).
  absl::StatusOr<Loaded> Get() const;

 private:
  const std::string what_;
  const std::vector<std::string> texts_;
  mutable absl::Mutex mu_;
  mutable Loaded loaded_ ABSL_GUARDED_BY(mu_);
  // The connection and run_id of the last up; null / empty while down.
  RedisConnection* connection_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::string run_id_ ABSL_GUARDED_BY(mu_);
  mutable bool loading_ ABSL_GUARDED_BY(mu_) = false;
  mutable absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Bumped by every OnState/Reload: a late answer of an older load is
  // ignored.
  mutable uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_SCRIPT_SET_H_

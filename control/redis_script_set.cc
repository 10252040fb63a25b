#include "control/redis_script_set.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace wirehub::control {

RedisScriptSet::RedisScriptSet(std::string what, std::vector<std::string_view> texts)
    : what_(std::move(what)), texts_(texts.begin(), texts.end()) {}

void RedisScriptSet::OnState(RedisConnection* connection, bool up, const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    ++generation_;
    loaded_ = Loaded{};
    loading_ = false;
    connection_ = up ? connection : nullptr;
    run_id_ = up ? run_id : std::string();
  }
  if (up) Reload(connection, run_id);
}

void RedisScriptSet::Reload(RedisConnection* connection, const std::string& run_id) const {
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    generation = ++generation_;
    loaded_ = Loaded{};
    loading_ = true;
  }
  struct Pending {
    Loaded loaded;
    size_t answered = 0;
    bool failed = false;
  };
  // Every answer comes on the connection's one thread: no lock needed.
  auto pending = std::make_shared<Pending>();
  pending->loaded.run_id = run_id;
  pending->loaded.shas.resize(texts_.size());
  for (size_t i = 0; i < texts_.size(); ++i) {
    connection->Command(
        {"SCRIPT", "LOAD", texts_[i]},
        [this, pending, generation, i](absl::StatusOr<RedisReply> reply) {
          ++pending->answered;
          if (!reply.ok() || !reply->is_string()) {
            if (!pending->failed) {
              WH_LOG(WARNING) << "redis: could not load the " << what_ << " scripts (retrying): "
                              << (reply.ok() ? reply->DebugString()
                                             : std::string(reply.status().message()));
            }
            pending->failed = true;
          } else {
            pending->loaded.shas[i] = reply->str;
          }
          if (pending->answered != texts_.size()) return;
          absl::MutexLock lock(&mu_);
          if (generation != generation_) return;
          loading_ = false;
          if (pending->failed) {
            retry_at_ = absl::Now() + absl::Milliseconds(100);
          } else {
            loaded_ = pending->loaded;
          }
        },
        1, run_id);
  }
}

absl::StatusOr<RedisScriptSet::Loaded> RedisScriptSet::Get() const {
  RedisConnection* retry = nullptr;
  std::string run_id;
  {
    absl::MutexLock lock(&mu_);
    if (!loaded_.shas.empty()) return loaded_;
    if (connection_ != nullptr && !loading_ && absl::Now() >= retry_at_) {
      retry = connection_;
      run_id = run_id_;
    }
  }
  if (retry != nullptr) Reload(retry, run_id);
  return absl::UnavailableError(
      absl::StrCat("redis is not connected (or the ", what_, " scripts are not loaded yet)"));
}

}  // namespace wirehub::control

#include "control/command_router.h"

#include <utility>

#include "absl/time/clock.h"

namespace wirehub::control {

CommandRouter::CommandRouter() = default;

void CommandRouter::Start() {
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Run(); });
}

CommandRouter::~CommandRouter() { Stop(); }

void CommandRouter::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Whatever is still in flight completes now, so no caller waits forever.
  std::vector<Ready> ready;
  {
    absl::MutexLock lock(&mu_);
    ready = std::move(ready_);
    ready_.clear();
    while (!pending_.empty()) ready.push_back(TakeLocked(pending_.begin()->first));
  }
  for (Ready& item : ready) item.done(std::move(item.outcome));
}

uint64_t CommandRouter::Begin(std::vector<CommandTarget> targets, absl::Time deadline,
                              CommandCallback done) {
  absl::MutexLock lock(&mu_);
  uint64_t id = next_id_++;
  if (targets.empty()) {
    ready_.push_back(Ready{std::move(done), CommandOutcome{}});
    return id;
  }
  Pending& pending = pending_[id];
  pending.resolved.assign(targets.size(), false);
  pending.outstanding = targets.size();
  pending.deadline = deadline;
  pending.done = std::move(done);
  for (const CommandTarget& target : targets) by_session_[target.session].insert(id);
  pending.targets = std::move(targets);
  deadlines_.emplace(deadline, id);
  return id;
}

void CommandRouter::OnResult(const EdgeSession* from, edge::v1::CommandResult result) {
  Ready ready;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(result.id());
    if (it == pending_.end()) return;
    Pending& pending = it->second;
    size_t index = 0;
    while (index < pending.targets.size() &&
           (pending.targets[index].session != from || pending.resolved[index])) {
      ++index;
    }
    if (index == pending.targets.size()) return;
    pending.resolved[index] = true;
    --pending.outstanding;
    auto owned = by_session_.find(from);
    if (owned != by_session_.end()) {
      owned->second.erase(result.id());
      if (owned->second.empty()) by_session_.erase(owned);
    }
    pending.outcome.answers.push_back(
        CommandOutcome::Answer{pending.targets[index].edge_id, std::move(result)});
    if (pending.outstanding > 0) return;
    ready = TakeLocked(it->first);
  }
  // The last answer: complete here, on the session's read thread, unlocked.
  ready.done(std::move(ready.outcome));
}

void CommandRouter::SessionGone(const EdgeSession* session) {
  absl::MutexLock lock(&mu_);
  auto owned = by_session_.find(session);
  if (owned == by_session_.end()) return;
  absl::flat_hash_set<uint64_t> ids = std::move(owned->second);
  by_session_.erase(owned);
  for (uint64_t id : ids) {
    auto it = pending_.find(id);
    if (it == pending_.end()) continue;
    Pending& pending = it->second;
    for (size_t i = 0; i < pending.targets.size(); ++i) {
      if (pending.targets[i].session != session || pending.resolved[i]) continue;
      pending.resolved[i] = true;
      --pending.outstanding;
      ++pending.outcome.missing;
    }
    // The caller may hold the hub lock: the router thread runs the callback.
    if (pending.outstanding == 0) ready_.push_back(TakeLocked(id));
  }
}

size_t CommandRouter::in_flight() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

CommandRouter::Ready CommandRouter::TakeLocked(uint64_t id) {
  auto it = pending_.find(id);
  Pending pending = std::move(it->second);
  pending_.erase(it);
  deadlines_.erase({pending.deadline, id});
  for (size_t i = 0; i < pending.targets.size(); ++i) {
    if (pending.resolved[i]) continue;
    ++pending.outcome.missing;
    auto owned = by_session_.find(pending.targets[i].session);
    if (owned == by_session_.end()) continue;
    owned->second.erase(id);
    if (owned->second.empty()) by_session_.erase(owned);
  }
  return Ready{std::move(pending.done), std::move(pending.outcome)};
}

bool CommandRouter::HasWorkLocked() const {
  return stopping_ || !ready_.empty() ||
         (!deadlines_.empty() && deadlines_.begin()->first < sleeping_until_);
}

void CommandRouter::Run() {
  mu_.Lock();
  while (true) {
    sleeping_until_ = deadlines_.empty() ? absl::InfiniteFuture() : deadlines_.begin()->first;
    mu_.AwaitWithDeadline(absl::Condition(this, &CommandRouter::HasWorkLocked), sleeping_until_);
    std::vector<Ready> ready = std::move(ready_);
    ready_.clear();
    absl::Time now = absl::Now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      ready.push_back(TakeLocked(deadlines_.begin()->second));
    }
    bool stop = stopping_;
    mu_.Unlock();
    for (Ready& item : ready) item.done(std::move(item.outcome));
    if (stop) return;
    mu_.Lock();
  }
}

}  // namespace wirehub::control

#include "control/edge_registry.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace wirehub::control {

bool EdgeRegistry::Attach(EdgeSession* session, const edge::v1::Hello& hello, std::string peer) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.try_emplace(session);
  if (!inserted) return false;
  EdgeSnapshot& snapshot = it->second.snapshot;
  snapshot.session = session;
  snapshot.serial = ++serials_;
  snapshot.edge_id = hello.edge_id();
  snapshot.version = hello.version();
  snapshot.public_address = hello.public_address();
  snapshot.peer = std::move(peer);
  snapshot.attached_at = absl::Now();
  snapshot.last_stats = std::make_shared<const edge::v1::EdgeStats>();
  return true;
}

std::optional<EdgeSnapshot> EdgeRegistry::Detach(EdgeSession* session,
                                                 std::vector<std::string>* channels) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return std::nullopt;
  EdgeSnapshot snapshot = std::move(it->second.snapshot);
  for (const std::string& key : it->second.channels) {
    auto edges = interest_.find(key);
    if (edges == interest_.end()) continue;
    std::erase(edges->second, session);
    if (edges->second.empty()) interest_.erase(edges);
  }
  for (const std::string& user : it->second.users) RemoveUserLocked(user);
  if (channels != nullptr) {
    channels->assign(it->second.channels.begin(), it->second.channels.end());
  }
  sessions_.erase(it);
  return snapshot;
}

bool EdgeRegistry::attached(EdgeSession* session) const {
  absl::ReaderMutexLock lock(&mu_);
  return sessions_.contains(session);
}

uint64_t EdgeRegistry::SerialOf(EdgeSession* session) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = sessions_.find(session);
  return it == sessions_.end() ? 0 : it->second.snapshot.serial;
}

bool EdgeRegistry::AddInterest(EdgeSession* session, const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end() || !it->second.channels.insert(key).second) return false;
  interest_[key].push_back(session);
  return true;
}

bool EdgeRegistry::RemoveInterest(EdgeSession* session, const std::string& key) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end() || it->second.channels.erase(key) == 0) return false;
  auto edges = interest_.find(key);
  if (edges != interest_.end()) {
    std::erase(edges->second, session);
    if (edges->second.empty()) interest_.erase(edges);
  }
  return true;
}

void EdgeRegistry::AddUser(EdgeSession* session, const std::string& user) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it != sessions_.end() && it->second.users.insert(user).second) ++users_[user];
}

void EdgeRegistry::RemoveUser(EdgeSession* session, const std::string& user) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it != sessions_.end() && it->second.users.erase(user) != 0) RemoveUserLocked(user);
}

void EdgeRegistry::RemoveUserLocked(const std::string& user) {
  auto it = users_.find(user);
  if (it != users_.end() && --it->second == 0) users_.erase(it);
}

void EdgeRegistry::UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats) {
  // Copied before the lock: a report may list thousands of channels.
  auto shared = std::make_shared<const edge::v1::EdgeStats>(stats);
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it != sessions_.end()) it->second.snapshot.last_stats = std::move(shared);
}

bool EdgeRegistry::HasInterest(const std::string& key) const {
  absl::ReaderMutexLock lock(&mu_);
  return interest_.contains(key);
}

std::vector<EdgeSnapshot> EdgeRegistry::Snapshot() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<EdgeSnapshot> snapshot;
  snapshot.reserve(sessions_.size());
  for (const auto& [session, state] : sessions_) snapshot.push_back(state.snapshot);
  return snapshot;
}

size_t EdgeRegistry::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return sessions_.size();
}

size_t EdgeRegistry::users() const {
  absl::ReaderMutexLock lock(&mu_);
  return users_.size();
}

}  // namespace wirehub::control

#include "control/edge_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "control/edge_session.h"

namespace wirehub::control {

EdgeHub::EdgeHub() : rng_(std::random_device{}()) {}

std::string EdgeHub::NewEpoch() {
  // 64 random bits: a restarted control (empty memory) never reuses an
  // epoch a client may still hold.
  return absl::StrFormat("%016x", rng_());
}

EdgeHub::ChannelState& EdgeHub::ChannelFor(const std::string& channel) {
  auto [it, inserted] = channels_.try_emplace(channel);
  if (inserted) it->second.epoch = NewEpoch();
  return it->second;
}

StreamPosition EdgeHub::Publish(const std::string& channel, std::string data) {
  std::vector<EdgeSession*> overflowed;
  StreamPosition position;
  {
    absl::MutexLock lock(&mu_);
    ChannelState& state = ChannelFor(channel);
    position.offset = ++state.last_offset;
    position.epoch = state.epoch;
    ++publications_accepted_;
    if (!state.edges.empty()) {
      auto publication = std::make_shared<edge::v1::Publication>();
      publication->set_channel(channel);
      publication->set_data(std::move(data));
      publication->set_offset(position.offset);
      publication->set_epoch(position.epoch);
      std::shared_ptr<const edge::v1::Publication> shared = std::move(publication);
      for (EdgeSession* session : state.edges) {
        if (!session->Enqueue(shared)) overflowed.push_back(session);
      }
      for (EdgeSession* session : overflowed) {
        if (DetachLocked(session)) {
          ++slow_edge_detaches_;
          WH_LOG(WARNING) << "edge " << session->peer()
                          << " outbound queue overflowed; detached (it will re-attach)";
        }
      }
    }
  }
  return position;
}

void EdgeHub::AttachSession(EdgeSession* session, const edge::v1::Hello& hello,
                            std::string peer) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.try_emplace(session);
  if (!inserted) return;
  SessionState& state = it->second;
  state.edge_id = hello.edge_id();
  state.version = hello.version();
  state.public_address = hello.public_address();
  state.peer = std::move(peer);
  state.attached_at = absl::Now();
  for (const std::string& channel : hello.channels()) AddInterest(session, state, channel);
  for (const std::string& user : hello.users()) AddUser(state, user);
  WH_LOG(INFO) << "edge " << state.edge_id << " attached from " << state.peer << " with "
               << state.channels.size() << " channels";
  session->EnqueueAck(hello.seq());
}

void EdgeHub::ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  SessionState& state = it->second;
  for (const std::string& channel : change.channels_added()) AddInterest(session, state, channel);
  for (const std::string& channel : change.channels_removed()) {
    RemoveInterest(session, state, channel);
  }
  for (const std::string& user : change.users_added()) AddUser(state, user);
  for (const std::string& user : change.users_removed()) RemoveUser(state, user);
  // The ack is queued after the interest took effect: every publication
  // sequenced from here on for these channels is queued behind it.
  if (change.seq() != 0) session->EnqueueAck(change.seq());
}

void EdgeHub::UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  deliveries_ += stats.deliveries();
  it->second.last_stats = stats;
}

void EdgeHub::RemoveSession(EdgeSession* session) {
  absl::MutexLock lock(&mu_);
  if (DetachLocked(session)) {
    WH_LOG(INFO) << "edge " << session->peer() << " detached";
  }
}

bool EdgeHub::DetachLocked(EdgeSession* session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return false;
  SessionState& state = it->second;
  for (const std::string& channel : state.channels) {
    auto ch = channels_.find(channel);
    if (ch == channels_.end()) continue;
    auto& edges = ch->second.edges;
    edges.erase(std::remove(edges.begin(), edges.end(), session), edges.end());
  }
  for (const std::string& user : state.users) {
    auto u = users_.find(user);
    if (u != users_.end() && --u->second == 0) users_.erase(u);
  }
  sessions_.erase(it);
  return true;
}

void EdgeHub::AddInterest(EdgeSession* session, SessionState& state, const std::string& channel) {
  if (!state.channels.insert(channel).second) return;
  ChannelFor(channel).edges.push_back(session);
}

void EdgeHub::RemoveInterest(EdgeSession* session, SessionState& state,
                             const std::string& channel) {
  if (state.channels.erase(channel) == 0) return;
  auto ch = channels_.find(channel);
  if (ch == channels_.end()) return;
  auto& edges = ch->second.edges;
  edges.erase(std::remove(edges.begin(), edges.end(), session), edges.end());
}

void EdgeHub::AddUser(SessionState& state, const std::string& user) {
  if (state.users.insert(user).second) ++users_[user];
}

void EdgeHub::RemoveUser(SessionState& state, const std::string& user) {
  if (state.users.erase(user) == 0) return;
  auto u = users_.find(user);
  if (u != users_.end() && --u->second == 0) users_.erase(u);
}

void EdgeHub::FillStats(int top_channels, v1::StatsResponse* out) const {
  if (top_channels <= 0) top_channels = 10;
  top_channels = std::min(top_channels, 1000);
  absl::MutexLock lock(&mu_);
  absl::flat_hash_map<std::string, uint64_t> per_channel;
  for (const auto& [session, state] : sessions_) {
    v1::EdgeInfo* edge = out->add_edges();
    edge->set_id(state.edge_id);
    edge->set_address(state.peer);
    edge->set_public_address(state.public_address);
    edge->set_version(state.version);
    edge->set_connected_since_unix_ms(absl::ToUnixMillis(state.attached_at));
    edge->set_connections(state.last_stats.connections());
    edge->set_subscriptions(state.last_stats.subscriptions());
    out->set_total_connections(out->total_connections() + state.last_stats.connections());
    out->set_subscriptions(out->subscriptions() + state.last_stats.subscriptions());
    for (const auto& count : state.last_stats.channels()) {
      per_channel[count.channel()] += count.subscribers();
    }
  }
  out->set_unique_users(users_.size());
  out->set_channels_with_subscribers(per_channel.size());
  std::vector<std::pair<uint64_t, std::string>> ranked;
  ranked.reserve(per_channel.size());
  for (auto& [channel, count] : per_channel) ranked.emplace_back(count, channel);
  size_t keep = std::min(ranked.size(), static_cast<size_t>(top_channels));
  std::partial_sort(ranked.begin(), ranked.begin() + keep, ranked.end(),
                    [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : a.second < b.second;
                    });
  for (size_t i = 0; i < keep; ++i) {
    v1::ChannelSubscribers* entry = out->add_top_channels();
    entry->set_channel(ranked[i].second);
    entry->set_subscribers(ranked[i].first);
  }
  out->set_publications_accepted(publications_accepted_);
  out->set_deliveries(deliveries_);
  out->set_slow_edge_detaches(slow_edge_detaches_);
}

}  // namespace wirehub::control

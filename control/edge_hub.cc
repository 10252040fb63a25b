#include "control/edge_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "control/edge_session.h"

namespace wirehub::control {

EdgeHub::EdgeHub(const NamespaceRegistry* namespaces, EdgeHubOptions options)
    : namespaces_(namespaces != nullptr ? namespaces : &default_namespaces_),
      options_(options),
      rng_(std::random_device{}()) {}

HistoryPolicy EdgeHub::PolicyFor(const config::v1::NamespaceOptions& options) const {
  HistoryPolicy policy;
  policy.max_size = options.history_size();
  policy.ttl = absl::Seconds(options.history_ttl().seconds()) +
               absl::Nanoseconds(options.history_ttl().nanos());
  return policy;
}

std::string EdgeHub::NewEpoch() {
  // 64 random bits: a restarted control (empty memory) never reuses an
  // epoch a client may still hold.
  return absl::StrFormat("%016x", rng_());
}

EdgeHub::ChannelState& EdgeHub::ChannelFor(const std::string& channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) it = channels_.try_emplace(channel, NewEpoch()).first;
  return it->second;
}

absl::StatusOr<StreamPosition> EdgeHub::Publish(const std::string& channel, std::string data,
                                                const std::string& idempotency_key) {
  const config::v1::NamespaceOptions* namespace_options = namespaces_->Find(channel);
  if (namespace_options == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("channel ", channel, " is in a namespace that is not configured"));
  }
  HistoryPolicy policy = PolicyFor(*namespace_options);
  absl::Time now = absl::Now();
  std::vector<EdgeSession*> to_kick;
  StreamPosition position =
      PublishLocked(channel, std::move(data), idempotency_key, policy, now, &to_kick);
  // Writes start only now, with the hub unlocked (see EdgeSession::Kick).
  for (EdgeSession* session : to_kick) session->Kick();
  return position;
}

StreamPosition EdgeHub::PublishLocked(const std::string& channel, std::string data,
                                      const std::string& idempotency_key,
                                      const HistoryPolicy& policy, absl::Time now,
                                      std::vector<EdgeSession*>* to_kick) {
  std::vector<EdgeSession*> overflowed;
  StreamPosition position;
  absl::MutexLock lock(&mu_);
  ChannelState& state = ChannelFor(channel);
  ChannelStream& stream = state.stream;
  position.epoch = stream.epoch();
  if (!idempotency_key.empty()) {
    stream.Evict(now, policy, options_.idempotency_window);
    if (std::optional<uint64_t> offset = stream.FindIdempotencyKey(idempotency_key)) {
      ++idempotent_replays_;
      position.offset = *offset;
      position.replayed = true;
      return position;
    }
  }
  position.offset = stream.NextOffset(now);
  if (!idempotency_key.empty())
    stream.RememberIdempotencyKey(idempotency_key, position.offset, now);
  ++publications_accepted_;
  bool keep = policy.max_size > 0;
  if (state.edges.empty() && !keep) return position;

  auto publication = std::make_shared<edge::v1::Publication>();
  publication->set_channel(channel);
  publication->set_data(std::move(data));
  publication->set_offset(position.offset);
  publication->set_epoch(position.epoch);
  std::shared_ptr<const edge::v1::Publication> shared = std::move(publication);
  if (keep) stream.Remember(shared, now, policy);
  for (EdgeSession* session : state.edges) {
    bool kick = false;
    if (!session->Enqueue(shared, &kick)) overflowed.push_back(session);
    if (kick) to_kick->push_back(session);
  }
  for (EdgeSession* session : overflowed) {
    if (DetachLocked(session)) {
      ++slow_edge_detaches_;
      WH_LOG(WARNING) << "edge " << session->peer()
                      << " outbound queue overflowed; detached (it will re-attach)";
    }
  }
  return position;
}

absl::StatusOr<HistoryRead> EdgeHub::History(const std::string& channel,
                                             const std::optional<StreamPosition>& since,
                                             int64_t limit, bool reverse) {
  const config::v1::NamespaceOptions* namespace_options = namespaces_->Find(channel);
  if (namespace_options == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("channel ", channel, " is in a namespace that is not configured"));
  }
  HistoryPolicy policy = PolicyFor(*namespace_options);
  if (policy.max_size == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("history is not enabled for the namespace of channel ", channel));
  }
  absl::MutexLock lock(&mu_);
  ChannelStream& stream = ChannelFor(channel).stream;
  stream.Evict(absl::Now(), policy, options_.idempotency_window);
  uint64_t after = 0;
  if (since.has_value()) {
    if (since->epoch != stream.epoch() || since->offset > stream.top_offset()) {
      return absl::FailedPreconditionError(
          absl::StrCat("unrecoverable position: the stream is at epoch ", stream.epoch(),
                       " offset ", stream.top_offset()));
    }
    after = since->offset;
  }
  return stream.Read(after, limit, reverse);
}

absl::Status EdgeHub::HistoryRemove(const std::string& channel) {
  const config::v1::NamespaceOptions* namespace_options = namespaces_->Find(channel);
  if (namespace_options == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("channel ", channel, " is in a namespace that is not configured"));
  }
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return absl::OkStatus();
  // An empty policy evicts every kept publication; keys stay.
  it->second.stream.Evict(absl::Now(), HistoryPolicy{}, options_.idempotency_window);
  return absl::OkStatus();
}

void EdgeHub::Maintain(absl::Time now) {
  absl::MutexLock lock(&mu_);
  uint64_t publications = 0;
  uint64_t bytes = 0;
  for (auto it = channels_.begin(); it != channels_.end();) {
    ChannelState& state = it->second;
    const config::v1::NamespaceOptions* namespace_options = namespaces_->Find(it->first);
    HistoryPolicy policy =
        namespace_options != nullptr ? PolicyFor(*namespace_options) : HistoryPolicy{};
    state.stream.Evict(now, policy, options_.idempotency_window);
    // A stream that holds nothing and that no edge listens to is forgotten
    // once idle for the idempotency window; a later publish starts a new
    // epoch, which clients treat as "cannot recover", never as a silent gap.
    if (state.edges.empty() && state.stream.empty() &&
        now - state.stream.last_publish() >= options_.idempotency_window) {
      channels_.erase(it++);
      continue;
    }
    publications += state.stream.history_size();
    bytes += state.stream.memory_bytes();
    ++it;
  }
  history_publications_ = publications;
  history_bytes_ = bytes;
}

bool EdgeHub::AttachSession(EdgeSession* session, const edge::v1::Hello& hello, std::string peer) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = sessions_.try_emplace(session);
  if (!inserted) return false;
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
  return session->EnqueueAck(hello.seq());
}

bool EdgeHub::ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return false;
  SessionState& state = it->second;
  for (const std::string& channel : change.channels_added()) AddInterest(session, state, channel);
  for (const std::string& channel : change.channels_removed()) {
    RemoveInterest(session, state, channel);
  }
  for (const std::string& user : change.users_added()) AddUser(state, user);
  for (const std::string& user : change.users_removed()) RemoveUser(state, user);
  // The ack is queued after the interest took effect: every publication
  // sequenced from here on for these channels is queued behind it.
  return change.seq() != 0 && session->EnqueueAck(change.seq());
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
  out->set_channels_tracked(channels_.size());
  out->set_history_publications(history_publications_);
  out->set_history_bytes(history_bytes_);
  out->set_idempotent_replays(idempotent_replays_);
}

}  // namespace wirehub::control

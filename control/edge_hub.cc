#include "control/edge_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/logging.h"
#include "control/edge_session.h"

namespace wirehub::control {

EdgeHub::EdgeHub(const NamespaceRegistry* namespaces, EdgeHubOptions options)
    : namespaces_(namespaces != nullptr ? namespaces : &default_namespaces_),
      options_(options),
      rng_(std::random_device{}()) {}

void EdgeHub::Deferred::Run() {
  for (EdgeSession* session : kick) session->Kick();
  for (EdgeSession* session : finish) session->FinishPrepared();
}

HistoryPolicy EdgeHub::PolicyFor(const config::v1::NamespaceOptions& options) const {
  HistoryPolicy policy;
  policy.max_size = options.history_size();
  policy.ttl = absl::Seconds(options.history_ttl().seconds()) +
               absl::Nanoseconds(options.history_ttl().nanos());
  return policy;
}

const config::v1::NamespaceOptions* EdgeHub::OptionsFor(const std::string& key) const {
  // The namespace is that of the channel part: a tenant never changes it.
  return namespaces_->Find(SplitChannelKey(key).channel);
}

absl::Status EdgeHub::NotConfigured(const std::string& key) const {
  return absl::InvalidArgumentError(absl::StrCat("channel ", AsAbsl(SplitChannelKey(key).channel),
                                                 " is in a namespace that is not configured"));
}

absl::Status EdgeHub::CheckNamespace(const std::string& key) const {
  return OptionsFor(key) == nullptr ? NotConfigured(key) : absl::OkStatus();
}

absl::StatusOr<const config::v1::NamespaceOptions*> EdgeHub::PresenceOptionsFor(
    const std::string& key) const {
  const config::v1::NamespaceOptions* options = OptionsFor(key);
  if (options == nullptr) return NotConfigured(key);
  if (!options->presence()) {
    std::string_view channel = SplitChannelKey(key).channel;
    absl::StatusOr<std::string_view> name = NamespaceRegistry::NamespaceOf(channel);
    return absl::FailedPreconditionError(absl::StrCat(
        "presence is not enabled for namespace \"", AsAbsl(name.ok() ? *name : std::string_view()),
        "\" of channel ", AsAbsl(channel)));
  }
  return options;
}

std::string EdgeHub::NewEpoch() {
  // 64 random bits: a restarted control (empty memory) never reuses an
  // epoch a client may still hold.
  return absl::StrFormat("%016x", rng_());
}

EdgeHub::ChannelState& EdgeHub::ChannelFor(const std::string& key) {
  auto it = channels_.find(key);
  if (it == channels_.end()) it = channels_.try_emplace(key, NewEpoch()).first;
  return it->second;
}

absl::StatusOr<StreamPosition> EdgeHub::Publish(const std::string& key, std::string data,
                                                const std::string& idempotency_key,
                                                const v1::ClientInfo* info) {
  const config::v1::NamespaceOptions* namespace_options = OptionsFor(key);
  if (namespace_options == nullptr) return NotConfigured(key);
  const HistoryPolicy policy = PolicyFor(*namespace_options);
  const absl::Time now = absl::Now();
  // Clients split received frames into messages at '\n'. In a valid JSON
  // document a line break can only be whitespace between tokens (inside a
  // string it must be escaped), so making it a space changes no value.
  std::replace_if(
      data.begin(), data.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  StreamPosition position;
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    ChannelState& state = ChannelFor(key);
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
    if (!idempotency_key.empty()) {
      stream.RememberIdempotencyKey(idempotency_key, position.offset, now);
    }
    ++publications_accepted_;
    const bool keep = policy.max_size > 0;
    if (!state.edges.empty() || keep) {
      auto publication = std::make_shared<edge::v1::Publication>();
      publication->set_channel(key);
      publication->set_data(std::move(data));
      publication->set_offset(position.offset);
      publication->set_epoch(position.epoch);
      if (info != nullptr) *publication->mutable_info() = *info;
      std::shared_ptr<const edge::v1::Publication> shared = std::move(publication);
      if (keep) stream.Remember(shared, now, policy);
      FanOutLocked(state.edges, shared, &deferred);
    }
  }
  // Writes start only now, with the hub unlocked (see EdgeSession::Kick).
  deferred.Run();
  return position;
}

void EdgeHub::FanOutLocked(std::vector<EdgeSession*> sessions,
                           const std::shared_ptr<const edge::v1::Publication>& publication,
                           Deferred* deferred) {
  std::vector<EdgeSession*> overflowed;
  for (EdgeSession* session : sessions) {
    bool kick = false;
    if (!session->Enqueue(publication, &kick)) overflowed.push_back(session);
    if (kick) deferred->kick.push_back(session);
  }
  for (EdgeSession* session : overflowed) DetachSlowLocked(session, deferred);
}

void EdgeHub::DetachSlowLocked(EdgeSession* session, Deferred* deferred) {
  // The session ends its stream by itself once the write in flight is done.
  if (DetachLocked(session, deferred)) {
    ++slow_edge_detaches_;
    WH_LOG(WARNING) << "edge " << session->peer()
                    << " outbound queue overflowed; detached (it will re-attach)";
  }
}

absl::StatusOr<HistoryRead> EdgeHub::History(const std::string& key,
                                             const std::optional<StreamPosition>& since,
                                             int64_t limit, bool reverse) {
  const config::v1::NamespaceOptions* namespace_options = OptionsFor(key);
  if (namespace_options == nullptr) return NotConfigured(key);
  HistoryPolicy policy = PolicyFor(*namespace_options);
  if (policy.max_size == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("history is not enabled for the namespace of channel ",
                     AsAbsl(SplitChannelKey(key).channel)));
  }
  absl::MutexLock lock(&mu_);
  ChannelStream& stream = ChannelFor(key).stream;
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

absl::Status EdgeHub::HistoryRemove(const std::string& key) {
  if (OptionsFor(key) == nullptr) return NotConfigured(key);
  absl::MutexLock lock(&mu_);
  auto it = channels_.find(key);
  if (it == channels_.end()) return absl::OkStatus();
  // An empty policy evicts every kept publication; keys stay.
  it->second.stream.Evict(absl::Now(), HistoryPolicy{}, options_.idempotency_window);
  return absl::OkStatus();
}

absl::StatusOr<PresenceTable::Page> EdgeHub::Presence(const std::string& key, size_t page_size,
                                                      const std::string& page_token) const {
  absl::StatusOr<const config::v1::NamespaceOptions*> options = PresenceOptionsFor(key);
  if (!options.ok()) return options.status();
  absl::MutexLock lock(&mu_);
  return presence_.List(key, page_size, page_token);
}

absl::StatusOr<PresenceTable::Counts> EdgeHub::PresenceStats(const std::string& key) const {
  absl::StatusOr<const config::v1::NamespaceOptions*> options = PresenceOptionsFor(key);
  if (!options.ok()) return options.status();
  absl::MutexLock lock(&mu_);
  return presence_.Count(key);
}

void EdgeHub::SendCommand(edge::v1::EdgeCommand command, absl::Time deadline,
                          CommandCallback done) {
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    std::vector<EdgeSession*> sessions;
    std::vector<CommandTarget> targets;
    sessions.reserve(sessions_.size());
    targets.reserve(sessions_.size());
    for (const auto& [session, state] : sessions_) {
      sessions.push_back(session);
      targets.push_back(CommandTarget{session, state.edge_id});
    }
    // Registered before anything is queued, so no answer can come first. A
    // session that is finishing drops the command; its detach (which must
    // still come, under this lock) counts it missing.
    command.set_id(router_.Begin(std::move(targets), deadline, std::move(done)));
    auto shared = std::make_shared<const edge::v1::EdgeCommand>(std::move(command));
    std::vector<EdgeSession*> overflowed;
    for (EdgeSession* session : sessions) {
      bool kick = false;
      if (!session->EnqueueCommand(shared, &kick)) overflowed.push_back(session);
      if (kick) deferred.kick.push_back(session);
    }
    for (EdgeSession* session : overflowed) DetachSlowLocked(session, &deferred);
  }
  deferred.Run();
}

void EdgeHub::Maintain(absl::Time now) {
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    std::vector<std::pair<EdgeSession*, absl::Duration>> silent;
    for (const auto& [session, state] : sessions_) {
      absl::Duration quiet = now - session->last_read();
      if (quiet > options_.edge_timeout) silent.emplace_back(session, quiet);
    }
    for (const auto& [session, quiet] : silent) {
      // Its presence goes now, not when the stream ends: a write to a dead
      // peer may not complete before keepalive gives up on the transport.
      if (!DetachLocked(session, &deferred)) continue;
      WH_LOG(WARNING) << "edge " << session->peer() << " silent for " << absl::FormatDuration(quiet)
                      << "; detached";
      grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("edge silent for ", absl::FormatDuration(quiet)));
      if (session->PrepareFinish(status)) deferred.finish.push_back(session);
    }

    uint64_t publications = 0;
    uint64_t bytes = 0;
    for (auto it = channels_.begin(); it != channels_.end();) {
      ChannelState& state = it->second;
      const config::v1::NamespaceOptions* namespace_options = OptionsFor(it->first);
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
  deferred.Run();
}

void EdgeHub::AttachSession(EdgeSession* session, const edge::v1::Hello& hello, std::string peer) {
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = sessions_.try_emplace(session);
    if (!inserted) return;
    SessionState& state = it->second;
    state.edge_id = hello.edge_id();
    state.version = hello.version();
    state.public_address = hello.public_address();
    state.peer = std::move(peer);
    state.attached_at = absl::Now();
    for (const std::string& key : hello.channels()) AddInterest(session, state, key);
    for (const std::string& user : hello.users()) AddUser(state, user);
    // Edges send their interest after the hello, in pages (InterestChange).
    WH_LOG(INFO) << "edge " << state.edge_id << " attached from " << state.peer;
    // Interest first, so the edge gets the joins of its own clients too.
    // From here on `state` may dangle: a join can detach any session whose
    // queue overflows, this one included.
    for (const edge::v1::PresenceEntry& entry : hello.presence()) {
      AddPresenceLocked(session, entry, &deferred);
    }
    if (sessions_.contains(session) && session->EnqueueAck(hello.seq())) {
      deferred.kick.push_back(session);
    }
  }
  deferred.Run();
}

void EdgeHub::ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change) {
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    SessionState& state = it->second;
    for (const std::string& key : change.channels_added()) AddInterest(session, state, key);
    for (const std::string& user : change.users_added()) AddUser(state, user);
    for (const std::string& user : change.users_removed()) RemoveUser(state, user);
    // Leaves before the interest goes: the edge may still have other
    // subscribers of a channel whose last presence entry left. From here on
    // `state` may dangle (see AttachSession).
    for (const edge::v1::PresenceEntry& entry : change.presence_added()) {
      AddPresenceLocked(session, entry, &deferred);
    }
    for (const edge::v1::PresenceEntry& entry : change.presence_removed()) {
      RemovePresenceLocked(session, entry, &deferred);
    }
    it = sessions_.find(session);
    if (it != sessions_.end()) {
      for (const std::string& key : change.channels_removed()) {
        RemoveInterest(session, it->second, key);
      }
      // The ack is queued after the interest took effect: every publication
      // sequenced from here on for these channels is queued behind it.
      if (change.seq() != 0 && session->EnqueueAck(change.seq())) {
        deferred.kick.push_back(session);
      }
    }
  }
  deferred.Run();
}

void EdgeHub::AddPresenceLocked(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                                Deferred* deferred) {
  // A detached session must not leave entries behind that nothing removes.
  if (entry.info().client().empty() || !sessions_.contains(session)) return;
  if (presence_.Add(session, entry.channel(), entry.info())) {
    EmitJoinLeaveLocked(entry.channel(), entry.info(), /*join=*/true, deferred);
  }
}

void EdgeHub::RemovePresenceLocked(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                                   Deferred* deferred) {
  std::optional<v1::ClientInfo> removed =
      presence_.Remove(session, entry.channel(), entry.info().client());
  // The leave carries the info the client joined with; the edge sends only
  // the client id.
  if (removed.has_value()) EmitJoinLeaveLocked(entry.channel(), *removed, /*join=*/false, deferred);
}

void EdgeHub::EmitJoinLeaveLocked(const std::string& key, const v1::ClientInfo& info, bool join,
                                  Deferred* deferred) {
  auto channel = channels_.find(key);
  if (channel == channels_.end() || channel->second.edges.empty()) return;
  const config::v1::NamespaceOptions* options = OptionsFor(key);
  if (options == nullptr || !options->join_leave()) return;
  auto event = std::make_shared<edge::v1::Publication>();
  event->set_channel(key);
  *(join ? event->mutable_join() : event->mutable_leave()) = info;
  FanOutLocked(channel->second.edges, std::move(event), deferred);
}

void EdgeHub::UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  deliveries_ += stats.deliveries();
  it->second.last_stats = stats;
}

void EdgeHub::RemoveSession(EdgeSession* session) {
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    if (DetachLocked(session, &deferred)) {
      WH_LOG(INFO) << "edge " << session->peer() << " detached";
    }
  }
  deferred.Run();
}

bool EdgeHub::DetachLocked(EdgeSession* session, Deferred* deferred) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return false;
  SessionState& state = it->second;
  for (const std::string& key : state.channels) {
    auto ch = channels_.find(key);
    if (ch == channels_.end()) continue;
    auto& edges = ch->second.edges;
    edges.erase(std::remove(edges.begin(), edges.end(), session), edges.end());
  }
  for (const std::string& user : state.users) {
    auto u = users_.find(user);
    if (u != users_.end() && --u->second == 0) users_.erase(u);
  }
  sessions_.erase(it);
  router_.SessionGone(session);
  // The session is out of every channel's list by now, so its own leaves
  // are not queued to it.
  for (const PresenceTable::Entry& entry : presence_.RemoveOwner(session)) {
    EmitJoinLeaveLocked(entry.key, entry.info, /*join=*/false, deferred);
  }
  return true;
}

void EdgeHub::AddInterest(EdgeSession* session, SessionState& state, const std::string& key) {
  if (!state.channels.insert(key).second) return;
  ChannelFor(key).edges.push_back(session);
}

void EdgeHub::RemoveInterest(EdgeSession* session, SessionState& state, const std::string& key) {
  if (state.channels.erase(key) == 0) return;
  auto ch = channels_.find(key);
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

HubCounts EdgeHub::Counts() const {
  absl::MutexLock lock(&mu_);
  return HubCounts{sessions_.size(), channels_.size()};
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
  for (auto& [key, count] : per_channel) ranked.emplace_back(count, key);
  size_t keep = std::min(ranked.size(), static_cast<size_t>(top_channels));
  std::partial_sort(ranked.begin(), ranked.begin() + keep, ranked.end(),
                    [](const auto& a, const auto& b) {
                      return a.first != b.first ? a.first > b.first : a.second < b.second;
                    });
  for (size_t i = 0; i < keep; ++i) {
    // Edges report channel keys; backends see the name and the tenant.
    ChannelKeyParts parts = SplitChannelKey(ranked[i].second);
    v1::ChannelSubscribers* entry = out->add_top_channels();
    entry->set_channel(std::string(parts.channel));
    entry->set_tenant(std::string(parts.tenant));
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

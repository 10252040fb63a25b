#include "control/edge_hub.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/logging.h"
#include "control/edge_session.h"
#include "control/memory_presence_store.h"
#include "control/memory_stream_store.h"

namespace wirehub::control {

namespace {

// Durations of engine operations: a steady clock, read twice per operation.
class OperationTimer {
 public:
  OperationTimer() : start_(std::chrono::steady_clock::now()) {}
  void ObserveInto(metrics::Histogram& histogram) const {
    histogram.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// One publish in kPublishTimingSample is timed (per thread, no shared
// counter): two clock reads cost a sizeable part of a memory-engine publish,
// and a sample shows its latency as well. Other operations are all timed.
constexpr uint32_t kPublishTimingSample = 64;
bool TimeThisPublish() {
  thread_local uint32_t publishes = 0;
  return ++publishes % kPublishTimingSample == 0;
}

}  // namespace

EdgeHub::EdgeHub(const NamespaceRegistry* namespaces, EdgeHubOptions options,
                 std::unique_ptr<StreamStore> streams, std::unique_ptr<PresenceStore> presence,
                 std::unique_ptr<ReplicaBus> bus)
    : own_registry_(options.metrics == nullptr ? std::make_unique<metrics::Registry>() : nullptr),
      own_metrics_(options.metrics == nullptr
                       ? std::make_unique<ControlMetrics>(own_registry_.get())
                       : nullptr),
      metrics_(options.metrics != nullptr ? options.metrics : own_metrics_.get()),
      options_(options),
      streams_(streams != nullptr ? std::move(streams) : std::make_unique<MemoryStreamStore>()),
      presence_(presence != nullptr ? std::move(presence)
                                    : std::make_unique<MemoryPresenceStore>()),
      bus_(std::move(bus)) {
  auto config = std::make_shared<HubConfig>();
  config->namespaces = std::make_shared<const NamespaceTable>(
      namespaces != nullptr ? *namespaces : NamespaceRegistry::Default(),
      std::vector<std::string>(), metrics_);
  config->idempotency_window = options.idempotency_window;
  config_.store(std::move(config));
}

EdgeHub::~EdgeHub() { Stop(); }

void EdgeHub::Start() {
  presence_->Start();
  streams_->Start(
      [this](std::shared_ptr<const edge::v1::Publication> publication) { OnFeed(publication); },
      [this](const absl::Status& status) { OnEngineLost(status); });
  router_.Start();
  if (bus_ != nullptr) {
    bus_->Start([this](const edge::v1::ReplicaRequest& request, ReplicaBus::Reply reply) {
      OnReplicaRequest(request, std::move(reply));
    });
  }
}

void EdgeHub::Stop() {
  if (bus_ != nullptr) bus_->Stop();
  streams_->Stop();
  presence_->Stop();
  router_.Stop();
}

HistoryPolicy EdgeHub::PolicyFor(const config::v1::NamespaceOptions& options) const {
  HistoryPolicy policy;
  policy.max_size = options.history_size();
  policy.ttl = absl::Seconds(options.history_ttl().seconds()) +
               absl::Nanoseconds(options.history_ttl().nanos());
  return policy;
}

const config::v1::NamespaceOptions* EdgeHub::OptionsFor(const HubConfig& config,
                                                        const std::string& key) {
  // The namespace is that of the channel part: a tenant never changes it.
  const NamespaceTable::Namespace* ns = config.namespaces->Find(SplitChannelKey(key).channel);
  return ns != nullptr ? ns->options : nullptr;
}

void EdgeHub::SetConfig(std::shared_ptr<const HubConfig> config) {
  config_.store(std::move(config));
}

std::shared_ptr<const HubConfig> EdgeHub::config() const { return config_.load(); }

void EdgeHub::CountRefusal(std::string_view key, const absl::Status& status) const {
  std::shared_ptr<const HubConfig> config = config_.load();
  const NamespaceTable& table = *config->namespaces;
  const NamespaceTable::Namespace* ns = table.Find(SplitChannelKey(key).channel);
  (ns != nullptr ? table.SeriesOf(*ns) : table.UnknownSeries()).Refused(RefusalReasonOf(status));
}

absl::Status EdgeHub::EngineReady() const {
  absl::Status streams = streams_->Ready();
  if (!streams.ok()) return streams;
  if (bus_ != nullptr) {
    absl::Status bus = bus_->Ready();
    if (!bus.ok()) return bus;
  }
  return presence_->Ready();
}

size_t EdgeHub::CloseEdges(const grpc::Status& status) {
  closing_.store(true);
  return DetachAll(status);
}

size_t EdgeHub::DetachAll(const grpc::Status& status) {
  Deferred deferred;
  size_t closed = 0;
  {
    absl::MutexLock lifecycle(&lifecycle_mu_);
    std::vector<EdgeSession*> sessions;
    registry_.ForEachSession([&](const EdgeSnapshot& edge) { sessions.push_back(edge.session); });
    for (EdgeSession* session : sessions) {
      std::string peer;
      if (!Detach(session, &deferred, &peer)) continue;
      ++closed;
      if (session->PrepareFinish(status)) deferred.finish.push_back(session);
    }
  }
  Run(&deferred);
  return closed;
}

void EdgeHub::CollectMetrics() {
  absl::flat_hash_map<std::string, ControlMetrics::QueueDepth> depths;
  size_t edges = 0;
  registry_.ForEachSession([&](const EdgeSnapshot& edge) {
    ++edges;
    ControlMetrics::QueueDepth& depth = depths[edge.edge_id];
    depth.publications += static_cast<double>(edge.session->queued_items());
    depth.bytes += static_cast<double>(edge.session->queued_bytes());
  });
  metrics_->SetEdgeQueues(depths);
  metrics_->edges().Set(static_cast<double>(edges));
  StreamCounts streams = streams_->Counts();
  metrics_->streams().Set(static_cast<double>(streams.streams));
  metrics_->history_publications().Set(static_cast<double>(streams.history_publications));
  metrics_->history_bytes().Set(static_cast<double>(streams.history_bytes));
  metrics_->presence_entries().Set(static_cast<double>(presence_->size()));
  metrics_->engine_up().Set(EngineReady().ok() ? 1 : 0);
}

absl::Status EdgeHub::NotConfigured(const std::string& key) const {
  return absl::InvalidArgumentError(absl::StrCat("channel ", AsAbsl(SplitChannelKey(key).channel),
                                                 " is in a namespace that is not configured"));
}

absl::Status EdgeHub::CheckNamespace(const std::string& key) const {
  return OptionsFor(*config_.load(), key) == nullptr ? NotConfigured(key) : absl::OkStatus();
}

absl::StatusOr<const config::v1::NamespaceOptions*> EdgeHub::PresenceOptionsFor(
    const HubConfig& config, const std::string& key) const {
  const config::v1::NamespaceOptions* options = OptionsFor(config, key);
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

void EdgeHub::Publish(const std::string& key, std::string data, const std::string& idempotency_key,
                      const v1::ClientInfo* info, PublishDone done) {
  // Held until `done`: the namespace's options and series live in it.
  std::shared_ptr<const HubConfig> config = config_.load();
  const NamespaceTable& table = *config->namespaces;
  const NamespaceTable::Namespace* ns = table.Find(SplitChannelKey(key).channel);
  if (ns == nullptr) {
    table.UnknownSeries().Refused(RefusalReason::kUnknownNamespace);
    done(NotConfigured(key));
    return;
  }
  const config::v1::NamespaceOptions* namespace_options = ns->options;
  const NamespaceSeries* series = &table.SeriesOf(*ns);
  // JSON clients split received frames into messages at '\n'. In a valid
  // JSON document a line break can only be whitespace between tokens
  // (inside a string it must be escaped), so making it a space changes no
  // value. A binary_data namespace's bytes are kept as they are: only
  // protobuf connections, which frame by length, receive them.
  if (!namespace_options->binary_data()) {
    std::replace_if(
        data.begin(), data.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  }
  PublishItem item;
  item.key = key;
  item.data = std::move(data);
  item.idempotency_key = idempotency_key;
  if (info != nullptr) item.info = *info;
  item.policy = PolicyFor(*namespace_options);
  item.idempotency_window = config->idempotency_window;
  auto deferred = std::make_shared<Deferred>();
  std::optional<OperationTimer> timer;
  if (TimeThisPublish()) timer.emplace();
  streams_->Publish(
      std::move(item),
      [this, deferred](const std::shared_ptr<const edge::v1::Publication>& publication) {
        // In the channel's order: what is enqueued here reaches each edge in
        // offset order. Writes start only in `done`, with no lock held.
        if (publication == nullptr) return;  // An idempotent replay.
        FanOut(publication->channel(), publication, deferred.get());
      },
      [this, deferred, series, timer, config = std::move(config),
       done = std::move(done)](absl::StatusOr<StreamPosition> position) {
        if (timer.has_value()) {
          timer->ObserveInto(metrics_->engine_operation(EngineOperation::kPublish));
        }
        if (!position.ok()) {
          series->Refused(RefusalReasonOf(position.status()));
        } else if (!position->replayed) {
          publications_accepted_.fetch_add(1, std::memory_order_relaxed);
          series->publications->Increment();
        }
        Run(deferred.get());
        done(std::move(position));
      });
}

absl::StatusOr<StreamPosition> EdgeHub::PublishAndWait(const std::string& key, std::string data,
                                                       const std::string& idempotency_key,
                                                       const v1::ClientInfo* info) {
  absl::Notification published;
  absl::StatusOr<StreamPosition> result;
  Publish(key, std::move(data), idempotency_key, info,
          [&](absl::StatusOr<StreamPosition> position) {
            result = std::move(position);
            published.Notify();
          });
  published.WaitForNotification();
  return result;
}

void EdgeHub::FanOut(const std::string& key,
                     const std::shared_ptr<const edge::v1::Publication>& publication,
                     Deferred* deferred) {
  registry_.ForEachInterested(key, [&](EdgeSession* session) {
    bool kick = false;
    if (!session->Enqueue(publication, &kick)) deferred->overflowed.push_back(session);
    if (kick) deferred->kick.push_back(session);
  });
}

void EdgeHub::OnFeed(const std::shared_ptr<const edge::v1::Publication>& publication) {
  Deferred deferred;
  FanOut(publication->channel(), publication, &deferred);
  Run(&deferred);
}

void EdgeHub::OnEngineLost(const absl::Status& status) {
  size_t detached =
      DetachAll(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                             absl::StrCat("control's engine link broke: ", status.message())));
  WH_EVENT(WARNING, "engine_lost").Field("edges", detached).stream()
      << "engine feed lost (" << status.message() << "); detached " << detached
      << " edges, which re-attach and repair their gaps from history";
}

void EdgeHub::ApplyPresence(EdgeSession* session, const PresenceChanges& changes,
                            Deferred* deferred) {
  for (const edge::v1::PresenceEntry& entry : changes.added) {
    AddPresence(session, entry, deferred);
  }
  for (const edge::v1::PresenceEntry& entry : changes.removed) {
    RemovePresence(session, entry, deferred);
  }
}

void EdgeHub::WatchAndAck(EdgeSession* session, uint64_t serial,
                          const std::vector<std::string>& keys, uint64_t seq,
                          PresenceChanges presence) {
  if (keys.empty() && seq == 0 && presence.empty()) return;
  streams_->Watch(
      keys, [this, session, serial, seq, presence = std::move(presence)](absl::Status status) {
        if (!status.ok()) {
          // Publications of these channels might not reach the edge: it must
          // not be told it is positioned. It re-attaches and starts over.
          Deferred deferred;
          {
            absl::MutexLock lifecycle(&lifecycle_mu_);
            std::string peer;
            if (registry_.SerialOf(session) == serial && Detach(session, &deferred, &peer) &&
                session->PrepareFinish(
                    grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 absl::StrCat("control could not follow the edge's channels: ",
                                              status.message())))) {
              deferred.finish.push_back(session);
            }
          }
          Run(&deferred);
          return;
        }
        if (!presence.empty() && registry_.SerialOf(session) == serial) {
          Deferred deferred;
          ApplyPresence(session, presence, &deferred);
          Run(&deferred);
        }
        if (seq == 0) return;
        bool kick = false;
        registry_.WithAttached(session, serial, [&] { kick = session->EnqueueAck(seq); });
        // The write now marked in flight keeps the session alive until Kick.
        if (kick) session->Kick();
      });
}

void EdgeHub::Run(Deferred* deferred) {
  // Writes start only now, with no lock held (see EdgeSession::Kick).
  for (EdgeSession* session : deferred->kick) session->Kick();
  deferred->kick.clear();
  while (!deferred->overflowed.empty()) {
    std::vector<EdgeSession*> overflowed = std::move(deferred->overflowed);
    deferred->overflowed.clear();
    for (EdgeSession* session : overflowed) {
      // The session ends its stream by itself once the write in flight is
      // done (see EdgeSession::Enqueue).
      std::string peer;
      if (!Detach(session, deferred, &peer)) continue;
      metrics_->slow_edge_detaches().Increment();
      WH_EVENT(WARNING, "edge_detached").Field("edge", peer).Field("reason", "slow").stream()
          << "edge " << peer << " outbound queue overflowed; detached (it will re-attach)";
    }
    for (EdgeSession* session : deferred->kick) session->Kick();
    deferred->kick.clear();
  }
  for (EdgeSession* session : deferred->finish) session->FinishPrepared();
  deferred->finish.clear();
}

void EdgeHub::History(const std::string& key, const std::optional<StreamPosition>& since,
                      int64_t limit, bool reverse, HistoryDone done) {
  std::shared_ptr<const HubConfig> config = config_.load();
  const config::v1::NamespaceOptions* namespace_options = OptionsFor(*config, key);
  if (namespace_options == nullptr) {
    done(NotConfigured(key));
    return;
  }
  HistoryPolicy policy = PolicyFor(*namespace_options);
  if (policy.max_size == 0) {
    done(absl::FailedPreconditionError(
        absl::StrCat("history is not enabled for the namespace of channel ",
                     AsAbsl(SplitChannelKey(key).channel))));
    return;
  }
  OperationTimer timer;
  streams_->History(key, since, limit, reverse, policy, config->idempotency_window,
                    [this, timer, done = std::move(done)](absl::StatusOr<HistoryRead> read) {
                      timer.ObserveInto(metrics_->engine_operation(EngineOperation::kHistory));
                      done(std::move(read));
                    });
}

absl::StatusOr<HistoryRead> EdgeHub::HistoryAndWait(const std::string& key,
                                                    const std::optional<StreamPosition>& since,
                                                    int64_t limit, bool reverse) {
  absl::Notification answered;
  absl::StatusOr<HistoryRead> result;
  History(key, since, limit, reverse, [&](absl::StatusOr<HistoryRead> read) {
    result = std::move(read);
    answered.Notify();
  });
  answered.WaitForNotification();
  return result;
}

void EdgeHub::HistoryRemove(const std::string& key, std::function<void(absl::Status)> done) {
  std::shared_ptr<const HubConfig> config = config_.load();
  if (OptionsFor(*config, key) == nullptr) {
    done(NotConfigured(key));
    return;
  }
  streams_->RemoveHistory(key, config->idempotency_window, std::move(done));
}

void EdgeHub::Presence(const std::string& key, size_t page_size, const std::string& page_token,
                       PresenceStore::PageDone done) const {
  std::shared_ptr<const HubConfig> config = config_.load();
  absl::StatusOr<const config::v1::NamespaceOptions*> options = PresenceOptionsFor(*config, key);
  if (!options.ok()) {
    done(options.status());
    return;
  }
  OperationTimer timer;
  presence_->List(key, page_size, page_token,
                  [this, timer, done = std::move(done)](absl::StatusOr<PresenceTable::Page> page) {
                    timer.ObserveInto(metrics_->engine_operation(EngineOperation::kPresenceRead));
                    done(std::move(page));
                  });
}

void EdgeHub::PresenceStats(const std::string& key, PresenceStore::CountsDone done) const {
  std::shared_ptr<const HubConfig> config = config_.load();
  absl::StatusOr<const config::v1::NamespaceOptions*> options = PresenceOptionsFor(*config, key);
  if (!options.ok()) {
    done(options.status());
    return;
  }
  OperationTimer timer;
  presence_->Count(
      key, [this, timer, done = std::move(done)](absl::StatusOr<PresenceTable::Counts> counts) {
        timer.ObserveInto(metrics_->engine_operation(EngineOperation::kPresenceRead));
        done(std::move(counts));
      });
}

absl::StatusOr<PresenceTable::Page> EdgeHub::PresenceAndWait(const std::string& key,
                                                             size_t page_size,
                                                             const std::string& page_token) const {
  absl::Notification answered;
  absl::StatusOr<PresenceTable::Page> result;
  Presence(key, page_size, page_token, [&](absl::StatusOr<PresenceTable::Page> page) {
    result = std::move(page);
    answered.Notify();
  });
  answered.WaitForNotification();
  return result;
}

absl::StatusOr<PresenceTable::Counts> EdgeHub::PresenceStatsAndWait(const std::string& key) const {
  absl::Notification answered;
  absl::StatusOr<PresenceTable::Counts> result;
  PresenceStats(key, [&](absl::StatusOr<PresenceTable::Counts> counts) {
    result = std::move(counts);
    answered.Notify();
  });
  answered.WaitForNotification();
  return result;
}

void EdgeHub::SendCommand(edge::v1::EdgeCommand command, absl::Time deadline,
                          CommandCallback done) {
  if (bus_ == nullptr) {
    SendLocalCommand(std::move(command), deadline, std::move(done));
    return;
  }
  // Both halves complete exactly once, on whichever thread; the second one
  // to finish answers.
  struct Merge {
    absl::Mutex mu;
    int left ABSL_GUARDED_BY(mu) = 2;
    CommandOutcome outcome ABSL_GUARDED_BY(mu);
    CommandCallback done;
  };
  auto merge = std::make_shared<Merge>();
  merge->done = std::move(done);
  auto finish = [merge](CommandOutcome part) {
    CommandOutcome outcome;
    {
      absl::MutexLock lock(&merge->mu);
      for (CommandOutcome::Answer& answer : part.answers) {
        merge->outcome.answers.push_back(std::move(answer));
      }
      merge->outcome.missing += part.missing;
      if (--merge->left > 0) return;
      outcome = std::move(merge->outcome);
    }
    merge->done(std::move(outcome));
  };
  edge::v1::ReplicaRequest request;
  *request.mutable_command() = command;
  bus_->Forward(std::move(request), deadline, [finish](ReplicaBus::Gathered gathered) {
    CommandOutcome part;
    part.missing = gathered.replicas_missing;
    for (edge::v1::ReplicaReply& reply : gathered.replies) {
      part.missing += reply.missing();
      for (edge::v1::ReplicaAnswer& answer : *reply.mutable_answers()) {
        part.answers.push_back(
            CommandOutcome::Answer{answer.edge_id(), std::move(*answer.mutable_result())});
      }
    }
    finish(std::move(part));
  });
  SendLocalCommand(std::move(command), deadline, finish);
}

void EdgeHub::OnReplicaRequest(const edge::v1::ReplicaRequest& request, ReplicaBus::Reply reply) {
  // Answer a little before the origin stops waiting, so the answer can
  // still travel.
  const absl::Time deadline = std::max(
      absl::Now(), absl::FromUnixMillis(request.deadline_unix_ms()) - absl::Milliseconds(100));
  if (request.has_command()) {
    SendLocalCommand(request.command(), deadline,
                     [reply = std::move(reply)](CommandOutcome outcome) {
                       edge::v1::ReplicaReply out;
                       out.set_missing(outcome.missing);
                       for (CommandOutcome::Answer& answer : outcome.answers) {
                         edge::v1::ReplicaAnswer* to = out.add_answers();
                         to->set_edge_id(std::move(answer.edge_id));
                         *to->mutable_result() = std::move(answer.result);
                       }
                       reply(std::move(out));
                     });
    return;
  }
  edge::v1::ReplicaReply out;
  FillStats(request.stats_top_channels(), out.mutable_stats());
  reply(std::move(out));
}

void EdgeHub::Stats(int top_channels, absl::Time deadline,
                    std::function<void(v1::StatsResponse)> done) {
  v1::StatsResponse local;
  FillStats(top_channels, &local);
  if (bus_ == nullptr) {
    done(std::move(local));
    return;
  }
  edge::v1::ReplicaRequest request;
  // More than asked from each replica: the merged ranking is then right
  // unless a channel is just under the cut on every replica.
  request.set_stats_top_channels(std::max(top_channels, 100));
  bus_->Forward(std::move(request), deadline,
                [top_channels, local = std::move(local),
                 done = std::move(done)](ReplicaBus::Gathered gathered) mutable {
                  for (const edge::v1::ReplicaReply& reply : gathered.replies) {
                    MergeStats(reply.stats(), top_channels, &local);
                  }
                  done(std::move(local));
                });
}

void EdgeHub::MergeStats(const v1::StatsResponse& from, int top_channels, v1::StatsResponse* into) {
  if (top_channels <= 0) top_channels = 10;
  top_channels = std::min(top_channels, 1000);
  for (const v1::EdgeInfo& edge : from.edges()) *into->add_edges() = edge;
  into->set_total_connections(into->total_connections() + from.total_connections());
  into->set_unique_users(into->unique_users() + from.unique_users());
  into->set_subscriptions(into->subscriptions() + from.subscriptions());
  into->set_channels_with_subscribers(into->channels_with_subscribers() +
                                      from.channels_with_subscribers());
  into->set_publications_accepted(into->publications_accepted() + from.publications_accepted());
  into->set_deliveries(into->deliveries() + from.deliveries());
  into->set_slow_edge_detaches(into->slow_edge_detaches() + from.slow_edge_detaches());
  into->set_channels_tracked(into->channels_tracked() + from.channels_tracked());
  into->set_history_publications(into->history_publications() + from.history_publications());
  into->set_history_bytes(into->history_bytes() + from.history_bytes());
  into->set_idempotent_replays(into->idempotent_replays() + from.idempotent_replays());
  absl::flat_hash_map<std::pair<std::string, std::string>, uint64_t> per_channel;
  for (const auto* list : {&into->top_channels(), &from.top_channels()}) {
    for (const v1::ChannelSubscribers& entry : *list) {
      per_channel[{entry.tenant(), entry.channel()}] += entry.subscribers();
    }
  }
  std::vector<std::pair<uint64_t, std::pair<std::string, std::string>>> ranked;
  ranked.reserve(per_channel.size());
  for (auto& [name, count] : per_channel) ranked.emplace_back(count, name);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  into->clear_top_channels();
  for (size_t i = 0; i < ranked.size() && i < static_cast<size_t>(top_channels); ++i) {
    v1::ChannelSubscribers* entry = into->add_top_channels();
    entry->set_tenant(ranked[i].second.first);
    entry->set_channel(ranked[i].second.second);
    entry->set_subscribers(ranked[i].first);
  }
}

void EdgeHub::SendLocalCommand(edge::v1::EdgeCommand command, absl::Time deadline,
                               CommandCallback done) {
  Deferred deferred;
  // Under the registry's shared lock no session detaches: the command is
  // registered for every target before anything is queued (no answer can
  // come first), and a session detaching afterwards is counted missing by
  // the router's SessionGone().
  registry_.WithSessions([&](const std::vector<const EdgeSnapshot*>& edges) {
    std::vector<CommandTarget> targets;
    targets.reserve(edges.size());
    for (const EdgeSnapshot* edge : edges) {
      targets.push_back(CommandTarget{edge->session, edge->edge_id});
    }
    command.set_id(router_.Begin(std::move(targets), deadline, std::move(done)));
    auto shared = std::make_shared<const edge::v1::EdgeCommand>(std::move(command));
    for (const EdgeSnapshot* edge : edges) {
      bool kick = false;
      if (!edge->session->EnqueueCommand(shared, &kick)) {
        deferred.overflowed.push_back(edge->session);
      }
      if (kick) deferred.kick.push_back(edge->session);
    }
  });
  Run(&deferred);
}

void EdgeHub::Maintain(absl::Time now) {
  Deferred deferred;
  std::vector<std::string> log;
  {
    absl::MutexLock lifecycle(&lifecycle_mu_);
    std::vector<std::pair<EdgeSession*, absl::Duration>> silent;
    registry_.ForEachSession([&](const EdgeSnapshot& edge) {
      absl::Duration quiet = now - edge.session->last_read();
      if (quiet > options_.edge_timeout) silent.emplace_back(edge.session, quiet);
    });
    for (const auto& [session, quiet] : silent) {
      // Its presence goes now, not when the stream ends: a write to a dead
      // peer may not complete before keepalive gives up on the transport.
      std::string peer;
      if (!Detach(session, &deferred, &peer)) continue;
      log.push_back(
          absl::StrCat("edge ", peer, " silent for ", absl::FormatDuration(quiet), "; detached"));
      grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("edge silent for ", absl::FormatDuration(quiet)));
      if (session->PrepareFinish(status)) deferred.finish.push_back(session);
    }
  }
  Run(&deferred);
  for (const std::string& line : log) WH_LOG(WARNING) << line;
  // One version for the whole pass.
  std::shared_ptr<const HubConfig> config = config_.load();
  streams_->Maintain(
      now, config->idempotency_window,
      [this, &config](const std::string& key) {
        const config::v1::NamespaceOptions* options = OptionsFor(*config, key);
        // A vanished namespace keeps nothing.
        return options != nullptr ? PolicyFor(*options) : HistoryPolicy{};
      },
      [this](const std::string& key) { return registry_.HasInterest(key); });
  presence_->Maintain(now, [this](const std::string& key) { return Announces(key); });
}

void EdgeHub::AttachSession(EdgeSession* session, const edge::v1::Hello& hello, std::string peer) {
  std::string peer_for_log = peer;
  if (!registry_.Attach(session, hello, std::move(peer))) return;
  // After Attach: CloseEdges() sets closing_ before it lists the sessions,
  // so it either finds this one or this sees closing_.
  // An engine that cannot serve turns edges away too: they go to another
  // replica rather than wait here for publications that cannot come.
  absl::Status engine = closing_.load() ? absl::OkStatus() : EngineReady();
  if (closing_.load() || !engine.ok()) {
    grpc::Status refusal(grpc::StatusCode::UNAVAILABLE,
                         closing_.load()
                             ? std::string("control is draining")
                             : absl::StrCat("control's engine is not ready: ", engine.message()));
    Deferred deferred;
    std::string ignored;
    {
      absl::MutexLock lifecycle(&lifecycle_mu_);
      if (Detach(session, &deferred, &ignored) && session->PrepareFinish(refusal)) {
        deferred.finish.push_back(session);
      }
    }
    Run(&deferred);
    return;
  }
  metrics_->edge_attaches().Increment();
  const uint64_t serial = registry_.SerialOf(session);
  std::vector<std::string> watch;
  for (const std::string& key : hello.channels()) {
    if (registry_.AddInterest(session, key)) watch.push_back(key);
  }
  for (const std::string& user : hello.users()) registry_.AddUser(session, user);
  // The hello is answered at once (the edge knows control took it); the
  // ack of the interest it carries follows the watch below.
  if (hello.seq() == 0) {
    bool kick = false;
    registry_.WithAttached(session, serial, [&] { kick = session->EnqueueAck(0); });
    if (kick) session->Kick();
  }
  // Interest first, so the edge gets the joins of its own clients too.
  PresenceChanges presence;
  presence.added.assign(hello.presence().begin(), hello.presence().end());
  // The ack goes once the store follows every channel (at once in memory).
  WatchAndAck(session, serial, watch, hello.seq(), std::move(presence));
  // Edges send their interest after the hello, in pages (InterestChange).
  WH_EVENT(INFO, "edge_attached").Field("edge", hello.edge_id()).Field("peer", peer_for_log);
}

void EdgeHub::ApplyInterest(EdgeSession* session, const edge::v1::InterestChange& change) {
  const uint64_t serial = registry_.SerialOf(session);
  if (serial == 0) return;
  std::vector<std::string> watch;
  for (const std::string& key : change.channels_added()) {
    if (registry_.AddInterest(session, key)) watch.push_back(key);
  }
  for (const std::string& user : change.users_added()) registry_.AddUser(session, user);
  for (const std::string& user : change.users_removed()) registry_.RemoveUser(session, user);
  PresenceChanges presence;
  presence.added.assign(change.presence_added().begin(), change.presence_added().end());
  presence.removed.assign(change.presence_removed().begin(), change.presence_removed().end());
  if (!presence_->announces()) {
    // Leaves before the interest goes: the edge may still have other
    // subscribers of a channel whose last presence entry left.
    Deferred deferred;
    ApplyPresence(session, presence, &deferred);
    Run(&deferred);
    presence = {};
  }
  std::vector<std::string> unwatch;
  for (const std::string& key : change.channels_removed()) {
    if (registry_.RemoveInterest(session, key)) unwatch.push_back(key);
  }
  if (!unwatch.empty()) streams_->Unwatch(unwatch);
  // The ack is queued after the interest took effect (and the store
  // follows the channels): every publication sequenced from then on for
  // these channels is queued behind it.
  WatchAndAck(session, serial, watch, change.seq(), std::move(presence));
}

void EdgeHub::AddPresence(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                          Deferred* deferred) {
  // A detached session must not leave entries behind that nothing removes.
  if (entry.info().client().empty() || !registry_.attached(session)) return;
  OperationTimer timer;
  const bool joined =
      presence_->Add(session, entry.channel(), entry.info(), Announces(entry.channel()));
  timer.ObserveInto(metrics_->engine_operation(EngineOperation::kPresenceAdd));
  if (joined) {
    EmitJoinLeave(entry.channel(), entry.info(), /*join=*/true, deferred);
  }
  // Detached meanwhile (its RemoveOwner may have run before the Add).
  if (!registry_.attached(session)) {
    for (const PresenceTable::Entry& gone : presence_->RemoveOwner(
             session, [this](const std::string& key) { return Announces(key); })) {
      EmitJoinLeave(gone.key, gone.info, /*join=*/false, deferred);
    }
  }
}

void EdgeHub::RemovePresence(EdgeSession* session, const edge::v1::PresenceEntry& entry,
                             Deferred* deferred) {
  OperationTimer timer;
  std::optional<v1::ClientInfo> removed = presence_->Remove(
      session, entry.channel(), entry.info().client(), Announces(entry.channel()));
  timer.ObserveInto(metrics_->engine_operation(EngineOperation::kPresenceRemove));
  // The leave carries the info the client joined with; the edge sends only
  // the client id.
  if (removed.has_value()) EmitJoinLeave(entry.channel(), *removed, /*join=*/false, deferred);
}

bool EdgeHub::Announces(const std::string& key) const {
  std::shared_ptr<const HubConfig> config = config_.load();
  const config::v1::NamespaceOptions* options = OptionsFor(*config, key);
  return options != nullptr && options->join_leave();
}

void EdgeHub::EmitJoinLeave(const std::string& key, const v1::ClientInfo& info, bool join,
                            Deferred* deferred) {
  std::shared_ptr<const HubConfig> config = config_.load();
  const config::v1::NamespaceOptions* options = OptionsFor(*config, key);
  if (options == nullptr || !options->join_leave()) return;
  auto event = std::make_shared<edge::v1::Publication>();
  event->set_channel(key);
  *(join ? event->mutable_join() : event->mutable_leave()) = info;
  FanOut(key, std::move(event), deferred);
}

void EdgeHub::UpdateStats(EdgeSession* session, const edge::v1::EdgeStats& stats) {
  deliveries_.fetch_add(stats.deliveries(), std::memory_order_relaxed);
  registry_.UpdateStats(session, stats);
}

void EdgeHub::RemoveSession(EdgeSession* session) {
  Deferred deferred;
  std::string peer;
  bool detached;
  {
    absl::MutexLock lifecycle(&lifecycle_mu_);
    detached = Detach(session, &deferred, &peer);
  }
  Run(&deferred);
  if (detached) {
    WH_EVENT(INFO, "edge_detached").Field("edge", peer).Field("reason", "closed").stream()
        << "edge " << peer << " detached";
  }
}

bool EdgeHub::Detach(EdgeSession* session, Deferred* deferred, std::string* peer) {
  std::vector<std::string> channels;
  std::optional<EdgeSnapshot> detached =
      registry_.Detach(session, streams_->fans_out() ? &channels : nullptr);
  if (!detached.has_value()) return false;
  if (!channels.empty()) streams_->Unwatch(channels);
  *peer = detached->peer;
  router_.SessionGone(session);
  // The session is out of every channel's list by now, so its own leaves
  // are not queued to it.
  for (const PresenceTable::Entry& entry :
       presence_->RemoveOwner(session, [this](const std::string& key) { return Announces(key); })) {
    EmitJoinLeave(entry.key, entry.info, /*join=*/false, deferred);
  }
  return true;
}

HubCounts EdgeHub::Counts() const {
  return HubCounts{registry_.size(), streams_->Counts().streams};
}

void EdgeHub::FillStats(int top_channels, v1::StatsResponse* out) const {
  if (top_channels <= 0) top_channels = 10;
  top_channels = std::min(top_channels, 1000);
  std::vector<EdgeSnapshot> edges = registry_.Snapshot();
  absl::flat_hash_map<std::string_view, uint64_t> per_channel;
  for (const EdgeSnapshot& state : edges) {
    v1::EdgeInfo* edge = out->add_edges();
    edge->set_id(state.edge_id);
    edge->set_address(state.peer);
    edge->set_public_address(state.public_address);
    edge->set_version(state.version);
    edge->set_connected_since_unix_ms(absl::ToUnixMillis(state.attached_at));
    edge->set_connections(state.last_stats->connections());
    edge->set_subscriptions(state.last_stats->subscriptions());
    out->set_total_connections(out->total_connections() + state.last_stats->connections());
    out->set_subscriptions(out->subscriptions() + state.last_stats->subscriptions());
    for (const auto& count : state.last_stats->channels()) {
      per_channel[count.channel()] += count.subscribers();
    }
  }
  out->set_unique_users(registry_.users());
  out->set_channels_with_subscribers(per_channel.size());
  std::vector<std::pair<uint64_t, std::string_view>> ranked;
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
  StreamCounts streams = streams_->Counts();
  out->set_publications_accepted(publications_accepted_.load(std::memory_order_relaxed));
  out->set_deliveries(deliveries_.load(std::memory_order_relaxed));
  out->set_slow_edge_detaches(metrics_->slow_edge_detaches().value());
  out->set_channels_tracked(streams.streams);
  out->set_history_publications(streams.history_publications);
  out->set_history_bytes(streams.history_bytes);
  out->set_idempotent_replays(streams.idempotent_replays);
}

}  // namespace wirehub::control

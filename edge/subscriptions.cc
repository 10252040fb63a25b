#include "edge/subscriptions.h"

#include <memory>
#include <utility>
#include <vector>

#include "common/channel_name.h"
#include "common/logging.h"
#include "edge/client_codec.h"
#include "edge/publication_push.h"

namespace wirehub::edge {
namespace {

// A subscribe result carrying the expiry of `session`'s subscription to
// `name` (none without a subscription token).
SubscribeResult ResultWithExpiry(const ClientSession& session, std::string_view name) {
  SubscribeResult result;
  auto it = session.channels.find(name);
  if (it != session.channels.end() && it->second.expires_at != absl::InfiniteFuture()) {
    result.expires = true;
    result.ttl = TtlSeconds(it->second.expires_at, absl::Now());
  }
  return result;
}

SharedPublication PublicationOf(std::string_view name,
                                const control::v1::HistoryPublication& publication) {
  ClientInfoView info = ViewOf(publication.info());
  return std::make_shared<const PublicationPush>(name, publication.data(), publication.offset(),
                                                 publication.has_info() ? &info : nullptr);
}

bool HasHistory(const config::v1::NamespaceOptions* options) {
  return options != nullptr && options->history_size() > 0;
}

}  // namespace

std::string Subscriptions::KeyOf(const ClientSession& session, std::string_view channel) {
  return MakeChannelKey(session.tenant, channel);
}

control::v1::ClientInfo Subscriptions::InfoOf(const ClientSession& session,
                                              std::string_view channel) {
  control::v1::ClientInfo info;
  info.set_user(session.user);
  info.set_client(session.client_id);
  info.set_conn_info(session.conn_info);
  auto it = session.channels.find(channel);
  if (it != session.channels.end() && it->second.chan_info != nullptr) {
    info.set_chan_info(*it->second.chan_info);
  }
  return info;
}

bool Subscriptions::Subscribe(ClientSession* session, const std::string& channel,
                              std::shared_ptr<const config::v1::NamespaceOptions> options,
                              PendingSubscribe request, Subscription subscription) {
  std::string key = KeyOf(*session, channel);
  const ChannelEntry* existing = table_.Find(key);
  bool needs_control = HasHistory(options.get()) || existing == nullptr || !existing->confirmed;
  if (needs_control && link_ != nullptr && !request.server_side) {
    if (!sessions_->TryAcquireCall(session)) return false;
    request.holds_call = true;
  }
  request.session = session;
  request.session_id = session->id;
  request.since = absl::Now();
  if (!request.server_side) request.ticket = sessions_->Reserve(session);
  session->channels.emplace(channel, std::move(subscription));
  ++subscriptions_;
  metrics_->subscriptions.Set(static_cast<double>(subscriptions_));
  bool created = false;
  ChannelEntry* entry = table_.FindOrCreate(key, options, &created);
  if (created) {
    metrics_->channels.Set(static_cast<double>(table_.size()));
    if (HasHistory(options.get())) {
      entry->tracker.emplace(options_.client_queue_max_bytes, options_.recovery_max_publications);
    }
    // First local subscriber: control must learn of the interest before the
    // client is told it is subscribed, or a publish made right after the
    // reply could miss this edge.
    entry->confirmed = link_ == nullptr;
    if (!entry->confirmed) {
      entry->interest_seq = link_->AddChannel(key);
      table_.AwaitAck(entry->interest_seq, key);
    }
  }
  if (entry->confirmed) {
    Complete(key, *entry, std::move(request));
  } else {
    entry->pending.push_back(std::move(request));
  }
  return true;
}

void Subscriptions::Complete(const std::string& key, ChannelEntry& entry,
                             PendingSubscribe request) {
  ClientSession* session = request.session;
  std::string_view name = SplitChannelKey(key).channel;
  if (!entry.tracker.has_value()) {
    if (request.holds_call) sessions_->ReleaseCall(request.session_id);
    AddSubscriber(session, key, entry, 0);
    SubscribeResult result = ResultWithExpiry(*session, name);
    if (request.server_side) {
      sessions_->SendText(session, EncodeSubscribePush(session->format, name, result));
    } else {
      metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kOk);
      sessions_->AnswerText(session, request.ticket,
                            EncodeSubscribeReply(session->format, request.command_id, result));
    }
    return;
  }
  if (link_ == nullptr) {
    AnswerFailure(request);
    Remove(session, std::string(name));
    return;
  }
  // From here on live publications for this session are held, so whatever
  // is newer than the position control reports reaches it exactly once.
  PositioningLimits limits;
  limits.allow_recovery = entry.options->allow_recovery();
  limits.max_publications = options_.recovery_max_publications;
  limits.max_recovered_bytes = options_.client_queue_max_bytes / 2;
  limits.max_held_bytes = options_.client_queue_max_bytes;
  auto run = std::make_unique<PositioningRun>(std::move(request), limits, next_id_++);
  PositioningRun& started = *run;
  entry.positioning[session] = std::move(run);
  FetchPosition(key, started);
}

void Subscriptions::FetchHistory(
    const control::v1::HistoryRequest& request,
    std::function<void(absl::StatusOr<control::v1::HistoryResponse>)> on_loop) {
  link_->FetchHistory(
      request, options_.history_timeout,
      [transport = transport_,
       on_loop = std::move(on_loop)](absl::StatusOr<control::v1::HistoryResponse> answer) {
        auto shared =
            std::make_shared<absl::StatusOr<control::v1::HistoryResponse>>(std::move(answer));
        transport->Post([on_loop, shared] { on_loop(std::move(*shared)); });
      });
}

void Subscriptions::FetchPosition(const std::string& key, PositioningRun& run) {
  control::v1::HistoryRequest request;
  ChannelKeyParts parts = SplitChannelKey(key);
  request.set_tenant(std::string(parts.tenant));
  request.set_channel(std::string(parts.channel));
  run.positioning.FillRequest(&request, options_.history_page_bytes);
  FetchHistory(request, [this, key, session_id = run.request.session_id, run_id = run.id,
                         holds_call = run.request.holds_call](
                            absl::StatusOr<control::v1::HistoryResponse> answer) {
    OnPositionAnswer(key, session_id, run_id, holds_call, std::move(answer));
  });
}

void Subscriptions::OnPositionAnswer(const std::string& key, uint64_t session_id, uint64_t run_id,
                                     bool holds_call,
                                     absl::StatusOr<control::v1::HistoryResponse> answer) {
  ClientSession* session = sessions_->Find(session_id);
  ChannelEntry* entry = table_.Find(key);
  PositioningRun* run = nullptr;
  if (session != nullptr && entry != nullptr) {
    auto it = entry->positioning.find(session);
    if (it != entry->positioning.end() && it->second->id == run_id) run = it->second.get();
  }
  if (run == nullptr) {
    // Unsubscribed or closed meanwhile; its subscribe was answered then.
    if (holds_call) sessions_->ReleaseCall(session_id);
    return;
  }
  Positioning::Next next = run->positioning.OnAnswer(std::move(answer));
  if (next == Positioning::Next::kFetch) {
    FetchPosition(key, *run);
    return;
  }
  if (holds_call) sessions_->ReleaseCall(session_id);
  std::unique_ptr<PositioningRun> done = std::move(entry->positioning[session]);
  entry->positioning.erase(session);
  if (next == Positioning::Next::kFailed) {
    WH_LOG(WARNING) << "position of " << key << " unknown: " << done->positioning.failure();
    AnswerFailure(done->request);
    Remove(session, std::string(SplitChannelKey(key).channel));
    return;
  }
  FinishPositioning(key, *entry, session, *done);
}

void Subscriptions::FinishPositioning(const std::string& key, ChannelEntry& entry,
                                      ClientSession* session, PositioningRun& run) {
  const PendingSubscribe& request = run.request;
  Positioning& positioning = run.positioning;
  std::string_view name = SplitChannelKey(key).channel;
  SubscribeResult result = ResultWithExpiry(*session, name);
  result.recoverable = entry.options->allow_recovery();
  result.epoch = positioning.epoch();
  result.offset = positioning.top();
  result.was_recovering = positioning.recovering();
  result.recovered = positioning.recovering() && positioning.recovered();
  std::vector<ClientInfoView> infos;
  infos.reserve(positioning.publications().size());
  for (const auto& publication : positioning.publications()) {
    RecoveredPublication recovered{publication.offset(), publication.data()};
    if (publication.has_info()) {
      infos.push_back(ViewOf(publication.info()));
      recovered.info = &infos.back();
    }
    result.publications.push_back(recovered);
  }
  if (request.server_side) {
    // SDKs take no publications from a push: recovered ones follow it as
    // pushes of their own.
    std::vector<RecoveredPublication> recovered = std::move(result.publications);
    result.publications.clear();
    sessions_->SendText(session, EncodeSubscribePush(session->format, name, result));
    for (const RecoveredPublication& publication : recovered) {
      sessions_->SendText(session,
                          EncodePublicationPush(session->format, name, publication.data_json,
                                                publication.offset, publication.info));
    }
  } else {
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kOk);
    sessions_->AnswerText(session, request.ticket,
                          EncodeSubscribeReply(session->format, request.command_id, result));
  }
  uint64_t delivered = positioning.top();
  for (StreamItem& item : positioning.TakeNewer()) {
    sessions_->Send(session, item.push->For(session->format));
    delivered = item.offset;
  }
  AddSubscriber(session, key, entry, delivered);
  entry.tracker->Position(positioning.epoch(), delivered);
}

void Subscriptions::AnswerFailure(const PendingSubscribe& request) {
  if (request.server_side || request.session == nullptr) return;
  metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kError);
  sessions_->AnswerText(request.session, request.ticket,
                        EncodeErrorReply(request.session->format, request.command_id,
                                         kErrorInternal, "internal server error", true));
}

void Subscriptions::AddSubscriber(ClientSession* session, const std::string& key,
                                  ChannelEntry& entry, uint64_t delivered) {
  entry.subscribers[session] = delivered;
  const config::v1::NamespaceOptions* options = entry.options.get();
  if (link_ == nullptr || !(options->presence() || options->join_leave())) return;
  std::string_view name = SplitChannelKey(key).channel;
  auto it = session->channels.find(name);
  if (it == session->channels.end() || it->second.in_presence) return;
  it->second.in_presence = true;
  link_->AddPresence(key, InfoOf(*session, name));
}

void Subscriptions::Unsubscribe(ClientSession* session, const std::string& channel) {
  std::optional<PendingSubscribe> unanswered = Remove(session, channel);
  if (unanswered.has_value() && !unanswered->server_side) {
    // Overtaken by its unsubscribe: it did subscribe, and now it is over.
    metrics_->CountCommand(CommandMethod::kSubscribe, CommandOutcome::kOk);
    sessions_->AnswerText(
        session, unanswered->ticket,
        EncodeSubscribeReply(session->format, unanswered->command_id, SubscribeResult{}));
  }
}

void Subscriptions::RemoveAll(ClientSession* session) {
  std::vector<std::string> channels;
  channels.reserve(session->channels.size());
  for (const auto& [channel, subscription] : session->channels) channels.push_back(channel);
  for (const std::string& channel : channels) Remove(session, channel);
}

std::optional<PendingSubscribe> Subscriptions::Remove(ClientSession* session,
                                                      const std::string& channel) {
  auto subscription = session->channels.find(channel);
  if (subscription == session->channels.end()) return std::nullopt;
  std::string key = KeyOf(*session, channel);
  if (subscription->second.in_presence && link_ != nullptr) {
    link_->RemovePresence(key, session->client_id);
  }
  session->channels.erase(subscription);
  --subscriptions_;
  metrics_->subscriptions.Set(static_cast<double>(subscriptions_));
  ChannelEntry* entry = table_.Find(key);
  if (entry == nullptr) return std::nullopt;
  std::optional<PendingSubscribe> unanswered;
  entry->subscribers.erase(session);
  auto positioning = entry->positioning.find(session);
  if (positioning != entry->positioning.end()) {
    unanswered = positioning->second->request;
    entry->positioning.erase(positioning);
  }
  for (auto it = entry->pending.begin(); it != entry->pending.end(); ++it) {
    if (it->session != session) continue;
    unanswered = *it;
    if (it->holds_call) sessions_->ReleaseCall(it->session_id);
    entry->pending.erase(it);
    break;
  }
  if (table_.EraseIfUnused(key)) {
    metrics_->channels.Set(static_cast<double>(table_.size()));
    repair_fetch_.erase(key);
    if (link_ != nullptr) link_->RemoveChannel(key);
  }
  return unanswered;
}

void Subscriptions::ConfirmChannels(uint64_t acked_seq) {
  for (const std::string& key : table_.TakeAcked(acked_seq)) {
    ChannelEntry* entry = table_.Find(key);
    if (entry == nullptr) continue;
    entry->confirmed = true;
    std::vector<PendingSubscribe> pending = std::move(entry->pending);
    entry->pending.clear();
    for (PendingSubscribe& request : pending) Complete(key, *entry, std::move(request));
  }
}

void Subscriptions::OnControlMessage(const edge::v1::ControlMessage& message) {
  for (const edge::v1::Publication& publication : message.publications()) {
    OnPublication(publication);
  }
  if (message.interest_ack() != 0) ConfirmChannels(message.interest_ack());
}

void Subscriptions::OnPublication(const edge::v1::Publication& publication) {
  const std::string& key = publication.channel();
  ChannelEntry* entry = table_.Find(key);
  if (entry == nullptr || (entry->subscribers.empty() && entry->positioning.empty())) return;
  std::string_view name = SplitChannelKey(key).channel;
  if (publication.has_join() || publication.has_leave()) {
    // Presence events are not part of the stream: no offset, no history,
    // only for subscribers already live.
    bool join = publication.has_join();
    ClientInfoView info = ViewOf(join ? publication.join() : publication.leave());
    LazyFrames event([&](WireFormat format) {
      return join ? EncodeJoinPush(format, name, info) : EncodeLeavePush(format, name, info);
    });
    for (const auto& [session, unused] : entry->subscribers) {
      sessions_->Send(session, event.For(session->format));
    }
    metrics_->deliveries.Increment(entry->subscribers.size());
    return;
  }
  // Encoded at most once per wire format; every subscriber's queue of that
  // format shares the bytes.
  ClientInfoView info = ViewOf(publication.info());
  SharedPublication push = std::make_shared<const PublicationPush>(
      name, publication.data(), publication.offset(), publication.has_info() ? &info : nullptr);
  StreamTracker::Live live =
      entry->tracker.has_value()
          ? entry->tracker->OnLive(publication.offset(), publication.epoch(), push)
          : StreamTracker::Live::kUntracked;
  size_t queued = 0;
  switch (live) {
    case StreamTracker::Live::kUntracked:
      for (const auto& [session, unused] : entry->subscribers) {
        ++deliveries_;
        sessions_->Send(session, push->For(session->format));
      }
      queued = entry->subscribers.size();
      metrics_->deliveries.Increment(queued);
      break;
    case StreamTracker::Live::kDeliver:
      queued = DeliverTracked(*entry, publication.offset(), *push);
      break;
    case StreamTracker::Live::kHeld:
      break;
    case StreamTracker::Live::kRepair:
      metrics_->gap_repairs.Increment();
      FetchRepair(key, *entry);
      break;
    case StreamTracker::Live::kReset:
      ResetChannel(key);
      entry = table_.Find(key);
      if (entry == nullptr) return;
      break;
  }
  // Its latency is observed once the loop wrote this turn's output.
  if (queued > 0) metrics_->PublicationQueued(publication.accepted_unix_micros());
  std::vector<ClientSession*> too_slow;
  for (auto& [session, run] : entry->positioning) {
    // Positioning sessions merge by offset themselves.
    if (!run->positioning.Hold(publication.offset(), publication.epoch(), push)) {
      too_slow.push_back(session);
    }
  }
  for (ClientSession* session : too_slow) sessions_->Disconnect(session, kCloseSlow, "slow");
}

size_t Subscriptions::DeliverTracked(ChannelEntry& entry, uint64_t offset,
                                     const PublicationPush& push) {
  size_t queued = 0;
  for (auto& [session, delivered] : entry.subscribers) {
    // Never twice, never backwards: a subscriber may already hold this
    // offset from its own recovery or from before a repair.
    if (offset <= delivered) continue;
    delivered = offset;
    ++queued;
    sessions_->Send(session, push.For(session->format));
  }
  deliveries_ += queued;
  metrics_->deliveries.Increment(queued);
  return queued;
}

void Subscriptions::FetchRepair(const std::string& key, ChannelEntry& entry) {
  if (link_ == nullptr) return;
  uint64_t fetch_id = next_id_++;
  repair_fetch_[key] = fetch_id;
  control::v1::HistoryRequest request;
  ChannelKeyParts parts = SplitChannelKey(key);
  request.set_tenant(std::string(parts.tenant));
  request.set_channel(std::string(parts.channel));
  request.mutable_since()->set_offset(entry.tracker->last_offset());
  request.mutable_since()->set_epoch(entry.tracker->epoch());
  request.set_limit(
      static_cast<int32_t>(std::min<uint64_t>(options_.recovery_max_publications, INT32_MAX)));
  request.set_max_bytes(options_.history_page_bytes);
  FetchHistory(request, [this, key, fetch_id](absl::StatusOr<control::v1::HistoryResponse> answer) {
    OnRepairAnswer(key, fetch_id, std::move(answer));
  });
}

void Subscriptions::OnRepairAnswer(const std::string& key, uint64_t fetch_id,
                                   absl::StatusOr<control::v1::HistoryResponse> answer) {
  auto current = repair_fetch_.find(key);
  if (current == repair_fetch_.end() || current->second != fetch_id) return;
  repair_fetch_.erase(current);
  ChannelEntry* entry = table_.Find(key);
  if (entry == nullptr || !entry->tracker.has_value()) return;
  std::string_view name = SplitChannelKey(key).channel;
  StreamTracker::RepairStep step = entry->tracker->OnRepairPage(
      answer, [name](const control::v1::HistoryPublication& publication) {
        return PublicationOf(name, publication);
      });
  for (const StreamItem& item : step.deliver) DeliverTracked(*entry, item.offset, *item.push);
  switch (step.kind) {
    case StreamTracker::RepairStep::Kind::kFetchMore:
      FetchRepair(key, *entry);
      return;
    case StreamTracker::RepairStep::Kind::kDone:
      metrics_->gap_repair_publications.Observe(static_cast<double>(entry->tracker->repaired()));
      return;
    case StreamTracker::RepairStep::Kind::kRetryLater:
      WH_LOG(WARNING) << "gap repair of " << key << " failed: " << answer.status()
                      << (entry->tracker->holding() ? "; retrying" : "");
      // What lies past the hole waits; ExpirePending() tries again at its
      // next sweep, so a failing control is asked at most once a sweep.
      if (entry->tracker->holding()) retry_repair_.insert(key);
      return;
    case StreamTracker::RepairStep::Kind::kReset:
      WH_LOG(INFO) << "cannot repair " << key << "; subscribers resubscribe with recovery";
      ResetChannel(key);
      return;
  }
}

void Subscriptions::ResetChannel(const std::string& key) {
  ChannelEntry* entry = table_.Find(key);
  if (entry == nullptr) return;
  std::string name(SplitChannelKey(key).channel);
  std::vector<ClientSession*> subscribers;
  subscribers.reserve(entry->subscribers.size());
  for (const auto& [session, delivered] : entry->subscribers) subscribers.push_back(session);
  LazyFrames push([&name](WireFormat format) {
    return EncodeUnsubscribePush(format, name, kUnsubscribeInsufficientState, "insufficient state");
  });
  repair_fetch_.erase(key);
  // Sessions still positioning keep the entry; they learn the new position
  // from their own answer.
  if (entry->tracker.has_value()) entry->tracker->Reset();
  for (ClientSession* session : subscribers) {
    sessions_->Send(session, push.For(session->format));
    Remove(session, name);
  }
}

void Subscriptions::OnLinkState(bool attached) {
  if (!attached) return;
  // Whatever was published while the link was down is missing: repair
  // every positioned channel from control's history.
  for (auto& [key, entry] : table_) {
    if (entry.tracker.has_value() && !entry.subscribers.empty() && entry.tracker->BeginRepair()) {
      metrics_->gap_repairs.Increment();
      FetchRepair(key, entry);
    }
  }
}

void Subscriptions::ExpirePending(absl::Time now) {
  if (!retry_repair_.empty()) {
    absl::flat_hash_set<std::string> retry;
    retry.swap(retry_repair_);
    for (const std::string& key : retry) {
      ChannelEntry* entry = table_.Find(key);
      if (entry == nullptr || !entry->tracker.has_value() || !entry->tracker->holding()) continue;
      if (entry->tracker->BeginRepair()) {
        metrics_->gap_repairs.Increment();
        FetchRepair(key, *entry);
      }
    }
  }
  for (const std::string& key : table_.Waiting()) {
    ChannelEntry* entry = table_.Find(key);
    if (entry == nullptr) continue;
    std::vector<PendingSubscribe> expired;
    for (const PendingSubscribe& pending : entry->pending) {
      if (now - pending.since >= options_.subscribe_timeout) expired.push_back(pending);
    }
    for (const PendingSubscribe& pending : expired) {
      AnswerFailure(pending);
      Remove(pending.session, std::string(SplitChannelKey(key).channel));
    }
  }
}

}  // namespace wirehub::edge

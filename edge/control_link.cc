#include "edge/control_link.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "edge/interest_pager.h"

namespace wirehub::edge {

using edge::v1::ControlMessage;
using edge::v1::EdgeMessage;

namespace {

// opening_left_ before the stream is open.
constexpr size_t kNotOpen = std::numeric_limits<size_t>::max();

// The one place a gRPC status becomes an absl::Status; the codes are
// numerically identical.
absl::Status ToAbslStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

struct UnaryCallBase {
  virtual ~UnaryCallBase() = default;
  // The channel of the replica the call went to, released after the call.
  std::shared_ptr<edge::v1::EdgeLinkService::Stub> stub;
  grpc::ClientContext context;
};

template <typename Request, typename Response>
struct UnaryCall final : UnaryCallBase {
  Request request;
  Response response;
  ControlApi::Callback<Response> done;
};

// The targets of a list the owner checked with ParseControlTargets().
std::vector<ControlTarget> ParsedTargets(const std::string& list) {
  absl::StatusOr<std::vector<ControlTarget>> targets = ParseControlTargets(list);
  WH_CHECK(targets.ok()) << "control address '" << list << "': " << targets.status().message();
  return *std::move(targets);
}

}  // namespace

// Thread-safe.
//
// The unary calls in flight, counted in before they start and out after
// their callback ran. Each call's completion holds a reference, so the last
// one can count itself out after Stop() returned and the link is gone.
class ControlLink::UnaryCalls {
 public:
  // Register() adds `call` unless CloseAndCancel() was called.
  bool Register(const std::shared_ptr<UnaryCallBase>& call) {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    calls_.emplace(call.get(), call);
    return true;
  }

  // Unregister() runs after the call's callback; it may destroy `call`.
  // The call counts out only once it is destroyed (its gRPC call released),
  // so nothing of it outlives AwaitIdle() and the channel.
  void Unregister(UnaryCallBase* call) {
    std::shared_ptr<UnaryCallBase> last;
    {
      absl::MutexLock lock(&mu_);
      auto it = calls_.find(call);
      WH_CHECK(it != calls_.end()) << "unary call not registered";
      last = std::move(it->second);
      calls_.erase(it);
      ++releasing_;
    }
    last.reset();  // Unlocked: the last reference may be CloseAndCancel()'s.
    absl::MutexLock lock(&mu_);
    --releasing_;
  }

  // CloseAndCancel() refuses later calls and cancels those in flight.
  void CloseAndCancel() {
    std::vector<std::shared_ptr<UnaryCallBase>> in_flight;
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      in_flight.reserve(calls_.size());
      for (const auto& [key, call] : calls_) in_flight.push_back(call);
    }
    // Unlocked: gRPC may run a cancelled call's callback inline.
    for (const std::shared_ptr<UnaryCallBase>& call : in_flight) call->context.TryCancel();
  }

  // AwaitIdle() returns once every registered call counted itself out.
  // Cancelled calls complete promptly, so this does not wait for deadlines.
  void AwaitIdle() {
    absl::MutexLock lock(&mu_);
    auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return calls_.empty() && releasing_ == 0;
    };
    mu_.Await(absl::Condition(&idle));
  }

 private:
  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<UnaryCallBase*, std::shared_ptr<UnaryCallBase>> calls_ ABSL_GUARDED_BY(mu_);
  // Calls out of `calls_` whose Unregister() has not yet released them.
  int releasing_ ABSL_GUARDED_BY(mu_) = 0;
};

// Thread-compatible (the reader thread's).
//
// FailureLog logs failed attaches with gRPC's reason and the replica tried,
// at most one line per interval: the first failure at once, later ones
// with the count of attempts that failed since the previous line. So an
// edge whose link is refused (a bad CA, no client certificate) says why
// without flooding the log while it keeps retrying. With TLS each line names the files in use: a
// client certificate control refuses shows on the edge only as a closed
// socket.
class ControlLink::FailureLog {
 public:
  FailureLog(absl::Duration interval, const ControlLinkTlsOptions& tls) : interval_(interval) {
    if (tls.enabled()) {
      suffix_ =
          absl::StrCat(" [TLS: control verified with ", tls.ca_file, ", ",
                       tls.cert_file.empty() ? std::string("no client certificate")
                                             : absl::StrCat("client certificate ", tls.cert_file),
                       "]");
    }
  }

  void Record(const ControlEndpoint& endpoint, const grpc::Status& status) {
    const absl::Time now = absl::Now();
    if (now - last_logged_ < interval_) {
      ++suppressed_;
      return;
    }
    std::string more;
    if (suppressed_ > 0) {
      more = absl::StrCat("; ", suppressed_, " more attempts failed since the last report");
    }
    WH_LOG(WARNING) << "control link attach to " << endpoint.Describe()
                    << " failed: " << status.error_message() << " ("
                    << static_cast<int>(status.error_code()) << ")" << suffix_ << more;
    last_logged_ = now;
    suppressed_ = 0;
  }

  // Reset() after a successful attach: the next failure is logged at once.
  void Reset() {
    last_logged_ = absl::InfinitePast();
    suppressed_ = 0;
  }

 private:
  const absl::Duration interval_;
  std::string suffix_;
  absl::Time last_logged_ = absl::InfinitePast();
  uint64_t suppressed_ = 0;
};

ControlLink::ControlLink(ControlLinkOptions options, MessageCallback on_message,
                         StateCallback on_state)
    : options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? options_.metrics : &EdgeMetrics::Discard()),
      on_message_(std::move(on_message)),
      on_state_(std::move(on_state)),
      started_at_unix_ms_(absl::ToUnixMillis(absl::Now())),
      calls_(std::make_shared<UnaryCalls>()),
      targets_(ParsedTargets(options_.control_address), options_.initial_backoff,
               options_.max_backoff) {
  // Let our own backoff decide when to retry, not the channel's (which
  // grows to two minutes).
  channel_args_.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  channel_args_.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  channel_args_.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                       static_cast<int>(absl::ToInt64Milliseconds(options_.max_backoff)));
  channel_args_.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  channel_args_.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  channel_args_.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  channel_args_.SetMaxReceiveMessageSize(64 << 20);
  // One set of credentials (one certificate watcher) for every channel.
  credentials_ = ControlLinkCredentials(options_.tls, &channel_args_);
  // Until a stream attaches, calls go to the first target as gRPC resolves
  // it; nothing connects before the first call.
  const std::string first = ParsedTargets(options_.control_address).front().Authority();
  call_stub_ = NewStub(first, first);
}

ControlLink::~ControlLink() { Stop(); }

template <typename Request, typename Response, typename StartFn>
void ControlLink::StartUnary(const Request& request, absl::Duration timeout,
                             Callback<Response> done, StartFn start) {
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  {
    absl::MutexLock lock(&call_stub_mu_);
    call->stub = call_stub_;
  }
  call->request = request;
  call->done = std::move(done);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  UnaryCall<Request, Response>* raw = call.get();
  if (!calls_->Register(call)) {
    raw->done(absl::UnavailableError("control link stopped"));
    return;
  }
  // Counted in before it starts: the callback may run inline in start().
  start(raw->stub->async(), &raw->context, &raw->request, &raw->response,
        [calls = calls_, raw](grpc::Status status) {
          Callback<Response> callback = std::move(raw->done);
          if (status.ok()) {
            callback(std::move(raw->response));
          } else {
            callback(ToAbslStatus(status));
          }
          calls->Unregister(raw);
        });
}

void ControlLink::FetchHistory(const control::v1::HistoryRequest& request, absl::Duration timeout,
                               Callback<control::v1::HistoryResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [](auto* async, auto... args) { async->History(std::move(args)...); });
}

void ControlLink::FetchPresence(const control::v1::PresenceRequest& request, absl::Duration timeout,
                                Callback<control::v1::PresenceResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [](auto* async, auto... args) { async->Presence(std::move(args)...); });
}

void ControlLink::FetchPresenceStats(const control::v1::PresenceStatsRequest& request,
                                     absl::Duration timeout,
                                     Callback<control::v1::PresenceStatsResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [](auto* async, auto... args) { async->PresenceStats(std::move(args)...); });
}

void ControlLink::Publish(const edge::v1::ClientPublishRequest& request, absl::Duration timeout,
                          Callback<control::v1::PublishResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [](auto* async, auto... args) { async->Publish(std::move(args)...); });
}

void ControlLink::Start() {
  reader_ = std::thread([this] { RunReader(); });
}

void ControlLink::Stop() {
  calls_->CloseAndCancel();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (reader_.joinable()) reader_.join();
  calls_->AwaitIdle();
}

uint64_t ControlLink::AddChannel(const std::string& channel_key) {
  absl::MutexLock lock(&mu_);
  channels_.insert(channel_key);
  pending_.channels[channel_key] = true;
  return ++seq_;
}

uint64_t ControlLink::RemoveChannel(const std::string& channel_key) {
  absl::MutexLock lock(&mu_);
  channels_.erase(channel_key);
  pending_.channels[channel_key] = false;
  return ++seq_;
}

void ControlLink::AddUser(const std::string& user_key) {
  absl::MutexLock lock(&mu_);
  users_.insert(user_key);
  pending_.users[user_key] = true;
}

void ControlLink::RemoveUser(const std::string& user_key) {
  absl::MutexLock lock(&mu_);
  users_.erase(user_key);
  pending_.users[user_key] = false;
}

void ControlLink::AddPresence(const std::string& channel_key, const control::v1::ClientInfo& info) {
  absl::MutexLock lock(&mu_);
  PresenceKey key(channel_key, info.client());
  presence_[key] = info;
  pending_.presence[key] = info;
}

void ControlLink::RemovePresence(const std::string& channel_key, const std::string& client) {
  absl::MutexLock lock(&mu_);
  PresenceKey key(channel_key, client);
  presence_.erase(key);
  pending_.presence[key] = std::nullopt;
}

void ControlLink::SendResult(edge::v1::CommandResult result) {
  absl::MutexLock lock(&mu_);
  if (!stream_open_) return;
  pending_results_.push_back(std::move(result));
}

void ControlLink::SendStats(edge::v1::EdgeStats stats) {
  absl::MutexLock lock(&mu_);
  if (pending_stats_.has_value()) {
    stats.set_deliveries(stats.deliveries() + pending_stats_->deliveries());
  }
  pending_stats_ = std::move(stats);
}

bool ControlLink::HasWorkLocked() const {
  return !pending_.empty() || !pending_results_.empty() || pending_stats_.has_value();
}

ControlLink::Snapshot ControlLink::CopyMirrorLocked() const {
  Snapshot snapshot;
  snapshot.channels.assign(channels_.begin(), channels_.end());
  snapshot.users.assign(users_.begin(), users_.end());
  snapshot.presence.reserve(presence_.size());
  for (const auto& [key, info] : presence_) {
    edge::v1::PresenceEntry& entry = snapshot.presence.emplace_back();
    entry.set_channel(key.first);
    *entry.mutable_info() = info;
  }
  return snapshot;
}

std::vector<EdgeMessage> ControlLink::OpeningMessages(Snapshot snapshot, uint64_t seq) const {
  // Channels before presence, as control's Hello handling does: the edge
  // then also gets the joins of its own clients.
  InterestPager pager(options_.max_message_bytes);
  for (std::string& channel : snapshot.channels)
    pager.AddString(std::move(channel), InterestPager::ChannelsAdded);
  for (std::string& user : snapshot.users)
    pager.AddString(std::move(user), InterestPager::UsersAdded);
  for (edge::v1::PresenceEntry& entry : snapshot.presence) {
    pager.AddEntry(std::move(entry), InterestPager::PresenceAdded);
  }
  std::vector<EdgeMessage> pages = std::move(pager).Finish(seq);

  std::vector<EdgeMessage> messages;
  messages.reserve(pages.size() + 1);
  edge::v1::Hello* hello = messages.emplace_back().mutable_hello();
  hello->set_edge_id(options_.edge_id);
  hello->set_version(options_.version);
  hello->set_public_address(options_.public_address);
  hello->set_started_at_unix_ms(started_at_unix_ms_);
  // Control acknowledges hello.seq at once, so it may only claim the
  // snapshot when no page follows.
  if (pages.empty()) hello->set_seq(seq);
  for (EdgeMessage& page : pages) messages.push_back(std::move(page));
  return messages;
}

std::vector<EdgeMessage> ControlLink::ChangeMessages(PendingInterest pending, uint64_t seq) const {
  // Control applies one InterestChange as: channels and users added, users
  // removed, presence added, presence removed, channels removed. The pages
  // keep that order across them, so presence always leaves before the
  // interest in its channel goes, as within a single change.
  InterestPager pager(options_.max_message_bytes);
  for (const auto& [channel, present] : pending.channels) {
    if (present) pager.AddString(channel, InterestPager::ChannelsAdded);
  }
  for (const auto& [user, present] : pending.users) {
    if (present) pager.AddString(user, InterestPager::UsersAdded);
  }
  for (const auto& [user, present] : pending.users) {
    if (!present) pager.AddString(user, InterestPager::UsersRemoved);
  }
  for (auto& [key, info] : pending.presence) {
    if (!info.has_value()) continue;
    edge::v1::PresenceEntry entry;
    entry.set_channel(key.first);
    *entry.mutable_info() = std::move(*info);
    pager.AddEntry(std::move(entry), InterestPager::PresenceAdded);
  }
  for (const auto& [key, info] : pending.presence) {
    if (info.has_value()) continue;
    edge::v1::PresenceEntry entry;
    entry.set_channel(key.first);
    entry.mutable_info()->set_client(key.second);
    pager.AddEntry(std::move(entry), InterestPager::PresenceRemoved);
  }
  for (const auto& [channel, present] : pending.channels) {
    if (!present) pager.AddString(channel, InterestPager::ChannelsRemoved);
  }
  return std::move(pager).Finish(seq);
}

void ControlLink::RunWriter(Stream* stream, uint64_t generation, std::vector<EdgeMessage> opening) {
  // The snapshot goes before anything queued: the changes queued since it
  // was taken apply on top of it.
  for (const EdgeMessage& message : opening) {
    if (!stream->Write(message)) return;
    absl::MutexLock lock(&mu_);
    if (generation_ == generation) --opening_left_;
  }
  opening = {};
  while (true) {
    std::vector<edge::v1::CommandResult> results;
    std::optional<PendingInterest> interest;
    uint64_t seq = 0;
    std::optional<edge::v1::EdgeStats> stats;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || generation_ != generation || !stream_open_ || HasWorkLocked();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_ || generation_ != generation || !stream_open_) return;
      // Only O(1) moves here; paging and trimming happen unlocked.
      if (!pending_results_.empty()) {
        results = std::exchange(pending_results_, {});
      } else if (!pending_.empty()) {
        interest = std::exchange(pending_, PendingInterest());
        seq = seq_;
      } else {
        stats = std::exchange(pending_stats_, std::nullopt);
      }
    }
    std::vector<EdgeMessage> messages;
    if (interest.has_value()) {
      messages = ChangeMessages(std::move(*interest), seq);
    } else if (stats.has_value()) {
      FitStats(options_.max_message_bytes, &*stats);
      *messages.emplace_back().mutable_stats() = std::move(*stats);
    } else {
      messages.reserve(results.size());
      for (edge::v1::CommandResult& result : results) {
        *messages.emplace_back().mutable_result() = std::move(result);
      }
    }
    for (const EdgeMessage& message : messages) {
      // On failure the reader sees the broken stream and reconnects; what
      // was taken here is covered by the next stream's snapshot.
      if (!stream->Write(message)) return;
    }
  }
}

std::shared_ptr<ControlLink::Stub> ControlLink::NewStub(const std::string& grpc_target,
                                                        const std::string& authority) const {
  grpc::ChannelArguments args = channel_args_;
  // The name the target was configured with, also for an address resolved
  // here: TLS checks control's certificate against it (unless
  // tls.server_name overrides it), as with a single address.
  args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, authority);
  return edge::v1::EdgeLinkService::NewStub(
      grpc::CreateCustomChannel(grpc_target, credentials_, args));
}

std::shared_ptr<ControlLink::Stub> ControlLink::StubFor(const ControlEndpoint& endpoint) {
  // Calls in flight hold their own reference to a forgotten channel.
  absl::erase_if(stubs_, [this](const auto& entry) {
    const std::vector<ControlEndpoint>& round = targets_.round();
    return std::none_of(round.begin(), round.end(), [&](const ControlEndpoint& current) {
      return current.Key() == entry.first;
    });
  });
  std::shared_ptr<Stub>& stub = stubs_[endpoint.Key()];
  if (stub == nullptr) stub = NewStub(endpoint.grpc_target, endpoint.authority);
  return stub;
}

void ControlLink::RunReader() {
  // Why one channel per endpoint rather than one channel over every
  // address: the link must know which replica its stream is on, so that
  // after a failure it tries another one first, and so that the unary
  // calls follow the stream. gRPC's pick_first would retry the list from
  // its start, behind a DNS cache refreshed at most every 30 s.
  FailureLog failures(options_.failure_log_interval, options_.tls);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), targets_.NextDelay())) return;
    }
    const ControlEndpoint endpoint = targets_.Next();
    RunStream(endpoint, StubFor(endpoint), failures);
  }
}

void ControlLink::WatchAttach(uint64_t generation) {
  absl::MutexLock lock(&mu_);
  // context_ is the stream's until it ended.
  auto over = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || generation_ != generation || context_ == nullptr || positioned_;
  };
  // Until the opening is written, the stream opening (a connection) and
  // each message written are progress: a replica reading a large snapshot
  // is not given up.
  size_t left = opening_left_;
  auto progressed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return over() || opening_left_ != left;
  };
  while (opening_left_ > 0) {
    if (!mu_.AwaitWithTimeout(absl::Condition(&progressed), options_.attach_timeout)) {
      stalled_ = absl::StrCat("no progress for ", absl::FormatDuration(options_.attach_timeout));
      context_->TryCancel();
      return;
    }
    if (over()) return;
    left = opening_left_;
  }
  // Control has it all and may need a while (the Redis engine follows
  // every channel first); this only catches a replica that never answers.
  if (!mu_.AwaitWithTimeout(absl::Condition(&over), options_.snapshot_ack_timeout)) {
    stalled_ = absl::StrCat("snapshot not acknowledged within ",
                            absl::FormatDuration(options_.snapshot_ack_timeout));
    context_->TryCancel();
  }
}

void ControlLink::RunStream(const ControlEndpoint& endpoint, const std::shared_ptr<Stub>& stub,
                            FailureLog& failures) {
  grpc::ClientContext context;
  uint64_t generation;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    context_ = &context;
    generation = ++generation_;
    positioned_ = false;
    stalled_.clear();
    opening_left_ = kNotOpen;
  }
  // Attach() waits for a connection: a blackholed address, or a connect
  // attempt gRPC gives up to 5 s once its own backoff grew, would hold it
  // that long. The watchdog moves on after attach_timeout without progress.
  std::thread watchdog([this, generation] { WatchAttach(generation); });
  std::unique_ptr<Stream> stream = stub->Attach(&context);
  uint64_t snapshot_seq;
  Snapshot snapshot;
  PendingInterest superseded;
  {
    // The snapshot holds everything the loop has told us so far, so the
    // changes pending until now are part of it; later ones follow it.
    // Copying the mirror is the one O(n) step under mu_, once per stream.
    absl::MutexLock lock(&mu_);
    stream_open_ = true;
    snapshot_seq = ++seq_;
    snapshot = CopyMirrorLocked();
    superseded = std::exchange(pending_, PendingInterest());
    pending_results_.clear();
  }
  superseded = {};  // Freed outside mu_.
  std::vector<EdgeMessage> opening = OpeningMessages(std::move(snapshot), snapshot_seq);
  {
    absl::MutexLock lock(&mu_);
    opening_left_ = opening.size();
  }
  std::thread writer([this, s = stream.get(), generation, opening = std::move(opening)]() mutable {
    RunWriter(s, generation, std::move(opening));
  });

  // Unary calls (gap repair's history reads among them) go to this replica
  // from now on: a gap seen in its first messages must not be repaired
  // from the replica just lost.
  {
    std::shared_ptr<Stub> previous = stub;
    absl::MutexLock lock(&call_stub_mu_);
    std::swap(call_stub_, previous);
  }
  bool attached = false;
  ControlMessage message;
  while (stream->Read(&message)) {
    const uint64_t ack = message.interest_ack();
    on_message_(std::move(message));
    message.Clear();
    // Positioned: control holds the whole snapshot, and every
    // publication after this message reflects it.
    if (!attached && ack >= snapshot_seq) {
      attached = true;
      {
        absl::MutexLock lock(&mu_);
        positioned_ = true;
      }
      targets_.Attached();
      failures.Reset();
      WH_EVENT(INFO, "link_attached")
              .Field("control", endpoint.authority)
              .Field("address", endpoint.address)
              .Field("tls", options_.tls.enabled())
              .stream()
          << "attached to control at " << endpoint.authority
          << (options_.tls.enabled() ? " over TLS" : "")
          << (endpoint.Describe() != endpoint.authority ? absl::StrCat(" (", endpoint.address, ")")
                                                        : "");
      metrics_->control_link_attaches.Increment();
      metrics_->control_link_up.Set(1);
      on_state_(true);
    }
  }
  bool stopping;
  std::string stalled;
  {
    absl::MutexLock lock(&mu_);
    stopping = stopping_;
    stalled = std::move(stalled_);
    stream_open_ = false;
    context_ = nullptr;
    pending_results_.clear();
  }
  context.TryCancel();
  watchdog.join();
  writer.join();
  grpc::Status status = stream->Finish();
  if (!stalled.empty()) {
    status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          absl::StrCat(stalled, ", trying the next control"));
  }
  if (!stopping && attached) {
    WH_EVENT(WARNING, "link_lost")
            .Field("control", endpoint.authority)
            .Field("address", endpoint.address)
            .Field("code", static_cast<int>(status.error_code()))
            .stream()
        << "control link to " << endpoint.Describe() << " lost: " << status.error_message() << " ("
        << static_cast<int>(status.error_code()) << ")";
  } else if (!stopping && !status.ok()) {
    failures.Record(endpoint, status);
  }
  if (attached) {
    metrics_->control_link_up.Set(0);
    on_state_(false);
  }
}

}  // namespace wirehub::edge

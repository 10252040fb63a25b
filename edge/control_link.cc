#include "edge/control_link.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <random>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace wirehub::edge {

using edge::v1::ControlMessage;
using edge::v1::EdgeMessage;
using edge::v1::InterestChange;

namespace {

// What a page spends besides its items: the EdgeMessage's tag and length
// (up to 6 bytes) and InterestChange.seq (up to 11).
constexpr size_t kEnvelopeBytes = 32;

// Serialized size of one length-delimited element of a repeated field
// numbered below 16 (one tag byte), whose body is `body_bytes` long.
size_t ElementBytes(size_t body_bytes) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(body_bytes) + body_bytes;
}

// The one place a gRPC status becomes an absl::Status; the codes are
// numerically identical.
absl::Status ToAbslStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// Thread-compatible.
//
// InterestPager splits interest transitions into EdgeMessages carrying
// InterestChange pages of at most `max_bytes` serialized bytes. Items keep
// the order they are added in, across pages and within each, so control
// (which applies a page's lists in field order) applies them in that order
// as long as they are added in field order. A page takes at least one item,
// however large.
class InterestPager {
 public:
  explicit InterestPager(size_t max_bytes)
      : budget_(max_bytes > kEnvelopeBytes ? max_bytes - kEnvelopeBytes : 1) {}

  // `field` picks the repeated string field of a page.
  template <typename FieldFn>
  void AddString(std::string value, FieldFn field) {
    *field(PageFor(ElementBytes(value.size())))->Add() = std::move(value);
  }

  // `field` picks the repeated PresenceEntry field of a page.
  template <typename FieldFn>
  void AddEntry(edge::v1::PresenceEntry entry, FieldFn field) {
    *field(PageFor(ElementBytes(entry.ByteSizeLong())))->Add() = std::move(entry);
  }

  // The pages, the last one carrying `seq`; empty when nothing was added.
  std::vector<EdgeMessage> Finish(uint64_t seq) && {
    if (!pages_.empty()) pages_.back().mutable_interest()->set_seq(seq);
    return std::move(pages_);
  }

 private:
  InterestChange* PageFor(size_t item_bytes) {
    if (pages_.empty() || (page_bytes_ > 0 && page_bytes_ + item_bytes > budget_)) {
      pages_.emplace_back();
      page_bytes_ = 0;
    }
    page_bytes_ += item_bytes;
    return pages_.back().mutable_interest();
  }

  const size_t budget_;
  size_t page_bytes_ = 0;
  std::vector<EdgeMessage> pages_;
};

// The repeated fields of a page, for InterestPager.
google::protobuf::RepeatedPtrField<std::string>* ChannelsAdded(InterestChange* page) {
  return page->mutable_channels_added();
}
google::protobuf::RepeatedPtrField<std::string>* ChannelsRemoved(InterestChange* page) {
  return page->mutable_channels_removed();
}
google::protobuf::RepeatedPtrField<std::string>* UsersAdded(InterestChange* page) {
  return page->mutable_users_added();
}
google::protobuf::RepeatedPtrField<std::string>* UsersRemoved(InterestChange* page) {
  return page->mutable_users_removed();
}
google::protobuf::RepeatedPtrField<edge::v1::PresenceEntry>* PresenceAdded(InterestChange* page) {
  return page->mutable_presence_added();
}
google::protobuf::RepeatedPtrField<edge::v1::PresenceEntry>* PresenceRemoved(InterestChange* page) {
  return page->mutable_presence_removed();
}

// Keeps `stats` within `max_bytes`: when the per-channel counts do not fit,
// only the channels with the most subscribers that do are kept.
void FitStats(size_t max_bytes, edge::v1::EdgeStats* stats) {
  const size_t budget = max_bytes > kEnvelopeBytes ? max_bytes - kEnvelopeBytes : 0;
  size_t total = stats->ByteSizeLong();
  if (total <= budget) return;
  google::protobuf::RepeatedPtrField<edge::v1::ChannelCount>* channels = stats->mutable_channels();
  for (const edge::v1::ChannelCount& count : *channels) {
    total -= ElementBytes(count.ByteSizeLong());
  }
  std::sort(channels->pointer_begin(), channels->pointer_end(),
            [](const edge::v1::ChannelCount* a, const edge::v1::ChannelCount* b) {
              return a->subscribers() != b->subscribers() ? a->subscribers() > b->subscribers()
                                                          : a->channel() < b->channel();
            });
  int keep = 0;
  for (; keep < channels->size(); ++keep) {
    size_t bytes = ElementBytes(channels->Get(keep).ByteSizeLong());
    if (total + bytes > budget) break;
    total += bytes;
  }
  channels->DeleteSubrange(keep, channels->size() - keep);
}

// Thread-compatible (the reader thread's).
//
// FailureLog logs failed attaches with gRPC's reason, at most one line per
// interval: the first failure at once, later ones with the count of
// attempts that failed since the previous line. So an edge whose link is
// refused (a bad CA, no client certificate) says why without flooding the
// log while it keeps retrying. With TLS each line names the files in use: a
// client certificate control refuses shows on the edge only as a closed
// socket.
class FailureLog {
 public:
  FailureLog(absl::Duration interval, const std::string& address, const ControlLinkTlsOptions& tls)
      : interval_(interval),
        prefix_(absl::StrCat("control link attach to ", address, " failed: ")) {
    if (tls.enabled()) {
      suffix_ =
          absl::StrCat(" [TLS: control verified with ", tls.ca_file, ", ",
                       tls.cert_file.empty() ? std::string("no client certificate")
                                             : absl::StrCat("client certificate ", tls.cert_file),
                       "]");
    }
  }

  void Record(const grpc::Status& status) {
    const absl::Time now = absl::Now();
    if (now - last_logged_ < interval_) {
      ++suppressed_;
      return;
    }
    std::string more;
    if (suppressed_ > 0) {
      more = absl::StrCat("; ", suppressed_, " more attempts failed since the last report");
    }
    WH_LOG(WARNING) << prefix_ << status.error_message() << " ("
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
  const std::string prefix_;
  std::string suffix_;
  absl::Time last_logged_ = absl::InfinitePast();
  uint64_t suppressed_ = 0;
};

struct UnaryCallBase {
  virtual ~UnaryCallBase() = default;
  grpc::ClientContext context;
};

template <typename Request, typename Response>
struct UnaryCall final : UnaryCallBase {
  Request request;
  Response response;
  ControlApi::Callback<Response> done;
};

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

ControlLink::ControlLink(ControlLinkOptions options, MessageCallback on_message,
                         StateCallback on_state)
    : options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? options_.metrics : &EdgeMetrics::Discard()),
      on_message_(std::move(on_message)),
      on_state_(std::move(on_state)),
      started_at_unix_ms_(absl::ToUnixMillis(absl::Now())),
      calls_(std::make_shared<UnaryCalls>()) {
  grpc::ChannelArguments args;
  // Let our own backoff decide when to retry, not the channel's (which
  // grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.max_backoff)));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      ControlLinkCredentials(options_.tls, &args);
  channel_ = grpc::CreateCustomChannel(options_.control_address, credentials, args);
  stub_ = edge::v1::EdgeLinkService::NewStub(channel_);
}

ControlLink::~ControlLink() { Stop(); }

template <typename Request, typename Response, typename StartFn>
void ControlLink::StartUnary(const Request& request, absl::Duration timeout,
                             Callback<Response> done, StartFn start) {
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  call->request = request;
  call->done = std::move(done);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  UnaryCall<Request, Response>* raw = call.get();
  if (!calls_->Register(call)) {
    raw->done(absl::UnavailableError("control link stopped"));
    return;
  }
  // Counted in before it starts: the callback may run inline in start().
  start(&raw->context, &raw->request, &raw->response, [calls = calls_, raw](grpc::Status status) {
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
             [this](auto... args) { stub_->async()->History(std::move(args)...); });
}

void ControlLink::FetchPresence(const control::v1::PresenceRequest& request, absl::Duration timeout,
                                Callback<control::v1::PresenceResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { stub_->async()->Presence(std::move(args)...); });
}

void ControlLink::FetchPresenceStats(const control::v1::PresenceStatsRequest& request,
                                     absl::Duration timeout,
                                     Callback<control::v1::PresenceStatsResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { stub_->async()->PresenceStats(std::move(args)...); });
}

void ControlLink::Publish(const edge::v1::ClientPublishRequest& request, absl::Duration timeout,
                          Callback<control::v1::PublishResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { stub_->async()->Publish(std::move(args)...); });
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
  for (std::string& channel : snapshot.channels) pager.AddString(std::move(channel), ChannelsAdded);
  for (std::string& user : snapshot.users) pager.AddString(std::move(user), UsersAdded);
  for (edge::v1::PresenceEntry& entry : snapshot.presence) {
    pager.AddEntry(std::move(entry), PresenceAdded);
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
    if (present) pager.AddString(channel, ChannelsAdded);
  }
  for (const auto& [user, present] : pending.users) {
    if (present) pager.AddString(user, UsersAdded);
  }
  for (const auto& [user, present] : pending.users) {
    if (!present) pager.AddString(user, UsersRemoved);
  }
  for (auto& [key, info] : pending.presence) {
    if (!info.has_value()) continue;
    edge::v1::PresenceEntry entry;
    entry.set_channel(key.first);
    *entry.mutable_info() = std::move(*info);
    pager.AddEntry(std::move(entry), PresenceAdded);
  }
  for (const auto& [key, info] : pending.presence) {
    if (info.has_value()) continue;
    edge::v1::PresenceEntry entry;
    entry.set_channel(key.first);
    entry.mutable_info()->set_client(key.second);
    pager.AddEntry(std::move(entry), PresenceRemoved);
  }
  for (const auto& [channel, present] : pending.channels) {
    if (!present) pager.AddString(channel, ChannelsRemoved);
  }
  return std::move(pager).Finish(seq);
}

void ControlLink::RunWriter(Stream* stream, uint64_t generation, std::vector<EdgeMessage> opening) {
  // The snapshot goes before anything queued: the changes queued since it
  // was taken apply on top of it.
  for (const EdgeMessage& message : opening) {
    if (!stream->Write(message)) return;
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

void ControlLink::RunReader() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.initial_backoff;
  FailureLog failures(options_.failure_log_interval, options_.control_address, options_.tls);
  while (true) {
    grpc::ClientContext context;
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      context_ = &context;
      generation = ++generation_;
    }
    std::unique_ptr<Stream> stream = stub_->Attach(&context);
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
    std::thread writer([this, s = stream.get(), generation,
                        opening = OpeningMessages(std::move(snapshot), snapshot_seq)]() mutable {
      RunWriter(s, generation, std::move(opening));
    });

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
        backoff = options_.initial_backoff;
        failures.Reset();
        WH_EVENT(INFO, "link_attached")
                .Field("control", options_.control_address)
                .Field("tls", options_.tls.enabled())
                .stream()
            << "attached to control at " << options_.control_address
            << (options_.tls.enabled() ? " over TLS" : "");
        metrics_->control_link_attaches.Increment();
        metrics_->control_link_up.Set(1);
        on_state_(true);
      }
    }
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
      stream_open_ = false;
      context_ = nullptr;
      pending_results_.clear();
    }
    context.TryCancel();
    writer.join();
    grpc::Status status = stream->Finish();
    if (!stopping && attached) {
      WH_EVENT(WARNING, "link_lost")
              .Field("control", options_.control_address)
              .Field("code", static_cast<int>(status.error_code()))
              .stream()
          << "control link lost: " << status.error_message() << " ("
          << static_cast<int>(status.error_code()) << ")";
    } else if (!stopping && !status.ok()) {
      failures.Record(status);
    }
    if (attached) {
      metrics_->control_link_up.Set(0);
      on_state_(false);
    }
    // Jitter in [backoff/2, backoff] spreads the reconnects of many edges.
    std::uniform_real_distribution<double> jitter(0.5, 1.0);
    absl::Duration delay = backoff * jitter(rng);
    backoff = std::min(backoff * 2, options_.max_backoff);
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), delay);
  }
}

}  // namespace wirehub::edge

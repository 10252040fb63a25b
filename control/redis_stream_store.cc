#include "control/redis_stream_store.h"

#include <algorithm>
#include <charconv>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/logging.h"
#include "control/redis_keys.h"
#include "control/redis_scripts.h"

namespace wirehub::control {

namespace {

std::string Millis(absl::Duration duration) {
  return std::to_string(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

bool ParseUint(std::string_view text, uint64_t* value) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *value);
  return ec == std::errc() && ptr == end && !text.empty();
}

// What a Redis error reply means to the caller: Redis out of memory is
// RESOURCE_EXHAUSTED, a Redis that cannot serve now is UNAVAILABLE (retry),
// anything else (a script error) is INTERNAL.
absl::Status StatusOfError(std::string_view what, const std::string& error) {
  std::string message = absl::StrCat("redis refused the ", AsAbsl(what), ": ", error);
  if (absl::StartsWith(error, "OOM")) return absl::ResourceExhaustedError(message);
  for (std::string_view code : {"NOSCRIPT", "LOADING", "BUSY", "MASTERDOWN", "READONLY", "TRYAGAIN",
                                "CLUSTERDOWN", "NOREPLICAS"}) {
    if (absl::StartsWith(error, AsAbsl(code))) return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

// A publication from a script reply or a pub/sub message: the serialized
// publication, to which the stream's offset and epoch are added.
std::shared_ptr<const edge::v1::Publication> ParsePublication(std::string_view bytes,
                                                              uint64_t offset,
                                                              std::string_view epoch) {
  auto publication = std::make_shared<edge::v1::Publication>();
  if (!publication->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return nullptr;
  publication->set_offset(offset);
  publication->set_epoch(std::string(epoch));
  return publication;
}

// A stopped connection fails a command inline, on the caller's thread. While
// Watch() or Unwatch() hold mu_, such failures are collected here and run
// after it is released (a `done` may call Unwatch()).
thread_local std::vector<std::function<void()>>* t_after_unlock = nullptr;

void Complete(const StreamStore::StatusDone& done, absl::Status status) {
  if (done == nullptr) return;
  if (t_after_unlock != nullptr) {
    t_after_unlock->push_back([done, status = std::move(status)] { done(status); });
  } else {
    done(std::move(status));
  }
}

// Runs what Complete() collected once the scope's lock is gone.
class AfterUnlock {
 public:
  AfterUnlock() { t_after_unlock = &pending_; }
  ~AfterUnlock() {
    t_after_unlock = nullptr;
    for (auto& fn : pending_) fn();
  }

 private:
  std::vector<std::function<void()>> pending_;
};

}  // namespace

RedisStreamStore::RedisStreamStore(RedisStreamStoreOptions options)
    : options_(std::move(options)), scripts_("stream", {kPublishScript, kReadScript}) {
  RedisConnectionOptions commands = options_.connection;
  commands.name = "wirehub-control:streams";
  commands.subscriber = false;
  commands_ =
      std::make_unique<RedisConnection>(commands, [this](bool up, const std::string& run_id) {
        scripts_.OnState(commands_.get(), up, run_id);
      });
  RedisConnectionOptions subscriber = options_.connection;
  subscriber.name = "wirehub-control:feed";
  subscriber.subscriber = true;
  // A subscription confirmation may wait behind a burst of messages; the
  // connection is not the place to give up on them.
  subscriber.command_timeout = std::max(subscriber.command_timeout, absl::Seconds(5));
  subscriber_ = std::make_unique<RedisConnection>(
      subscriber, [this](bool up, const std::string&) { OnSubscriberState(up); },
      [this](RedisReply&& reply) { OnPush(std::move(reply)); });
}

RedisStreamStore::~RedisStreamStore() { Stop(); }

void RedisStreamStore::Start(Feed feed, Lost lost) {
  feed_ = std::move(feed);
  lost_ = std::move(lost);
  subscriber_->Start();
  commands_->Start();
}

void RedisStreamStore::Stop() {
  commands_->Stop();
  subscriber_->Stop();
}

std::string RedisStreamStore::MetaKey(std::string_view key) const {
  return redis_keys::Meta(options_.key_prefix, key);
}
std::string RedisStreamStore::HistoryKey(std::string_view key) const {
  return redis_keys::History(options_.key_prefix, key);
}
std::string RedisStreamStore::IdempotencyKey(std::string_view key,
                                             std::string_view idempotency_key) const {
  return redis_keys::Idempotency(options_.key_prefix, key, idempotency_key);
}
std::string RedisStreamStore::PubSubChannel(std::string_view key) const {
  return redis_keys::PubSub(options_.key_prefix, key);
}

std::string RedisStreamStore::NewEpoch() {
  // 64 random bits per stream: never the epoch of another run or stream.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%016x", rng());
}

absl::Status RedisStreamStore::Ready() const {
  absl::StatusOr<RedisScriptSet::Loaded> scripts = scripts_.Get();
  if (!scripts.ok()) return scripts.status();
  absl::MutexLock lock(&mu_);
  if (!subscriber_up_) {
    return absl::UnavailableError(absl::StrCat("redis ", options_.connection.host, ":",
                                               options_.connection.port,
                                               ": the subscription connection is down"));
  }
  return absl::OkStatus();
}

void RedisStreamStore::Publish(PublishItem item, OnSequenced on_sequenced, Done done) {
  absl::StatusOr<RedisScriptSet::Loaded> scripts = scripts_.Get();
  if (!scripts.ok()) {
    done(scripts.status());
    return;
  }
  edge::v1::Publication publication;
  publication.set_channel(item.key);
  publication.set_data(std::move(item.data));
  publication.set_accepted_unix_micros(absl::ToUnixMicros(absl::Now()));
  if (item.info.has_value()) *publication.mutable_info() = std::move(*item.info);
  const bool keyed = !item.idempotency_key.empty();
  const absl::Duration stream_ttl =
      std::max({options_.stream_ttl, item.policy.ttl, item.idempotency_window});
  std::vector<std::string> args;
  args.reserve(14);
  args.push_back("EVALSHA");
  args.push_back(scripts->shas[0]);
  args.push_back("3");
  args.push_back(MetaKey(item.key));
  args.push_back(HistoryKey(item.key));
  args.push_back(IdempotencyKey(item.key, item.idempotency_key));
  args.push_back(scripts->run_id);
  args.push_back(NewEpoch());
  args.push_back(std::to_string(item.policy.max_size));
  args.push_back(Millis(item.policy.ttl));
  args.push_back(Millis(stream_ttl));
  args.push_back(keyed ? Millis(item.idempotency_window) : std::string("0"));
  args.push_back(PubSubChannel(item.key));
  args.push_back(publication.SerializeAsString());
  commands_->Command(
      std::move(args),
      [this, done = std::move(done), run_id = scripts->run_id](absl::StatusOr<RedisReply> reply) {
        if (!reply.ok()) {
          done(reply.status());
          return;
        }
        if (reply->is_error()) {
          if (absl::StartsWith(reply->str, "NOSCRIPT")) scripts_.Reload(commands_.get(), run_id);
          done(StatusOfError("publish", reply->str));
          return;
        }
        if (!reply->is_array() || reply->elements.size() != 3 || !reply->elements[0].is_string() ||
            !reply->elements[1].is_integer() || !reply->elements[2].is_integer()) {
          done(absl::InternalError(
              absl::StrCat("redis: unexpected publish answer ", reply->DebugString())));
          return;
        }
        StreamPosition position;
        position.epoch = std::move(reply->elements[0].str);
        position.offset = static_cast<uint64_t>(reply->elements[1].integer);
        position.replayed = reply->elements[2].integer != 0;
        if (position.replayed) idempotent_replays_.fetch_add(1, std::memory_order_relaxed);
        done(std::move(position));
      },
      1, scripts->run_id);
}

void RedisStreamStore::History(const std::string& key, const std::optional<StreamPosition>& since,
                               int64_t limit, bool reverse, const HistoryPolicy& policy,
                               absl::Duration idempotency_window, HistoryDone done) {
  absl::StatusOr<RedisScriptSet::Loaded> scripts = scripts_.Get();
  if (!scripts.ok()) {
    done(scripts.status());
    return;
  }
  const absl::Duration stream_ttl = std::max({options_.stream_ttl, policy.ttl, idempotency_window});
  const uint64_t after = since.has_value() ? since->offset : 0;
  std::vector<std::string> args = {"EVALSHA",
                                   scripts->shas[1],
                                   "2",
                                   MetaKey(key),
                                   HistoryKey(key),
                                   scripts->run_id,
                                   NewEpoch(),
                                   Millis(stream_ttl),
                                   Millis(policy.ttl),
                                   std::to_string(after),
                                   std::to_string(limit < 0 ? -1 : limit),
                                   reverse ? "1" : "0"};
  commands_->Command(
      std::move(args),
      [this, since, done = std::move(done),
       run_id = scripts->run_id](absl::StatusOr<RedisReply> reply) {
        if (!reply.ok()) {
          done(reply.status());
          return;
        }
        if (reply->is_error()) {
          if (absl::StartsWith(reply->str, "NOSCRIPT")) scripts_.Reload(commands_.get(), run_id);
          done(StatusOfError("history read", reply->str));
          return;
        }
        if (!reply->is_array() || reply->elements.size() != 3 || !reply->elements[0].is_string() ||
            !reply->elements[1].is_integer() || !reply->elements[2].is_array() ||
            reply->elements[2].elements.size() % 2 != 0) {
          done(absl::InternalError(
              absl::StrCat("redis: unexpected history answer ", reply->DebugString())));
          return;
        }
        HistoryRead read;
        read.epoch = std::move(reply->elements[0].str);
        read.top_offset = static_cast<uint64_t>(reply->elements[1].integer);
        if (since.has_value() && (since->epoch != read.epoch || since->offset > read.top_offset)) {
          done(absl::FailedPreconditionError(
              absl::StrCat("unrecoverable position: the stream is at epoch ", read.epoch,
                           " offset ", read.top_offset)));
          return;
        }
        std::vector<RedisReply>& entries = reply->elements[2].elements;
        read.publications.reserve(entries.size() / 2);
        for (size_t i = 0; i + 1 < entries.size(); i += 2) {
          uint64_t offset = 0;
          std::shared_ptr<const edge::v1::Publication> publication;
          if (ParseUint(entries[i].str, &offset)) {
            publication = ParsePublication(entries[i + 1].str, offset, read.epoch);
          }
          if (publication == nullptr) {
            done(absl::DataLossError(
                absl::StrCat("redis: history entry ", entries[i].str, " is malformed")));
            return;
          }
          read.publications.push_back(std::move(publication));
        }
        done(std::move(read));
      },
      1, scripts->run_id);
}

void RedisStreamStore::RemoveHistory(const std::string& key, absl::Duration idempotency_window,
                                     StatusDone done) {
  commands_->Command({"DEL", HistoryKey(key)},
                     [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
                       if (!reply.ok()) {
                         done(reply.status());
                       } else if (reply->is_error()) {
                         done(StatusOfError("history removal", reply->str));
                       } else {
                         done(absl::OkStatus());
                       }
                     });
}

StreamCounts RedisStreamStore::Counts() const {
  StreamCounts counts;
  {
    absl::MutexLock lock(&mu_);
    counts.streams = watched_.size();
  }
  counts.idempotent_replays = idempotent_replays_.load(std::memory_order_relaxed);
  return counts;
}

void RedisStreamStore::SendSubscriptions(const char* command,
                                         const std::vector<std::string>& channels,
                                         StatusDone done) {
  for (size_t begin = 0; begin < channels.size(); begin += options_.subscribe_batch) {
    const size_t end = std::min(channels.size(), begin + options_.subscribe_batch);
    std::vector<std::string> args;
    args.reserve(end - begin + 1);
    args.push_back(command);
    for (size_t i = begin; i < end; ++i) args.push_back(PubSubChannel(channels[i]));
    const bool last = end == channels.size();
    subscriber_->Command(
        std::move(args),
        [done = last ? std::move(done) : StatusDone()](absl::StatusOr<RedisReply> reply) {
          if (!reply.ok()) {
            Complete(done, reply.status());
          } else if (reply->is_error()) {
            Complete(done, absl::UnavailableError(
                               absl::StrCat("redis refused a subscription: ", reply->str)));
          } else {
            Complete(done, absl::OkStatus());
          }
        },
        static_cast<int>(end - begin));
  }
}

void RedisStreamStore::Watch(const std::vector<std::string>& keys, StatusDone done) {
  AfterUnlock after_unlock;  // Declared first: runs after the lock is released.
  absl::MutexLock lock(&mu_);
  std::vector<std::string> subscribe;
  for (const std::string& key : keys) {
    if (++watched_[key] == 1) subscribe.push_back(key);
  }
  // Without the subscription nothing can be promised; the caller detaches
  // the edge, whose Unwatch takes the counts back.
  if (!subscribe.empty()) {
    SendSubscriptions("SSUBSCRIBE", subscribe, std::move(done));
  } else {
    // Every subscription this interest relies on was sent before: the PING
    // comes back after their confirmations.
    subscriber_->Command({"PING"}, [done = std::move(done)](absl::StatusOr<RedisReply> reply) {
      Complete(done, reply.ok() ? absl::OkStatus() : reply.status());
    });
  }
}

void RedisStreamStore::Unwatch(const std::vector<std::string>& keys) {
  AfterUnlock after_unlock;
  absl::MutexLock lock(&mu_);
  std::vector<std::string> unsubscribe;
  for (const std::string& key : keys) {
    auto it = watched_.find(key);
    if (it == watched_.end()) it = watched_.emplace(key, 0).first;
    if (--it->second == 0) {
      unsubscribe.push_back(key);
      watched_.erase(it);
    }
  }
  if (!unsubscribe.empty()) SendSubscriptions("SUNSUBSCRIBE", unsubscribe, nullptr);
}

void RedisStreamStore::OnSubscriberState(bool up) {
  bool lost = false;
  {
    absl::MutexLock lock(&mu_);
    subscriber_up_ = up;
    if (!up) {
      lost = subscriber_was_up_;
    } else {
      subscriber_was_up_ = true;
      // Interest that outlived the loss (edges detach on it, but one may
      // have been counted meanwhile) is subscribed again; its edges are
      // told to start over below.
      std::vector<std::string> again;
      for (const auto& [key, count] : watched_) {
        if (count > 0) again.push_back(key);
      }
      if (!again.empty()) {
        SendSubscriptions("SSUBSCRIBE", again, nullptr);
        lost = true;
      }
    }
  }
  if (lost && lost_ != nullptr) {
    lost_(absl::UnavailableError(up ? "the subscription connection to redis was re-established"
                                    : "the subscription connection to redis was lost"));
  }
}

void RedisStreamStore::OnPush(RedisReply&& reply) {
  // ["smessage", channel, "<offset>:<epoch>:<publication>"]; anything else
  // (a "sunsubscribe" pushed when a slot moves) is not a publication.
  if (!reply.is_array() || reply.elements.size() != 3 || reply.elements[0].str != "smessage") {
    return;
  }
  std::string_view message = reply.elements[2].str;
  const size_t first = message.find(':');
  const size_t second = first == std::string_view::npos ? first : message.find(':', first + 1);
  uint64_t offset = 0;
  std::shared_ptr<const edge::v1::Publication> publication;
  if (second != std::string_view::npos && ParseUint(message.substr(0, first), &offset)) {
    publication = ParsePublication(message.substr(second + 1), offset,
                                   message.substr(first + 1, second - first - 1));
  }
  if (publication == nullptr) {
    if (malformed_messages_.fetch_add(1, std::memory_order_relaxed) == 0) {
      WH_LOG(WARNING) << "redis: a malformed message on " << reply.elements[1].str
                      << " was dropped (another writer uses this key prefix?)";
    }
    return;
  }
  if (feed_ != nullptr) feed_(publication);
}

}  // namespace wirehub::control

#include "control/replica_bus.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/logging.h"

namespace wirehub::control {

namespace {

// Deadlines are checked this often; a forwarded call ends at most this
// late.
constexpr absl::Duration kTimerTick = absl::Milliseconds(20);

}  // namespace

ReplicaBus::ReplicaBus(ReplicaBusOptions options)
    : options_(std::move(options)),
      request_channel_(absl::StrCat(options_.key_prefix, ":{replicas}:c")),
      reply_channel_(absl::StrCat(options_.key_prefix, ":{replicas}:r:", options_.replica_id)) {
  RedisConnectionOptions publisher = options_.connection;
  publisher.name = "wirehub-control:bus";
  publisher.subscriber = false;
  publisher_ = std::make_unique<RedisConnection>(publisher, [](bool, const std::string&) {});
  RedisConnectionOptions subscriber = options_.connection;
  subscriber.name = "wirehub-control:bus-feed";
  subscriber.subscriber = true;
  subscriber_ = std::make_unique<RedisConnection>(
      subscriber, [this](bool up, const std::string&) { OnSubscriberState(up); },
      [this](RedisReply&& reply) { OnPush(std::move(reply)); });
}

ReplicaBus::~ReplicaBus() { Stop(); }

void ReplicaBus::Start(Handler handler) {
  handler_ = std::move(handler);
  timer_ = std::thread([this] { RunTimer(); });
  subscriber_->Start();
  publisher_->Start();
}

void ReplicaBus::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (timer_.joinable()) timer_.join();
  publisher_->Stop();
  subscriber_->Stop();
  std::vector<std::unique_ptr<Pending>> left;
  {
    absl::MutexLock lock(&mu_);
    std::vector<uint64_t> ids;
    for (const auto& [id, pending] : pending_) ids.push_back(id);
    for (uint64_t id : ids) left.push_back(TakeIfDone(id, /*force=*/true));
  }
  for (auto& pending : left) pending->done(std::move(pending->gathered));
}

absl::Status ReplicaBus::Ready() const {
  absl::MutexLock lock(&mu_);
  if (!subscribed_ || !publisher_->up()) {
    return absl::UnavailableError("the replica bus (redis) is not connected");
  }
  return absl::OkStatus();
}

void ReplicaBus::OnSubscriberState(bool up) {
  if (!up) {
    absl::MutexLock lock(&mu_);
    subscribed_ = false;
    return;
  }
  subscriber_->Command(
      {"SSUBSCRIBE", request_channel_, reply_channel_},
      [this](absl::StatusOr<RedisReply> reply) {
        if (!reply.ok() || reply->is_error()) {
          WH_LOG(WARNING) << "redis: the replica bus could not subscribe: "
                          << (reply.ok() ? reply->DebugString()
                                         : std::string(reply.status().message()));
          return;
        }
        absl::MutexLock lock(&mu_);
        subscribed_ = true;
      },
      2);
}

void ReplicaBus::Forward(edge::v1::ReplicaRequest request, absl::Time deadline,
                         std::function<void(Gathered)> done) {
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || !subscribed_ || pending_.size() >= options_.max_in_flight) {
      id = 0;
    } else {
      id = ++next_id_;
      auto pending = std::make_unique<Pending>();
      pending->deadline = deadline;
      pending->done = std::move(done);
      pending_.emplace(id, std::move(pending));
    }
  }
  if (id == 0) {
    // Nobody to ask (or too much asked already): the other replicas'
    // edges are not reached, which the caller cannot tell from none.
    Gathered nothing;
    done(std::move(nothing));
    return;
  }
  request.set_origin(options_.replica_id);
  request.set_id(id);
  request.set_deadline_unix_ms(absl::ToUnixMillis(deadline));
  publisher_->Command({"SPUBLISH", request_channel_, request.SerializeAsString()},
                      [this, id](absl::StatusOr<RedisReply> reply) {
                        std::unique_ptr<Pending> complete;
                        {
                          absl::MutexLock lock(&mu_);
                          auto it = pending_.find(id);
                          if (it == pending_.end()) return;
                          // Every subscriber but this replica answers.
                          const int64_t receivers =
                              reply.ok() && reply->is_integer() ? reply->integer : 0;
                          it->second->expected = receivers > 0 ? receivers - 1 : 0;
                          complete = TakeIfDone(id, /*force=*/false);
                        }
                        if (complete != nullptr) complete->done(std::move(complete->gathered));
                      });
}

std::unique_ptr<ReplicaBus::Pending> ReplicaBus::TakeIfDone(uint64_t id, bool force) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return nullptr;
  Pending& pending = *it->second;
  const int64_t answered = static_cast<int64_t>(pending.gathered.replies.size());
  if (!force && (pending.expected < 0 || answered < pending.expected)) return nullptr;
  if (pending.expected > answered) {
    pending.gathered.replicas_missing = static_cast<uint32_t>(pending.expected - answered);
  }
  std::unique_ptr<Pending> taken = std::move(it->second);
  pending_.erase(it);
  return taken;
}

void ReplicaBus::OnPush(RedisReply&& reply) {
  if (!reply.is_array() || reply.elements.size() != 3 || reply.elements[0].str != "smessage") {
    return;
  }
  const std::string& channel = reply.elements[1].str;
  const std::string& payload = reply.elements[2].str;
  if (channel == request_channel_) {
    edge::v1::ReplicaRequest request;
    if (!request.ParseFromString(payload)) return;
    if (request.origin() != options_.replica_id) OnRequest(std::move(request));
  } else if (channel == reply_channel_) {
    edge::v1::ReplicaReply answer;
    if (answer.ParseFromString(payload)) OnReply(std::move(answer));
  }
}

void ReplicaBus::OnRequest(edge::v1::ReplicaRequest request) {
  if (handler_ == nullptr) return;
  const std::string to = absl::StrCat(options_.key_prefix, ":{replicas}:r:", request.origin());
  const uint64_t id = request.id();
  handler_(request, [this, to, id](edge::v1::ReplicaReply reply) {
    reply.set_id(id);
    reply.set_replica(options_.replica_id);
    publisher_->Command({"SPUBLISH", to, reply.SerializeAsString()},
                        [](absl::StatusOr<RedisReply>) {});
  });
}

void ReplicaBus::OnReply(edge::v1::ReplicaReply reply) {
  std::unique_ptr<Pending> complete;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(reply.id());
    if (it == pending_.end()) return;  // Late: the call already ended.
    it->second->gathered.replies.push_back(std::move(reply));
    complete = TakeIfDone(it->first, /*force=*/false);
  }
  if (complete != nullptr) complete->done(std::move(complete->gathered));
}

void ReplicaBus::RunTimer() {
  while (true) {
    std::vector<std::unique_ptr<Pending>> expired;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), kTimerTick);
      if (stopping_) return;
      const absl::Time now = absl::Now();
      std::vector<uint64_t> ids;
      for (const auto& [id, pending] : pending_) {
        if (pending->deadline <= now) ids.push_back(id);
      }
      for (uint64_t id : ids) expired.push_back(TakeIfDone(id, /*force=*/true));
    }
    for (auto& pending : expired) pending->done(std::move(pending->gathered));
  }
}

}  // namespace wirehub::control

#include "edge/control_link.h"

#include <chrono>
#include <random>
#include <utility>

#include "common/logging.h"

namespace wirehub::edge {

using edge::v1::ControlMessage;
using edge::v1::EdgeMessage;

ControlLink::ControlLink(ControlLinkOptions options, MessageCallback on_message,
                         StateCallback on_state)
    : options_(std::move(options)),
      on_message_(std::move(on_message)),
      on_state_(std::move(on_state)),
      started_at_unix_ms_(absl::ToUnixMillis(absl::Now())) {
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
  channel_ =
      grpc::CreateCustomChannel(options_.control_address, grpc::InsecureChannelCredentials(), args);
  stub_ = edge::v1::EdgeLinkService::NewStub(channel_);
  control_stub_ = control::v1::ControlService::NewStub(channel_);
}

namespace {

// One asynchronous unary call; deletes itself when done.
template <typename Request, typename Response>
struct UnaryCall {
  grpc::ClientContext context;
  Request request;
  Response response;
  std::function<void(const grpc::Status&, const Response&)> done;
};

template <typename Request, typename Response, typename Starter>
void StartUnary(const Request& request, absl::Duration timeout,
                std::function<void(const grpc::Status&, const Response&)> done, Starter start) {
  auto* call = new UnaryCall<Request, Response>;
  call->request = request;
  call->done = std::move(done);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  start(&call->context, &call->request, &call->response, [call](grpc::Status status) {
    call->done(status, call->response);
    delete call;
  });
}

}  // namespace

void ControlLink::FetchHistory(const control::v1::HistoryRequest& request, absl::Duration timeout,
                               HistoryCallback done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { control_stub_->async()->History(args...); });
}

void ControlLink::FetchPresence(const control::v1::PresenceRequest& request, absl::Duration timeout,
                                Callback<control::v1::PresenceResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { control_stub_->async()->Presence(args...); });
}

void ControlLink::FetchPresenceStats(const control::v1::PresenceStatsRequest& request,
                                     absl::Duration timeout,
                                     Callback<control::v1::PresenceStatsResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { control_stub_->async()->PresenceStats(args...); });
}

void ControlLink::Publish(const edge::v1::ClientPublishRequest& request, absl::Duration timeout,
                          Callback<control::v1::PublishResponse> done) {
  StartUnary(request, timeout, std::move(done),
             [this](auto... args) { stub_->async()->Publish(args...); });
}

ControlLink::~ControlLink() { Stop(); }

void ControlLink::Start() {
  reader_ = std::thread([this] { RunReader(); });
}

void ControlLink::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (reader_.joinable()) reader_.join();
}

uint64_t ControlLink::AddChannel(const std::string& channel) {
  absl::MutexLock lock(&mu_);
  channels_.insert(channel);
  pending_channels_[channel] = true;
  return ++seq_;
}

uint64_t ControlLink::RemoveChannel(const std::string& channel) {
  absl::MutexLock lock(&mu_);
  channels_.erase(channel);
  pending_channels_[channel] = false;
  return ++seq_;
}

void ControlLink::AddUser(const std::string& user) {
  absl::MutexLock lock(&mu_);
  users_.insert(user);
  pending_users_[user] = true;
}

void ControlLink::RemoveUser(const std::string& user) {
  absl::MutexLock lock(&mu_);
  users_.erase(user);
  pending_users_[user] = false;
}

void ControlLink::AddPresence(const std::string& channel_key, const control::v1::ClientInfo& info) {
  absl::MutexLock lock(&mu_);
  PresenceKey key(channel_key, info.client());
  presence_[key] = info;
  pending_presence_[key] = info;
}

void ControlLink::RemovePresence(const std::string& channel_key, const std::string& client) {
  absl::MutexLock lock(&mu_);
  PresenceKey key(channel_key, client);
  presence_.erase(key);
  pending_presence_[key] = std::nullopt;
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
  return hello_.has_value() || !pending_channels_.empty() || !pending_users_.empty() ||
         !pending_presence_.empty() || !pending_results_.empty() || pending_stats_.has_value();
}

void ControlLink::RunWriter(grpc::ClientReaderWriter<EdgeMessage, ControlMessage>* stream,
                            uint64_t generation) {
  while (true) {
    EdgeMessage message;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || generation_ != generation || !stream_open_ || HasWorkLocked();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_ || generation_ != generation || !stream_open_) return;
      if (hello_.has_value()) {
        message = std::move(*hello_);
        hello_.reset();
      } else if (!pending_results_.empty()) {
        *message.mutable_result() = std::move(pending_results_.front());
        pending_results_.erase(pending_results_.begin());
      } else if (!pending_channels_.empty() || !pending_users_.empty() ||
                 !pending_presence_.empty()) {
        edge::v1::InterestChange* change = message.mutable_interest();
        for (auto& [channel, present] : pending_channels_) {
          *(present ? change->add_channels_added() : change->add_channels_removed()) = channel;
        }
        for (auto& [user, present] : pending_users_) {
          *(present ? change->add_users_added() : change->add_users_removed()) = user;
        }
        for (auto& [key, info] : pending_presence_) {
          edge::v1::PresenceEntry* entry =
              info.has_value() ? change->add_presence_added() : change->add_presence_removed();
          entry->set_channel(key.first);
          if (info.has_value()) {
            *entry->mutable_info() = std::move(*info);
          } else {
            entry->mutable_info()->set_client(key.second);
          }
        }
        change->set_seq(seq_);
        pending_channels_.clear();
        pending_users_.clear();
        pending_presence_.clear();
      } else {
        *message.mutable_stats() = std::move(*pending_stats_);
        pending_stats_.reset();
      }
    }
    if (!stream->Write(message)) {
      // The reader sees the broken stream and reconnects; what was taken
      // here is covered by the next hello's full snapshot.
      return;
    }
  }
}

void ControlLink::RunReader() {
  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    grpc::ClientContext context;
    uint64_t generation;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      context_ = &context;
      generation = ++generation_;
    }
    std::unique_ptr<grpc::ClientReaderWriter<EdgeMessage, ControlMessage>> stream =
        stub_->Attach(&context);
    {
      // The hello carries everything the loop has told us so far, so the
      // changes pending until now are part of it.
      absl::MutexLock lock(&mu_);
      stream_open_ = true;
      EdgeMessage hello;
      edge::v1::Hello* body = hello.mutable_hello();
      body->set_edge_id(options_.edge_id);
      body->set_version(options_.version);
      body->set_public_address(options_.public_address);
      for (const std::string& channel : channels_) body->add_channels(channel);
      for (const std::string& user : users_) body->add_users(user);
      for (const auto& [key, info] : presence_) {
        edge::v1::PresenceEntry* entry = body->add_presence();
        entry->set_channel(key.first);
        *entry->mutable_info() = info;
      }
      body->set_seq(seq_);
      body->set_started_at_unix_ms(started_at_unix_ms_);
      pending_channels_.clear();
      pending_users_.clear();
      pending_presence_.clear();
      pending_results_.clear();
      hello_ = std::move(hello);
    }
    std::thread writer([this, s = stream.get(), generation] { RunWriter(s, generation); });

    bool attached = false;
    ControlMessage message;
    while (stream->Read(&message)) {
      if (!attached) {
        attached = true;
        backoff = options_.initial_backoff;
        WH_LOG(INFO) << "attached to control at " << options_.control_address;
        on_state_(true);
      }
      on_message_(std::move(message));
      message.Clear();
    }
    {
      absl::MutexLock lock(&mu_);
      stream_open_ = false;
      context_ = nullptr;
      pending_results_.clear();
    }
    context.TryCancel();
    writer.join();
    grpc::Status status = stream->Finish();
    if (attached) {
      WH_LOG(WARNING) << "control link lost: " << status.error_message() << " ("
                      << static_cast<int>(status.error_code()) << ")";
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

#include "control/control_service.h"

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/channel_name.h"
#include "common/logging.h"
#include "common/process_memory.h"
#include "control/channel_reads.h"
#include "control/publish_stream_reactor.h"
#include "control/request_validation.h"

namespace wirehub::control {
namespace {

// Page sizes: 0 picks the default, larger values are capped.
constexpr int kConnectionsDefaultPage = 100;
constexpr int kConnectionsMaxPage = 1000;
constexpr int kChannelsDefaultPage = 1000;
constexpr int kChannelsMaxPage = 10000;

// Longest Disconnect reason, in bytes.
constexpr size_t kMaxReasonBytes = 100;

absl::Status NeedUserOrClient(const std::string& user, const std::string& client) {
  if (user.empty() && client.empty()) {
    return absl::InvalidArgumentError("user or client is required");
  }
  return absl::OkStatus();
}

absl::Status EdgeError(const CommandOutcome::Answer& answer) {
  const int code = answer.result.error_code();
  if (code == 0) return absl::OkStatus();
  absl::StatusCode status_code =
      code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code) : absl::StatusCode::kUnknown;
  return absl::Status(status_code,
                      absl::StrCat("edge ", answer.edge_id, ": ", answer.result.error_message()));
}

// An edge that answered with an error is left out of the merged answer
// (and logged). Only when every edge that answered failed does the call
// fail, with the first edge's error: then the failure is the request's, not
// one edge's.
absl::Status MergeErrors(const CommandOutcome& outcome) {
  absl::Status first;
  size_t failed = 0;
  for (const CommandOutcome::Answer& answer : outcome.answers) {
    absl::Status status = EdgeError(answer);
    if (status.ok()) continue;
    ++failed;
    if (first.ok()) first = status;
  }
  if (failed == 0) return absl::OkStatus();
  if (failed == outcome.answers.size()) return first;
  WH_LOG(WARNING) << failed << " of " << outcome.answers.size()
                  << " edges could not apply a command: " << first.message();
  return absl::OkStatus();
}

// Sums `connections` over the edges that applied the command.
absl::Status SumConnections(const CommandOutcome& outcome, uint64_t* connections) {
  absl::Status status = MergeErrors(outcome);
  if (!status.ok()) return status;
  *connections = 0;
  for (const CommandOutcome::Answer& answer : outcome.answers) {
    if (answer.result.error_code() == 0) *connections += answer.result.connections();
  }
  return absl::OkStatus();
}

// Sends `command` to every edge and finishes the call with what `merge`
// makes of the answers. `response` lives until the call finishes.
template <typename Response, typename Merge>
grpc::ServerUnaryReactor* ForwardToEdges(EdgeHub* hub, grpc::CallbackServerContext* context,
                                         absl::Time deadline, edge::v1::EdgeCommand command,
                                         Response* response, Merge merge) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // Runs exactly once, never under the hub lock (CommandRouter), so Finish
  // may run OnDone inline.
  hub->SendCommand(std::move(command), deadline,
                   [reactor, response, merge = std::move(merge)](CommandOutcome outcome) {
                     reactor->Finish(ToGrpcStatus(merge(outcome, response)));
                   });
  return reactor;
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

ControlServiceImpl::ControlServiceImpl(EdgeHub* hub, const ControlServiceOptions& options)
    : hub_(hub), options_(options), started_at_(absl::Now()) {}

void ControlServiceImpl::set_address(std::string address) {
  absl::MutexLock lock(&address_mu_);
  address_ = std::move(address);
}

absl::Status ControlServiceImpl::ValidateData(std::string_view data) const {
  return ValidatePublicationData(data, options_.max_payload_bytes);
}

absl::Status ControlServiceImpl::ValidatePublication(std::string_view channel,
                                                     std::string_view data) const {
  absl::Status name = ValidateChannelName(channel);
  if (!name.ok()) return name;
  return ValidateKeyData(*hub_->config()->namespaces, channel, data, options_.max_payload_bytes);
}

void ControlServiceImpl::PublishToKey(const std::string& key, const std::string& data,
                                      const std::string& idempotency_key,
                                      EdgeHub::PublishDone done) {
  // Under the namespaces in force now; a reload between here and the hub's
  // own lookup is not seen by this check.
  absl::Status valid =
      ValidateKeyData(*hub_->config()->namespaces, key, data, options_.max_payload_bytes);
  if (!valid.ok()) {
    hub_->CountRefusal(key, valid);
    done(valid);
    return;
  }
  hub_->Publish(key, data, idempotency_key, /*info=*/nullptr, std::move(done));
}

absl::Time ControlServiceImpl::CommandDeadline(const grpc::CallbackServerContext* context) const {
  const absl::Time now = absl::Now();
  const absl::Time call_deadline = absl::FromChrono(context->deadline());
  // Keep a tenth of the caller's remaining time for the answer's way back,
  // so a caller with a short deadline gets the partial answer rather than
  // DEADLINE_EXCEEDED.
  return std::min(now + options_.max_command_wait, call_deadline - (call_deadline - now) / 10);
}

grpc::ServerUnaryReactor* ControlServiceImpl::Publish(grpc::CallbackServerContext* context,
                                                      const v1::PublishRequest* request,
                                                      v1::PublishResponse* response) {
  absl::StatusOr<std::string> key = ChannelKeyFor(request->tenant(), request->channel());
  if (!key.ok()) {
    hub_->CountRefusal(request->channel(), key.status());
    return FinishNow(context, key.status());
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  PublishToKey(*key, request->data(), request->idempotency_key(),
               [reactor, response](absl::StatusOr<StreamPosition> position) {
                 if (!position.ok()) {
                   reactor->Finish(ToGrpcStatus(position.status()));
                   return;
                 }
                 response->set_offset(position->offset);
                 response->set_epoch(std::move(position->epoch));
                 reactor->Finish(grpc::Status::OK);
               });
  return reactor;
}

void ControlServiceImpl::PublishOne(const v1::PublishStreamRequest& request,
                                    std::function<void(v1::PublishStreamResponse)> done) {
  auto answer = [done = std::move(done),
                 id = request.request_id()](absl::StatusOr<StreamPosition> position) {
    v1::PublishStreamResponse response;
    response.set_request_id(id);
    if (!position.ok()) {
      response.set_error_code(static_cast<int32_t>(position.status().code()));
      response.set_error_message(std::string(position.status().message()));
    } else {
      response.set_offset(position->offset);
      response.set_epoch(std::move(position->epoch));
    }
    done(std::move(response));
  };
  hub_->metrics().publish_stream_items().Increment();
  if (refusing()) {
    hub_->CountRefusal(request.channel(), DrainingError());
    answer(DrainingError());
    return;
  }
  absl::StatusOr<std::string> key = ChannelKeyFor(request.tenant(), request.channel());
  if (!key.ok()) {
    hub_->CountRefusal(request.channel(), key.status());
    answer(key.status());
    return;
  }
  PublishToKey(*key, request.data(), request.idempotency_key(), std::move(answer));
}

grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse>*
ControlServiceImpl::PublishStream(grpc::CallbackServerContext* context) {
  return new PublishStreamReactor(this);
}

grpc::ServerUnaryReactor* ControlServiceImpl::History(grpc::CallbackServerContext* context,
                                                      const v1::HistoryRequest* request,
                                                      v1::HistoryResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ReadHistory(hub_, *request, options_.max_history_reply_bytes, response,
              [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::HistoryRemove(grpc::CallbackServerContext* context,
                                                            const v1::HistoryRemoveRequest* request,
                                                            v1::HistoryRemoveResponse* response) {
  absl::StatusOr<std::string> key = ChannelKeyFor(request->tenant(), request->channel());
  if (!key.ok()) return FinishNow(context, key.status());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  hub_->HistoryRemove(*key,
                      [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::Broadcast(grpc::CallbackServerContext* context,
                                                        const v1::BroadcastRequest* request,
                                                        v1::BroadcastResponse* response) {
  if (request->channels().empty()) {
    return FinishNow(context, absl::InvalidArgumentError("channels is empty"));
  }
  // The tenant applies to every channel: a bad one fails the call.
  absl::Status tenant = ValidateTenantField(request->tenant());
  if (!tenant.ok()) return FinishNow(context, tenant);
  // Checked once, and a bad document fails every channel the same way: one
  // JSON document suits every namespace, other bytes only binary_data ones,
  // so the first channel whose namespace takes JSON only refuses them for
  // all. Bad channel names fail on their own; an unknown namespace does not
  // decide (the hub refuses its channel).
  absl::Status data_status = ValidateData(request->data());
  if (!data_status.ok() && request->data().size() <= options_.max_payload_bytes) {
    data_status = absl::OkStatus();
    std::shared_ptr<const HubConfig> config = hub_->config();
    for (const std::string& channel : request->channels()) {
      if (!ValidateChannelName(channel).ok()) continue;
      const NamespaceTable::Namespace* ns = config->namespaces->Find(channel);
      if (ns == nullptr) continue;
      data_status =
          ValidateChannelData(channel, ns->options, request->data(), options_.max_payload_bytes);
      if (!data_status.ok()) break;
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // One result per channel, filled as each publish completes; the call
  // finishes with the last one.
  for (const std::string& channel : request->channels()) {
    response->add_results()->set_channel(channel);
  }
  auto remaining = std::make_shared<std::atomic<int>>(request->channels_size());
  for (int i = 0; i < request->channels_size(); ++i) {
    auto fill = [reactor, response, remaining, i](absl::StatusOr<StreamPosition> position) {
      v1::BroadcastResult* result = response->mutable_results(i);
      if (!position.ok()) {
        result->set_error_code(static_cast<int32_t>(position.status().code()));
        result->set_error_message(std::string(position.status().message()));
      } else {
        result->set_offset(position->offset);
        result->set_epoch(std::move(position->epoch));
      }
      if (remaining->fetch_sub(1) == 1) reactor->Finish(grpc::Status::OK);
    };
    absl::StatusOr<std::string> key = ChannelKeyFor(request->tenant(), request->channels(i));
    if (!key.ok()) {
      hub_->CountRefusal(request->channels(i), key.status());
      fill(key.status());
    } else if (!data_status.ok()) {
      hub_->CountRefusal(*key, data_status);
      fill(data_status);
    } else {
      hub_->Publish(*key, request->data(), /*idempotency_key=*/"", /*info=*/nullptr,
                    std::move(fill));
    }
  }
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::Stats(grpc::CallbackServerContext* context,
                                                    const v1::StatsRequest* request,
                                                    v1::StatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The other replicas answer within a second or count as missing.
  hub_->Stats(request->top_channels(), absl::Now() + absl::Seconds(1),
              [reactor, response](v1::StatsResponse stats) {
                *response = std::move(stats);
                reactor->Finish(grpc::Status::OK);
              });
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::Presence(grpc::CallbackServerContext* context,
                                                       const v1::PresenceRequest* request,
                                                       v1::PresenceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ReadPresence(hub_, *request, response,
               [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::PresenceStats(grpc::CallbackServerContext* context,
                                                            const v1::PresenceStatsRequest* request,
                                                            v1::PresenceStatsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  ReadPresenceStats(hub_, *request, response,
                    [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); });
  return reactor;
}

grpc::ServerUnaryReactor* ControlServiceImpl::Subscribe(grpc::CallbackServerContext* context,
                                                        const v1::SubscribeRequest* request,
                                                        v1::SubscribeResponse* response) {
  absl::Status valid = NeedUserOrClient(request->user(), request->client());
  absl::StatusOr<std::string> key = ChannelKeyFor(request->tenant(), request->channel());
  if (valid.ok()) valid = key.status();
  if (valid.ok()) valid = hub_->CheckNamespace(*key);
  if (!valid.ok()) return FinishNow(context, valid);
  edge::v1::EdgeCommand command;
  *command.mutable_subscribe() = *request;
  return ForwardToEdges(hub_, context, CommandDeadline(context), std::move(command), response,
                        [](const CommandOutcome& outcome, v1::SubscribeResponse* out) {
                          uint64_t connections = 0;
                          absl::Status status = SumConnections(outcome, &connections);
                          out->set_connections(connections);
                          out->set_edges_missing(outcome.missing);
                          return status;
                        });
}

grpc::ServerUnaryReactor* ControlServiceImpl::Unsubscribe(grpc::CallbackServerContext* context,
                                                          const v1::UnsubscribeRequest* request,
                                                          v1::UnsubscribeResponse* response) {
  absl::Status valid = NeedUserOrClient(request->user(), request->client());
  absl::StatusOr<std::string> key = ChannelKeyFor(request->tenant(), request->channel());
  if (valid.ok()) valid = key.status();
  if (!valid.ok()) return FinishNow(context, valid);
  edge::v1::EdgeCommand command;
  *command.mutable_unsubscribe() = *request;
  return ForwardToEdges(hub_, context, CommandDeadline(context), std::move(command), response,
                        [](const CommandOutcome& outcome, v1::UnsubscribeResponse* out) {
                          uint64_t connections = 0;
                          absl::Status status = SumConnections(outcome, &connections);
                          out->set_connections(connections);
                          out->set_edges_missing(outcome.missing);
                          return status;
                        });
}

grpc::ServerUnaryReactor* ControlServiceImpl::Disconnect(grpc::CallbackServerContext* context,
                                                         const v1::DisconnectRequest* request,
                                                         v1::DisconnectResponse* response) {
  absl::Status valid = NeedUserOrClient(request->user(), request->client());
  if (valid.ok()) valid = ValidateTenantField(request->tenant());
  if (valid.ok() && request->code() != 0 && (request->code() < 3000 || request->code() > 4999)) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("code must be 0 or within 3000-4999, not ", request->code()));
  }
  if (valid.ok() && request->reason().size() > kMaxReasonBytes) {
    valid = absl::InvalidArgumentError(absl::StrCat("reason is ", request->reason().size(),
                                                    " bytes, longer than the maximum of ",
                                                    kMaxReasonBytes));
  }
  if (!valid.ok()) return FinishNow(context, valid);
  // Forwarded as is: the edge picks the default code and reason.
  edge::v1::EdgeCommand command;
  *command.mutable_disconnect() = *request;
  return ForwardToEdges(hub_, context, CommandDeadline(context), std::move(command), response,
                        [](const CommandOutcome& outcome, v1::DisconnectResponse* out) {
                          uint64_t connections = 0;
                          absl::Status status = SumConnections(outcome, &connections);
                          out->set_connections(connections);
                          out->set_edges_missing(outcome.missing);
                          return status;
                        });
}

grpc::ServerUnaryReactor* ControlServiceImpl::Refresh(grpc::CallbackServerContext* context,
                                                      const v1::RefreshRequest* request,
                                                      v1::RefreshResponse* response) {
  absl::Status valid = NeedUserOrClient(request->user(), request->client());
  if (valid.ok()) valid = ValidateTenantField(request->tenant());
  if (valid.ok() && request->expire_at_unix() < 0) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("expire_at_unix is negative: ", request->expire_at_unix()));
  }
  if (!valid.ok()) return FinishNow(context, valid);
  edge::v1::EdgeCommand command;
  *command.mutable_refresh() = *request;
  return ForwardToEdges(hub_, context, CommandDeadline(context), std::move(command), response,
                        [](const CommandOutcome& outcome, v1::RefreshResponse* out) {
                          uint64_t connections = 0;
                          absl::Status status = SumConnections(outcome, &connections);
                          out->set_connections(connections);
                          out->set_edges_missing(outcome.missing);
                          return status;
                        });
}

grpc::ServerUnaryReactor* ControlServiceImpl::Connections(grpc::CallbackServerContext* context,
                                                          const v1::ConnectionsRequest* request,
                                                          v1::ConnectionsResponse* response) {
  absl::Status valid = ValidateTenantField(request->tenant());
  if (valid.ok() && !request->channel().empty()) valid = ValidateChannelName(request->channel());
  absl::StatusOr<size_t> page_size =
      PageSizeFor(request->page_size(), kConnectionsDefaultPage, kConnectionsMaxPage);
  if (valid.ok()) valid = page_size.status();
  if (!valid.ok()) return FinishNow(context, valid);
  edge::v1::EdgeCommand command;
  *command.mutable_connections() = *request;
  command.mutable_connections()->set_page_size(static_cast<int32_t>(*page_size));
  return ForwardToEdges(
      hub_, context, CommandDeadline(context), std::move(command), response,
      [limit = *page_size, token = request->page_token()](const CommandOutcome& outcome,
                                                          v1::ConnectionsResponse* out) {
        absl::Status status = MergeErrors(outcome);
        out->set_edges_missing(outcome.missing);
        if (!status.ok()) return status;
        std::vector<v1::ConnectionInfo> merged;
        bool more = false;
        for (const CommandOutcome::Answer& answer : outcome.answers) {
          if (answer.result.error_code() != 0) continue;
          // An edge with a full page may hold more after its last one.
          if (static_cast<size_t>(answer.result.connection_list_size()) >= limit) more = true;
          for (const v1::ConnectionInfo& connection : answer.result.connection_list()) {
            if (!token.empty() && connection.client() <= token) continue;
            merged.push_back(connection);
            if (merged.back().edge_id().empty()) merged.back().set_edge_id(answer.edge_id);
          }
        }
        std::sort(merged.begin(), merged.end(),
                  [](const auto& a, const auto& b) { return a.client() < b.client(); });
        if (merged.size() > limit) {
          merged.resize(limit);
          more = true;
        }
        for (v1::ConnectionInfo& connection : merged) {
          *out->add_connections() = std::move(connection);
        }
        if (more && out->connections_size() > 0) {
          out->set_next_page_token(out->connections(out->connections_size() - 1).client());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ControlServiceImpl::Channels(grpc::CallbackServerContext* context,
                                                       const v1::ChannelsRequest* request,
                                                       v1::ChannelsResponse* response) {
  absl::Status valid = ValidateTenantField(request->tenant());
  // A prefix of a valid name is itself made of valid bytes.
  if (valid.ok() && !request->prefix().empty()) valid = ValidateChannelName(request->prefix());
  absl::StatusOr<size_t> page_size =
      PageSizeFor(request->page_size(), kChannelsDefaultPage, kChannelsMaxPage);
  if (valid.ok()) valid = page_size.status();
  if (!valid.ok()) return FinishNow(context, valid);
  edge::v1::EdgeCommand command;
  *command.mutable_channels() = *request;
  command.mutable_channels()->set_page_size(static_cast<int32_t>(*page_size));
  return ForwardToEdges(
      hub_, context, CommandDeadline(context), std::move(command), response,
      [limit = *page_size, tenant = request->tenant(), prefix = request->prefix(),
       token = request->page_token()](const CommandOutcome& outcome, v1::ChannelsResponse* out) {
        absl::Status status = MergeErrors(outcome);
        out->set_edges_missing(outcome.missing);
        if (!status.ok()) return status;
        // Name -> subscribers summed over edges, ordered by name.
        std::map<std::string, uint64_t> counts;
        bool more = false;
        for (const CommandOutcome::Answer& answer : outcome.answers) {
          if (answer.result.error_code() != 0) continue;
          if (static_cast<size_t>(answer.result.channels_size()) >= limit) more = true;
          for (const v1::ChannelSubscribers& channel : answer.result.channels()) {
            // Edges may answer with names or keys; only this tenant's count.
            ChannelKeyParts parts = SplitChannelKey(channel.channel());
            if (!parts.tenant.empty() && parts.tenant != tenant) continue;
            if (!absl::StartsWith(AsAbsl(parts.channel), prefix)) continue;
            if (!token.empty() && parts.channel <= token) continue;
            counts[std::string(parts.channel)] += channel.subscribers();
          }
        }
        if (counts.size() > limit) more = true;
        for (const auto& [name, subscribers] : counts) {
          if (static_cast<size_t>(out->channels_size()) == limit) break;
          v1::ChannelSubscribers* entry = out->add_channels();
          entry->set_channel(name);
          entry->set_subscribers(subscribers);
          entry->set_tenant(tenant);
        }
        if (more && out->channels_size() > 0) {
          out->set_next_page_token(out->channels(out->channels_size() - 1).channel());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* ControlServiceImpl::Info(grpc::CallbackServerContext* context,
                                                   const v1::InfoRequest* request,
                                                   v1::InfoResponse* response) {
  v1::NodeInfo* self = response->mutable_control();
  self->set_id("control");
  self->set_kind("control");
  self->set_version(options_.version);
  self->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_at_));
  HubCounts counts = hub_->Counts();
  self->set_connections(counts.edges);
  self->set_subscriptions(counts.channels_tracked);
  self->set_rss_bytes(ResidentMemoryBytes());
  {
    absl::MutexLock lock(&address_mu_);
    self->set_address(address_);
  }
  edge::v1::EdgeCommand command;
  *command.mutable_info() = *request;
  return ForwardToEdges(hub_, context, CommandDeadline(context), std::move(command), response,
                        [](const CommandOutcome& outcome, v1::InfoResponse* out) {
                          out->set_edges_missing(outcome.missing);
                          for (const CommandOutcome::Answer& answer : outcome.answers) {
                            absl::Status status = EdgeError(answer);
                            if (!status.ok()) {
                              WH_LOG(WARNING) << "info: " << status.message();
                              continue;
                            }
                            v1::NodeInfo* edge = out->add_edges();
                            *edge = answer.result.info();
                            if (edge->id().empty()) edge->set_id(answer.edge_id);
                            if (edge->kind().empty()) edge->set_kind("edge");
                          }
                          return absl::OkStatus();
                        });
}

}  // namespace wirehub::control

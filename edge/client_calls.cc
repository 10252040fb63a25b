#include "edge/client_calls.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/channel_name.h"
#include "edge/channel_authorizer.h"
#include "edge/client_codec.h"
#include "edge/subscriptions.h"

namespace wirehub::edge {
namespace {

std::string InternalError(WireFormat format, uint32_t id) {
  return EncodeErrorReply(format, id, kErrorInternal, "internal server error", true);
}

}  // namespace

bool ClientCalls::BeginCall(ClientSession* session, const Command& command, CommandMethod method,
                            ReplySequencer::Ticket* ticket) {
  if (link_ == nullptr) {
    metrics_->CountCommand(method, CommandOutcome::kError);
    sessions_->SendText(session, EncodeErrorReply(session->format, command.id, kErrorNotAvailable,
                                                  "not available", false));
    return false;
  }
  if (!sessions_->TryAcquireCall(session)) {
    metrics_->CountCommand(method, CommandOutcome::kRefused);
    sessions_->SendText(session,
                        EncodeErrorReply(session->format, command.id, kErrorTooManyRequests,
                                         "too many requests", true));
    return false;
  }
  *ticket = sessions_->Reserve(session);
  return true;
}

template <typename Response>
ControlApi::Callback<Response> ClientCalls::ToLoop(
    ClientSession* session, std::function<void(ClientSession*, absl::StatusOr<Response>)> on_loop) {
  return [this, id = session->id, on_loop = std::move(on_loop)](absl::StatusOr<Response> answer) {
    auto shared = std::make_shared<absl::StatusOr<Response>>(std::move(answer));
    transport_->Post([this, id, on_loop, shared] {
      sessions_->ReleaseCall(id);
      ClientSession* target = sessions_->Find(id);
      if (target != nullptr) on_loop(target, std::move(*shared));
    });
  };
}

void ClientCalls::HandleHistory(ClientSession* session, const Command& command) {
  const config::v1::NamespaceOptions* options = namespaces_->Find(command.channel);
  bool subscribed = session->channels.contains(command.channel);
  if (options == nullptr || !ChannelAuthorizer::CanReadHistory(*options, subscribed)) {
    // Subscribers of a namespace with history but without the permission
    // are told "not available" only when there is no history at all; any
    // other refusal is 103 and says nothing about the channel.
    bool no_history = options != nullptr && subscribed && options->history_size() == 0;
    metrics_->CountCommand(CommandMethod::kHistory, CommandOutcome::kError);
    sessions_->SendText(
        session, no_history ? EncodeErrorReply(session->format, command.id, kErrorNotAvailable,
                                               "not available", false)
                            : EncodeErrorReply(session->format, command.id, kErrorPermissionDenied,
                                               "permission denied", false));
    return;
  }
  ReplySequencer::Ticket ticket;
  if (!BeginCall(session, command, CommandMethod::kHistory, &ticket)) return;
  control::v1::HistoryRequest request;
  request.set_tenant(session->tenant);
  request.set_channel(command.channel);
  request.set_limit(static_cast<int32_t>(std::clamp<int64_t>(command.limit, -1, INT32_MAX)));
  request.set_reverse(command.reverse);
  // The reply must fit the client's queue; a client pages with `since`.
  request.set_max_bytes(
      static_cast<uint32_t>(std::min<size_t>(options_.client_queue_max_bytes / 2, UINT32_MAX)));
  if (command.has_since) {
    request.mutable_since()->set_offset(command.offset);
    request.mutable_since()->set_epoch(command.epoch);
  }
  uint32_t command_id = command.id;
  link_->FetchHistory(
      request, options_.history_timeout,
      ToLoop<control::v1::HistoryResponse>(
          session, [this, ticket, command_id](ClientSession* target,
                                              absl::StatusOr<control::v1::HistoryResponse> answer) {
            metrics_->CountCommand(CommandMethod::kHistory,
                                   answer.ok() ? CommandOutcome::kOk : CommandOutcome::kError);
            if (absl::IsFailedPrecondition(answer.status())) {
              sessions_->AnswerText(
                  target, ticket,
                  EncodeErrorReply(target->format, command_id, kErrorUnrecoverablePosition,
                                   "unrecoverable position", false));
              return;
            }
            if (!answer.ok()) {
              sessions_->AnswerText(target, ticket, InternalError(target->format, command_id));
              return;
            }
            std::vector<ClientInfoView> infos;
            infos.reserve(answer->publications_size());
            std::vector<RecoveredPublication> publications;
            publications.reserve(answer->publications_size());
            for (const auto& publication : answer->publications()) {
              RecoveredPublication recovered{publication.offset(), publication.data()};
              if (publication.has_info()) {
                infos.push_back(ViewOf(publication.info()));
                recovered.info = &infos.back();
              }
              publications.push_back(recovered);
            }
            sessions_->AnswerText(target, ticket,
                                  EncodeHistoryReply(target->format, command_id, publications,
                                                     answer->epoch(), answer->offset()));
          }));
}

void ClientCalls::HandlePublish(ClientSession* session, const Command& command) {
  absl::Status valid = ValidateChannelName(command.channel);
  if (!valid.ok()) {
    metrics_->CountCommand(CommandMethod::kPublish, CommandOutcome::kError);
    sessions_->SendText(session,
                        EncodeErrorReply(session->format, command.id, kErrorBadRequest,
                                         absl::StrCat("bad request: ", valid.message()), false));
    return;
  }
  const config::v1::NamespaceOptions* options = namespaces_->Find(command.channel);
  bool subscribed = session->channels.contains(command.channel);
  if (options == nullptr || !ChannelAuthorizer::CanPublish(*options, subscribed)) {
    metrics_->CountCommand(CommandMethod::kPublish, CommandOutcome::kError);
    sessions_->SendText(session,
                        EncodeErrorReply(session->format, command.id, kErrorPermissionDenied,
                                         "permission denied", false));
    return;
  }
  absl::Time now = absl::Now();
  if (session->publishing == nullptr) {
    session->publishing = std::make_unique<ClientSession::Publishing>();
    session->publishing->bucket.Fill(options_.client_publish_burst, now);
  }
  ClientSession::Publishing& publishing = *session->publishing;
  if (!publishing.bucket.Take(options_.client_publish_rate, options_.client_publish_burst, now)) {
    metrics_->CountCommand(CommandMethod::kPublish, CommandOutcome::kRefused);
    sessions_->SendText(session,
                        EncodeErrorReply(session->format, command.id, kErrorTooManyRequests,
                                         "too many requests", true));
    return;
  }
  ReplySequencer::Ticket ticket;
  if (!BeginCall(session, command, CommandMethod::kPublish, &ticket)) return;
  auto request = std::make_shared<edge::v1::ClientPublishRequest>();
  request->set_channel(Subscriptions::KeyOf(*session, command.channel));
  request->set_data(command.data_json);
  *request->mutable_info() = Subscriptions::InfoOf(*session, command.channel);
  publishing.queue.push_back(
      ClientSession::Publishing::Queued{command.id, ticket, std::move(request)});
  SendNextPublish(session);
}

void ClientCalls::SendNextPublish(ClientSession* session) {
  // Only sessions that published get here, and they keep their state.
  ClientSession::Publishing& publishing = *session->publishing;
  if (publishing.in_flight || publishing.queue.empty()) return;
  publishing.in_flight = true;
  const ClientSession::Publishing::Queued& next = publishing.queue.front();
  link_->Publish(
      *next.request, options_.control_call_timeout,
      ToLoop<control::v1::PublishResponse>(
          session, [this, command_id = next.command_id, ticket = next.ticket](
                       ClientSession* target, absl::StatusOr<control::v1::PublishResponse> answer) {
            ClientSession::Publishing& state = *target->publishing;
            state.in_flight = false;
            if (!state.queue.empty()) state.queue.pop_front();
            metrics_->CountCommand(CommandMethod::kPublish,
                                   answer.ok() ? CommandOutcome::kOk : CommandOutcome::kError);
            if (answer.ok()) {
              sessions_->AnswerText(target, ticket,
                                    EncodeEmptyResult(target->format, command_id, "publish"));
            } else if (absl::IsInvalidArgument(answer.status())) {
              sessions_->AnswerText(
                  target, ticket,
                  EncodeErrorReply(target->format, command_id, kErrorBadRequest,
                                   absl::StrCat("bad request: ", answer.status().message()),
                                   false));
            } else {
              sessions_->AnswerText(target, ticket, InternalError(target->format, command_id));
            }
            SendNextPublish(target);
          }));
}

void ClientCalls::HandlePresence(ClientSession* session, const Command& command) {
  const CommandMethod method = command.kind == Command::Kind::kPresenceStats
                                   ? CommandMethod::kPresenceStats
                                   : CommandMethod::kPresence;
  const config::v1::NamespaceOptions* options = namespaces_->Find(command.channel);
  bool subscribed = session->channels.contains(command.channel);
  if (options == nullptr || !ChannelAuthorizer::CanReadPresence(*options, subscribed)) {
    metrics_->CountCommand(method, CommandOutcome::kError);
    sessions_->SendText(session,
                        EncodeErrorReply(session->format, command.id, kErrorPermissionDenied,
                                         "permission denied", false));
    return;
  }
  ReplySequencer::Ticket ticket;
  if (!BeginCall(session, command, method, &ticket)) return;
  uint32_t command_id = command.id;
  if (command.kind == Command::Kind::kPresenceStats) {
    control::v1::PresenceStatsRequest request;
    request.set_tenant(session->tenant);
    request.set_channel(command.channel);
    link_->FetchPresenceStats(
        request, options_.control_call_timeout,
        ToLoop<control::v1::PresenceStatsResponse>(
            session,
            [this, ticket, command_id](ClientSession* target,
                                       absl::StatusOr<control::v1::PresenceStatsResponse> answer) {
              metrics_->CountCommand(CommandMethod::kPresenceStats,
                                     answer.ok() ? CommandOutcome::kOk : CommandOutcome::kError);
              sessions_->AnswerText(
                  target, ticket,
                  answer.ok() ? EncodePresenceStatsReply(target->format, command_id,
                                                         answer->num_clients(), answer->num_users())
                              : InternalError(target->format, command_id));
            }));
    return;
  }
  control::v1::PresenceRequest request;
  request.set_tenant(session->tenant);
  request.set_channel(command.channel);
  request.set_page_size(10000);  // One page: the most control returns at once.
  link_->FetchPresence(
      request, options_.control_call_timeout,
      ToLoop<control::v1::PresenceResponse>(
          session,
          [this, ticket, command_id](ClientSession* target,
                                     absl::StatusOr<control::v1::PresenceResponse> answer) {
            metrics_->CountCommand(CommandMethod::kPresence,
                                   answer.ok() ? CommandOutcome::kOk : CommandOutcome::kError);
            if (!answer.ok()) {
              sessions_->AnswerText(target, ticket, InternalError(target->format, command_id));
              return;
            }
            std::vector<ClientInfoView> views;
            views.reserve(answer->clients_size());
            for (const control::v1::ClientInfo& info : answer->clients()) {
              views.push_back(ViewOf(info));
            }
            sessions_->AnswerText(target, ticket,
                                  EncodePresenceReply(target->format, command_id, views));
          }));
}

}  // namespace wirehub::edge

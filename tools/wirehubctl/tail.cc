#include "tools/wirehubctl/tail.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "tools/wirehubctl/server_message_parser.h"
#include "tools/wirehubctl/ws_client.h"

namespace wirehub::ctl {
namespace {

constexpr uint64_t kConnectId = 1;
constexpr uint64_t kSubscribeId = 2;
// Bound for answering a ping and for the closing handshake.
constexpr absl::Duration kShortWrite = absl::Seconds(5);
constexpr absl::Duration kCloseTimeout = absl::Seconds(1);

// "CODE reason", or "CODE" when there is no reason.
std::string CodeAndReason(uint64_t code, std::string_view reason) {
  if (reason.empty()) return absl::StrCat(code);
  return absl::StrCat(code, " ", AsAbsl(reason));
}

std::string ConnectCommand(const TailOptions& options) {
  std::string command = absl::StrCat("{\"id\":", kConnectId, ",\"connect\":{\"token\":");
  AppendJsonString(options.token, &command);
  command.append(",\"name\":\"wirehubctl\"}}");
  return command;
}

std::string SubscribeCommand(const TailOptions& options) {
  std::string command = absl::StrCat("{\"id\":", kSubscribeId, ",\"subscribe\":{\"channel\":");
  AppendJsonString(options.channel, &command);
  if (!options.sub_token.empty()) {
    command.append(",\"token\":");
    AppendJsonString(options.sub_token, &command);
  }
  if (options.recover) {
    command.append(",\"recover\":true,\"epoch\":");
    AppendJsonString(options.epoch, &command);
    absl::StrAppend(&command, ",\"offset\":", options.offset);
  }
  command.append("}}");
  return command;
}

// One tail from connect to its end. Thread-compatible.
class Tail {
 public:
  Tail(const TailOptions& options, std::ostream& out, std::ostream& err)
      : options_(options), out_(out), err_(err) {}

  absl::Status Run() {
    start_ = absl::Now();
    end_ = options_.timeout == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                        : start_ + options_.timeout;
    setup_end_ = std::min(end_, start_ + options_.setup_timeout);
    WebSocketClient::Options ws_options;
    ws_options.tls = options_.tls;
    absl::StatusOr<std::unique_ptr<WebSocketClient>> ws =
        WebSocketClient::Connect(options_.url, setup_end_, ws_options);
    if (!ws.ok()) {
      if (absl::IsDeadlineExceeded(ws.status())) return TimedOut();
      return absl::UnavailableError(absl::StrCat("error: ", ws.status().message()));
    }
    ws_ = *std::move(ws);
    if (absl::Status sent = ws_->SendText(ConnectCommand(options_), setup_end_); !sent.ok()) {
      return absl::UnavailableError(absl::StrCat("error: send connect: ", sent.message()));
    }

    while (true) {
      absl::StatusOr<WebSocketMessage> message =
          ws_->Receive(stage_ == Stage::kStreaming ? end_ : setup_end_);
      if (!message.ok()) {
        if (absl::IsDeadlineExceeded(message.status())) return TimedOut();
        return absl::UnavailableError(absl::StrCat("error: ", message.status().message()));
      }
      if (message->type == WebSocketMessage::Type::kClose) {
        return absl::UnavailableError(
            absl::StrCat("closed: ", CodeAndReason(message->close_code, message->payload)));
      }
      if (message->type == WebSocketMessage::Type::kBinary) {
        return Fail(absl::DataLossError("error: the server sent a binary message"));
      }
      absl::StatusOr<std::vector<std::string_view>> parts = SplitJsonMessages(message->payload);
      if (!parts.ok()) return Fail(Prefixed(parts.status()));
      for (std::string_view part : *parts) {
        absl::StatusOr<ServerMessage> parsed = parser_.Parse(part);
        if (!parsed.ok()) return Fail(Prefixed(parsed.status()));
        absl::Status handled = Handle(*parsed);
        if (!handled.ok()) return Fail(handled);
        if (Done()) {
          (void)ws_->Close(kWebSocketCloseNormal, "", absl::Now() + kCloseTimeout);
          return absl::OkStatus();
        }
      }
    }
  }

 private:
  enum class Stage { kConnecting, kSubscribing, kStreaming };

  static absl::Status Prefixed(const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat("error: ", status.message()));
  }

  bool Done() const { return options_.count > 0 && printed_ >= options_.count; }

  // Leaves politely (the server sees a close, not a reset) and returns `error`.
  absl::Status Fail(absl::Status error) {
    (void)ws_->Close(kWebSocketCloseNormal, "", absl::Now() + kCloseTimeout);
    return error;
  }

  absl::Status TimedOut() {
    if (ws_ != nullptr) (void)ws_->Close(kWebSocketCloseNormal, "", absl::Now() + kCloseTimeout);
    const bool limit_reached = absl::Now() >= end_;
    if (stage_ != Stage::kStreaming && !limit_reached) {
      return absl::DeadlineExceededError(
          absl::StrCat("error: no ", stage_ == Stage::kSubscribing ? "subscribe" : "connect",
                       " answer within ", absl::FormatDuration(options_.setup_timeout)));
    }
    if (options_.count == 0 && printed_ > 0) return absl::OkStatus();
    std::string what = options_.count > 0
                           ? absl::StrCat(printed_, " of ", options_.count, " publication(s)")
                           : std::string("no publication");
    return absl::DeadlineExceededError(absl::StrCat(
        "error: timed out after ", absl::FormatDuration(options_.timeout), " with ", what));
  }

  void Print(const ReceivedPublication& publication) {
    if (options_.print_offsets) {
      if (publication.offset.has_value()) {
        out_ << *publication.offset << " ";
      } else {
        out_ << "- ";
      }
    }
    std::string data = publication.data;
    std::replace_if(
        data.begin(), data.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
    out_ << data << std::endl;
    ++printed_;
  }

  absl::Status Handle(const ServerMessage& message) {
    switch (message.kind) {
      case ServerMessage::Kind::kPing:
        return ws_->SendText("{}", absl::Now() + kShortWrite);
      case ServerMessage::Kind::kReply:
        return HandleReply(message);
      case ServerMessage::Kind::kPush:
        return HandlePush(message);
      case ServerMessage::Kind::kOther:
        return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  absl::Status HandleReply(const ServerMessage& reply) {
    if (reply.id == kConnectId && stage_ == Stage::kConnecting) {
      if (reply.error.has_value()) {
        return absl::PermissionDeniedError(absl::StrCat(
            "error: connect: ", CodeAndReason(reply.error->code, reply.error->message)));
      }
      stage_ = Stage::kSubscribing;
      if (absl::Status sent = ws_->SendText(SubscribeCommand(options_), setup_end_); !sent.ok()) {
        return absl::UnavailableError(absl::StrCat("error: send subscribe: ", sent.message()));
      }
      return absl::OkStatus();
    }
    if (reply.id == kSubscribeId && stage_ == Stage::kSubscribing) {
      if (reply.error.has_value()) {
        return absl::PermissionDeniedError(absl::StrCat(
            "error: subscribe: ", CodeAndReason(reply.error->code, reply.error->message)));
      }
      stage_ = Stage::kStreaming;
      if (reply.was_recovering && !reply.recovered) {
        err_ << "note: not recovered; the stream is at epoch=" << reply.epoch
             << " offset=" << reply.offset << std::endl;
      }
      for (const ReceivedPublication& publication : reply.publications) {
        if (Done()) break;
        Print(publication);
      }
      return absl::OkStatus();
    }
    return absl::OkStatus();  // Not ours.
  }

  absl::Status HandlePush(const ServerMessage& push) {
    using PushType = ServerMessage::PushType;
    if (push.push_type == PushType::kDisconnect) {
      return absl::UnavailableError(
          absl::StrCat("closed: ", CodeAndReason(push.code, push.reason)));
    }
    if (push.channel != options_.channel) return absl::OkStatus();
    if (push.push_type == PushType::kPublication) {
      for (const ReceivedPublication& publication : push.publications) Print(publication);
    } else if (push.push_type == PushType::kUnsubscribe) {
      return absl::UnavailableError(
          absl::StrCat("unsubscribed: ", CodeAndReason(push.code, push.reason)));
    }
    return absl::OkStatus();
  }

  const TailOptions& options_;
  std::ostream& out_;
  std::ostream& err_;
  ServerMessageParser parser_;
  std::unique_ptr<WebSocketClient> ws_;
  Stage stage_ = Stage::kConnecting;
  uint64_t printed_ = 0;
  absl::Time start_;
  absl::Time end_;
  absl::Time setup_end_;
};

}  // namespace

absl::Status TailChannel(const TailOptions& options, std::ostream& out, std::ostream& err) {
  return Tail(options, out, err).Run();
}

}  // namespace wirehub::ctl

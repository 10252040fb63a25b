#include "edge/protobuf_codec.h"

#include <climits>
#include <string>
#include <utility>

#include "wirehub/client/v1/client.pb.h"

namespace wirehub::edge {
namespace {

namespace proto = ::wirehub::client::v1;

// A varint of a 64-bit value takes at most 10 bytes; the 10th holds only
// bit 63.
constexpr size_t kMaxVarintBytes = 10;

// Fills `out` from the one method `in` sets. `in` sets exactly one.
void ReadMethod(const proto::Command& in, Command* out) {
  if (in.has_connect()) {
    const proto::ConnectRequest& connect = in.connect();
    out->kind = Command::Kind::kConnect;
    out->method = "connect";
    out->token = connect.token();
    out->has_token = !out->token.empty();
    if (static_cast<size_t>(connect.subs_size()) > kMaxConnectSubs) {
      out->kind = Command::Kind::kInvalidParams;
      out->problem = "too many subs";
      return;
    }
    out->subs.reserve(connect.subs_size());
    for (const proto::ConnectSubEntry& entry : connect.subs()) {
      SubscribeSpec& spec = out->subs.emplace_back();
      spec.channel = entry.key();
      spec.recover = entry.value().recover();
      spec.epoch = entry.value().epoch();
      spec.offset = entry.value().offset();
    }
  } else if (in.has_subscribe()) {
    const proto::SubscribeRequest& subscribe = in.subscribe();
    out->kind = Command::Kind::kSubscribe;
    out->method = "subscribe";
    out->channel = subscribe.channel();
    out->recover = subscribe.recover();
    out->epoch = subscribe.epoch();
    out->offset = subscribe.offset();
    out->token = subscribe.token();
    out->has_token = !out->token.empty();
  } else if (in.has_unsubscribe()) {
    out->kind = Command::Kind::kUnsubscribe;
    out->method = "unsubscribe";
    out->channel = in.unsubscribe().channel();
  } else if (in.has_publish()) {
    out->kind = Command::Kind::kPublish;
    out->method = "publish";
    out->channel = in.publish().channel();
    // Absent and empty are the same on the wire; JSON has no empty value.
    if (in.publish().data().empty()) {
      out->kind = Command::Kind::kInvalidParams;
      out->problem = "data is required";
      return;
    }
    out->data_json = in.publish().data();
  } else if (in.has_presence()) {
    out->kind = Command::Kind::kPresence;
    out->method = "presence";
    out->channel = in.presence().channel();
  } else if (in.has_presence_stats()) {
    out->kind = Command::Kind::kPresenceStats;
    out->method = "presence_stats";
    out->channel = in.presence_stats().channel();
  } else if (in.has_history()) {
    const proto::HistoryRequest& history = in.history();
    out->kind = Command::Kind::kHistory;
    out->method = "history";
    out->channel = history.channel();
    out->limit = history.limit();
    out->reverse = history.reverse();
    if (history.has_since()) {
      out->has_since = true;
      out->offset = history.since().offset();
      out->epoch = history.since().epoch();
    }
  } else if (in.has_ping()) {
    out->kind = Command::Kind::kPing;
    out->method = "ping";
  } else if (in.has_send()) {
    out->kind = Command::Kind::kNotAvailable;
    out->method = "send";
  } else if (in.has_rpc()) {
    out->kind = Command::Kind::kNotAvailable;
    out->method = "rpc";
  } else if (in.has_refresh()) {
    out->kind = Command::Kind::kRefresh;
    out->method = "refresh";
    out->token = in.refresh().token();
    if (out->token.empty()) {
      out->kind = Command::Kind::kInvalidParams;
      out->problem = "token is required";
      return;
    }
    out->has_token = true;
  } else if (in.has_sub_refresh()) {
    out->kind = Command::Kind::kSubRefresh;
    out->method = "sub_refresh";
    out->channel = in.sub_refresh().channel();
    out->token = in.sub_refresh().token();
    if (out->token.empty()) {
      out->kind = Command::Kind::kInvalidParams;
      out->problem = "token is required";
      return;
    }
    out->has_token = true;
  }
}

// How many method fields `command` sets.
int MethodCount(const proto::Command& command) {
  return command.has_connect() + command.has_subscribe() + command.has_unsubscribe() +
         command.has_publish() + command.has_presence() + command.has_presence_stats() +
         command.has_history() + command.has_ping() + command.has_send() + command.has_rpc() +
         command.has_refresh() + command.has_sub_refresh();
}

}  // namespace

bool ReadVarint(std::string_view data, size_t* pos, uint64_t* value) {
  uint64_t result = 0;
  for (size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (*pos + i >= data.size()) return false;
    const uint64_t byte = static_cast<unsigned char>(data[*pos + i]);
    if (i == kMaxVarintBytes - 1 && byte > 1) return false;  // Past bit 63.
    result |= (byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      *pos += i + 1;
      *value = result;
      return true;
    }
  }
  return false;
}

ProtobufCommandParser::ProtobufCommandParser()
    : command_(std::make_unique<client::v1::Command>()) {}
ProtobufCommandParser::~ProtobufCommandParser() = default;

absl::Status ProtobufCommandParser::Parse(std::string_view message,
                                          std::vector<Command>* commands) {
  commands->clear();
  if (message.empty()) return absl::InvalidArgumentError("message holds no command");
  size_t pos = 0;
  while (pos < message.size()) {
    uint64_t length = 0;
    if (!ReadVarint(message, &pos, &length)) {
      commands->clear();
      return absl::InvalidArgumentError("malformed command length");
    }
    if (length > message.size() - pos || length > INT_MAX) {
      commands->clear();
      return absl::InvalidArgumentError("command length past the end of the message");
    }
    if (!command_->ParseFromArray(message.data() + pos, static_cast<int>(length))) {
      commands->clear();
      return absl::InvalidArgumentError("malformed command");
    }
    pos += length;
    const int methods = MethodCount(*command_);
    if (methods > 1) {
      commands->clear();
      return absl::InvalidArgumentError("command names more than one method");
    }
    // Pongs in a row fold into one: each is a single byte (0x00), and a
    // message of them must not cost a Command apiece.
    if (methods == 0 && command_->id() == 0 && !commands->empty() &&
        commands->back().kind == Command::Kind::kPong) {
      continue;
    }
    Command& command = commands->emplace_back();
    command.id = command_->id();
    if (methods == 0) {
      command.kind = command.id == 0 ? Command::Kind::kPong : Command::Kind::kUnknown;
    } else {
      ReadMethod(*command_, &command);
    }
  }
  return absl::OkStatus();
}

}  // namespace wirehub::edge

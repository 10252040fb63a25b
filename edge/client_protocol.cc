#include "edge/client_protocol.h"

#include <simdjson.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"

namespace wirehub::edge {
namespace {

// Methods the protocol defines but this edge does not serve yet. A request
// for one gets error 108 (not available) rather than 104.
constexpr std::string_view kUnavailableMethods[] = {
    "publish", "presence", "presence_stats", "send", "rpc", "refresh", "sub_refresh",
};

bool IsUnavailableMethod(std::string_view key) {
  for (std::string_view method : kUnavailableMethods) {
    if (key == method) return true;
  }
  return false;
}

// Reads a required string field of a request object.
bool ReadString(simdjson::dom::element request, std::string_view field, std::string* out,
                std::string* problem) {
  simdjson::dom::object object;
  if (request.get_object().get(object) != simdjson::SUCCESS) {
    *problem = "request is not an object";
    return false;
  }
  simdjson::dom::element value;
  if (object[field].get(value) != simdjson::SUCCESS) {
    *problem = absl::StrCat(AsAbsl(field), " is required");
    return false;
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    *problem = absl::StrCat(AsAbsl(field), " must be a string");
    return false;
  }
  out->assign(text);
  return true;
}

absl::Status ParseLine(simdjson::dom::parser& parser, std::string_view line, Command* command) {
  simdjson::dom::element root;
  if (auto error = parser.parse(line.data(), line.size(), true).get(root); error) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: ", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("command is not a JSON object");
  }
  bool has_method = false;
  bool has_unknown = false;
  std::string unknown_key;
  simdjson::dom::element request;
  for (auto field : object) {
    std::string_view key = field.key;
    if (key == "id") {
      uint64_t id = 0;
      if (field.value.get_uint64().get(id) != simdjson::SUCCESS || id > UINT32_MAX) {
        return absl::InvalidArgumentError("id must be an unsigned 32-bit integer");
      }
      command->id = static_cast<uint32_t>(id);
      continue;
    }
    Command::Kind kind;
    if (key == "connect") {
      kind = Command::Kind::kConnect;
    } else if (key == "subscribe") {
      kind = Command::Kind::kSubscribe;
    } else if (key == "unsubscribe") {
      kind = Command::Kind::kUnsubscribe;
    } else if (key == "ping") {
      kind = Command::Kind::kPing;
    } else if (key == "history") {
      kind = Command::Kind::kHistory;
    } else if (IsUnavailableMethod(key)) {
      kind = Command::Kind::kNotAvailable;
    } else {
      has_unknown = true;
      if (unknown_key.empty()) unknown_key.assign(key);
      continue;
    }
    if (has_method) return absl::InvalidArgumentError("command names more than one method");
    has_method = true;
    command->kind = kind;
    command->method.assign(key);
    request = field.value;
  }
  if (!has_method) {
    if (!has_unknown) {
      command->kind = command->id == 0 ? Command::Kind::kPong : Command::Kind::kUnknown;
      return absl::OkStatus();
    }
    if (command->id == 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown command field ", unknown_key));
    }
    command->kind = Command::Kind::kUnknown;
    command->method = unknown_key;
    return absl::OkStatus();
  }
  switch (command->kind) {
    case Command::Kind::kConnect: {
      simdjson::dom::object params;
      if (request.get_object().get(params) != simdjson::SUCCESS) {
        command->kind = Command::Kind::kInvalidParams;
        command->problem = "connect request is not an object";
        break;
      }
      simdjson::dom::element token;
      if (params["token"].get(token) == simdjson::SUCCESS) {
        std::string_view text;
        if (token.get_string().get(text) != simdjson::SUCCESS) {
          command->kind = Command::Kind::kInvalidParams;
          command->problem = "token must be a string";
          break;
        }
        command->token.assign(text);
        command->has_token = !text.empty();
      }
      break;
    }
    case Command::Kind::kSubscribe: {
      if (!ReadString(request, "channel", &command->channel, &command->problem)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      simdjson::dom::object params = request.get_object().value_unsafe();
      simdjson::dom::element value;
      if (params["recover"].get(value) == simdjson::SUCCESS &&
          value.get_bool().get(command->recover) != simdjson::SUCCESS) {
        command->kind = Command::Kind::kInvalidParams;
        command->problem = "recover must be a boolean";
        break;
      }
      std::string_view epoch;
      if (params["epoch"].get(value) == simdjson::SUCCESS) {
        if (value.get_string().get(epoch) != simdjson::SUCCESS) {
          command->kind = Command::Kind::kInvalidParams;
          command->problem = "epoch must be a string";
          break;
        }
        command->epoch.assign(epoch);
      }
      if (params["offset"].get(value) == simdjson::SUCCESS &&
          value.get_uint64().get(command->offset) != simdjson::SUCCESS) {
        command->kind = Command::Kind::kInvalidParams;
        command->problem = "offset must be an unsigned integer";
        break;
      }
      break;
    }
    case Command::Kind::kUnsubscribe:
      if (!ReadString(request, "channel", &command->channel, &command->problem)) {
        command->kind = Command::Kind::kInvalidParams;
      }
      break;
    case Command::Kind::kHistory: {
      if (!ReadString(request, "channel", &command->channel, &command->problem)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      simdjson::dom::object params = request.get_object().value_unsafe();
      simdjson::dom::element value;
      if (params["limit"].get(value) == simdjson::SUCCESS &&
          value.get_int64().get(command->limit) != simdjson::SUCCESS) {
        command->kind = Command::Kind::kInvalidParams;
        command->problem = "limit must be an integer";
        break;
      }
      if (params["reverse"].get(value) == simdjson::SUCCESS &&
          value.get_bool().get(command->reverse) != simdjson::SUCCESS) {
        command->kind = Command::Kind::kInvalidParams;
        command->problem = "reverse must be a boolean";
        break;
      }
      if (params["since"].get(value) == simdjson::SUCCESS) {
        simdjson::dom::object since;
        std::string_view epoch;
        simdjson::dom::element field;
        if (value.get_object().get(since) != simdjson::SUCCESS ||
            (since["offset"].get(field) == simdjson::SUCCESS &&
             field.get_uint64().get(command->offset) != simdjson::SUCCESS) ||
            (since["epoch"].get(field) == simdjson::SUCCESS &&
             field.get_string().get(epoch) != simdjson::SUCCESS)) {
          command->kind = Command::Kind::kInvalidParams;
          command->problem = "since must be {offset, epoch}";
          break;
        }
        command->epoch.assign(epoch);
        command->has_since = true;
      }
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace

CommandParser::CommandParser() : parser_(std::make_unique<simdjson::dom::parser>()) {}
CommandParser::~CommandParser() = default;

absl::Status CommandParser::Parse(std::string_view message, std::vector<Command>* commands) {
  commands->clear();
  for (absl::string_view piece : absl::StrSplit(AsAbsl(message), '\n')) {
    std::string_view line = AsStd(piece);
    // The SDK never sends blank lines; tolerate a trailing newline and CRs.
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    Command command;
    absl::Status status = ParseLine(*parser_, line, &command);
    if (!status.ok()) return status;
    commands->push_back(std::move(command));
  }
  if (commands->empty()) return absl::InvalidArgumentError("message holds no command");
  return absl::OkStatus();
}

std::string EncodeConnectReply(uint32_t id, std::string_view client_id, std::string_view version,
                               int ping_seconds, bool pong) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"connect\":{\"client\":");
  AppendJsonString(client_id, &out);
  out.append(",\"version\":");
  AppendJsonString(version, &out);
  absl::StrAppend(&out, ",\"ping\":", ping_seconds, pong ? ",\"pong\":true}}" : "}}");
  return out;
}

std::string EncodeEmptyResult(uint32_t id, std::string_view method) {
  return absl::StrCat("{\"id\":", id, ",\"", AsAbsl(method), "\":{}}");
}

std::string EncodeSubscribeReply(uint32_t id, const SubscribeResult& result) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"subscribe\":{");
  if (result.recoverable) out.append("\"recoverable\":true,");
  out.append("\"epoch\":");
  AppendJsonString(result.epoch, &out);
  absl::StrAppend(&out, ",\"offset\":", result.offset, ",\"positioned\":true");
  if (result.was_recovering) out.append(",\"was_recovering\":true");
  if (result.recovered) out.append(",\"recovered\":true");
  if (!result.publications.empty()) {
    out.append(",\"publications\":[");
    bool first = true;
    for (const RecoveredPublication& publication : result.publications) {
      if (!first) out.push_back(',');
      first = false;
      out.append("{\"data\":");
      out.append(publication.data_json);
      absl::StrAppend(&out, ",\"offset\":", publication.offset, "}");
    }
    out.push_back(']');
  }
  out.append("}}");
  return out;
}

std::string EncodeHistoryReply(uint32_t id, const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"history\":{\"publications\":[");
  bool first = true;
  for (const RecoveredPublication& publication : publications) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"data\":");
    out.append(publication.data_json);
    absl::StrAppend(&out, ",\"offset\":", publication.offset, "}");
  }
  out.append("],\"epoch\":");
  AppendJsonString(epoch, &out);
  absl::StrAppend(&out, ",\"offset\":", offset, "}}");
  return out;
}

std::string EncodeErrorReply(uint32_t id, int code, std::string_view message, bool temporary) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"error\":{\"code\":", code, ",\"message\":");
  AppendJsonString(message, &out);
  out.append(temporary ? ",\"temporary\":true}}" : "}}");
  return out;
}

std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset) {
  std::string out;
  out.reserve(48 + channel.size() + data_json.size());
  out.append("{\"push\":{\"channel\":");
  AppendJsonString(channel, &out);
  out.append(",\"pub\":{\"data\":");
  out.append(data_json);
  absl::StrAppend(&out, ",\"offset\":", offset, "}}}");
  return out;
}

std::string EncodeUnsubscribePush(std::string_view channel, int code, std::string_view reason) {
  std::string out("{\"push\":{\"channel\":");
  AppendJsonString(channel, &out);
  absl::StrAppend(&out, ",\"unsubscribe\":{\"code\":", code, ",\"reason\":");
  AppendJsonString(reason, &out);
  out.append("}}}");
  return out;
}

}  // namespace wirehub::edge

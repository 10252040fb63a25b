#include "edge/client_protocol.h"

#include <algorithm>

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
constexpr std::string_view kUnavailableMethods[] = {"send", "rpc"};

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

// Reads a required string field that must also be non-empty.
bool ReadNonEmptyString(simdjson::dom::element request, std::string_view field, std::string* out,
                        std::string* problem) {
  if (!ReadString(request, field, out, problem)) return false;
  if (out->empty()) {
    *problem = absl::StrCat(AsAbsl(field), " is required");
    return false;
  }
  return true;
}

// Reads an optional token field into command->token / has_token.
bool ReadOptionalToken(simdjson::dom::object params, Command* command) {
  simdjson::dom::element token;
  if (params["token"].get(token) != simdjson::SUCCESS) return true;
  std::string_view text;
  if (token.get_string().get(text) != simdjson::SUCCESS) {
    command->problem = "token must be a string";
    return false;
  }
  command->token.assign(text);
  command->has_token = !text.empty();
  return true;
}

// Reads connect.subs: {"<channel>":{"recover":bool,"epoch":string,
// "offset":uint64},...}, every inner field optional.
bool ReadConnectSubs(simdjson::dom::element value, Command* command) {
  simdjson::dom::object subs;
  if (value.get_object().get(subs) != simdjson::SUCCESS) {
    command->problem = "subs must be an object";
    return false;
  }
  if (subs.size() > kMaxConnectSubs) {
    command->problem = "too many subs";
    return false;
  }
  for (auto entry : subs) {
    SubscribeSpec spec;
    spec.channel.assign(entry.key);
    simdjson::dom::object params;
    if (entry.value.get_object().get(params) != simdjson::SUCCESS) {
      command->problem = absl::StrCat("subs[", AsAbsl(entry.key), "] must be an object");
      return false;
    }
    simdjson::dom::element field;
    if (params["recover"].get(field) == simdjson::SUCCESS &&
        field.get_bool().get(spec.recover) != simdjson::SUCCESS) {
      command->problem = absl::StrCat("subs[", AsAbsl(entry.key), "].recover must be a boolean");
      return false;
    }
    if (params["epoch"].get(field) == simdjson::SUCCESS) {
      std::string_view epoch;
      if (field.get_string().get(epoch) != simdjson::SUCCESS) {
        command->problem = absl::StrCat("subs[", AsAbsl(entry.key), "].epoch must be a string");
        return false;
      }
      spec.epoch.assign(epoch);
    }
    if (params["offset"].get(field) == simdjson::SUCCESS &&
        field.get_uint64().get(spec.offset) != simdjson::SUCCESS) {
      command->problem =
          absl::StrCat("subs[", AsAbsl(entry.key), "].offset must be an unsigned integer");
      return false;
    }
    command->subs.push_back(std::move(spec));
  }
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
    } else if (key == "publish") {
      kind = Command::Kind::kPublish;
    } else if (key == "presence") {
      kind = Command::Kind::kPresence;
    } else if (key == "presence_stats") {
      kind = Command::Kind::kPresenceStats;
    } else if (key == "refresh") {
      kind = Command::Kind::kRefresh;
    } else if (key == "sub_refresh") {
      kind = Command::Kind::kSubRefresh;
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
      if (!ReadOptionalToken(params, command)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      simdjson::dom::element subs;
      if (params["subs"].get(subs) == simdjson::SUCCESS && !ReadConnectSubs(subs, command)) {
        command->kind = Command::Kind::kInvalidParams;
        command->subs.clear();
        break;
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
      if (!ReadOptionalToken(params, command)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      break;
    }
    case Command::Kind::kUnsubscribe:
    case Command::Kind::kPresence:
    case Command::Kind::kPresenceStats:
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
    case Command::Kind::kPublish: {
      if (!ReadString(request, "channel", &command->channel, &command->problem)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      simdjson::dom::element data;
      if (request.get_object().value_unsafe()["data"].get(data) != simdjson::SUCCESS) {
        command->kind = Command::Kind::kInvalidParams;
        command->problem = "data is required";
        break;
      }
      command->data_json = simdjson::minify(data);
      break;
    }
    case Command::Kind::kRefresh:
      if (!ReadNonEmptyString(request, "token", &command->token, &command->problem)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      command->has_token = true;
      break;
    case Command::Kind::kSubRefresh:
      if (!ReadString(request, "channel", &command->channel, &command->problem) ||
          !ReadNonEmptyString(request, "token", &command->token, &command->problem)) {
        command->kind = Command::Kind::kInvalidParams;
        break;
      }
      command->has_token = true;
      break;
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

namespace {

// Appends {"data":RAW,"offset":N[,"info":{...}]}.
void AppendPublication(const RecoveredPublication& publication, std::string* out) {
  out->append("{\"data\":");
  out->append(publication.data_json);
  absl::StrAppend(out, ",\"offset\":", publication.offset);
  if (publication.info != nullptr) {
    out->append(",\"info\":");
    AppendClientInfo(*publication.info, out);
  }
  out->push_back('}');
}

// Appends the value of a subscribe reply's "subscribe" field.
void AppendSubscribeResult(const SubscribeResult& result, std::string* out) {
  out->push_back('{');
  if (result.expires) absl::StrAppend(out, "\"expires\":true,\"ttl\":", result.ttl, ",");
  if (result.recoverable) out->append("\"recoverable\":true,");
  // A channel with a stream always has an epoch; one without has no
  // position to report.
  if (!result.epoch.empty()) {
    out->append("\"epoch\":");
    AppendJsonString(result.epoch, out);
    absl::StrAppend(out, ",\"offset\":", result.offset, ",\"positioned\":true,");
  }
  if (result.was_recovering) out->append("\"was_recovering\":true,");
  if (result.recovered) out->append("\"recovered\":true,");
  if (!result.publications.empty()) {
    out->append("\"publications\":[");
    bool first = true;
    for (const RecoveredPublication& publication : result.publications) {
      if (!first) out->push_back(',');
      first = false;
      AppendPublication(publication, out);
    }
    out->append("],");
  }
  if (out->back() == ',') out->pop_back();
  out->push_back('}');
}

// {"push":{"channel":"c","<kind>":{"info":{...}}}}
std::string EncodeClientInfoPush(std::string_view channel, std::string_view kind,
                                 const ClientInfoView& info) {
  std::string out("{\"push\":{\"channel\":");
  AppendJsonString(channel, &out);
  absl::StrAppend(&out, ",\"", AsAbsl(kind), "\":{\"info\":");
  AppendClientInfo(info, &out);
  out.append("}}}");
  return out;
}

}  // namespace

void AppendClientInfo(const ClientInfoView& info, std::string* out) {
  out->append("{\"user\":");
  AppendJsonString(info.user, out);
  out->append(",\"client\":");
  AppendJsonString(info.client, out);
  if (!info.conn_info_json.empty()) {
    out->append(",\"conn_info\":");
    out->append(info.conn_info_json);
  }
  if (!info.chan_info_json.empty()) {
    out->append(",\"chan_info\":");
    out->append(info.chan_info_json);
  }
  out->push_back('}');
}

std::string EncodeConnectReply(uint32_t id, std::string_view client_id, std::string_view version,
                               int ping_seconds, bool pong) {
  ConnectResult result;
  result.client = client_id;
  result.version = version;
  result.ping_seconds = ping_seconds;
  result.pong = pong;
  return EncodeConnectReply(id, result);
}

std::string EncodeConnectReply(uint32_t id, const ConnectResult& result) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"connect\":{\"client\":");
  AppendJsonString(result.client, &out);
  out.append(",\"version\":");
  AppendJsonString(result.version, &out);
  if (result.expires) absl::StrAppend(&out, ",\"expires\":true,\"ttl\":", result.ttl);
  if (!result.subs.empty()) {
    out.append(",\"subs\":{");
    bool first = true;
    for (const auto& [channel, sub] : result.subs) {
      if (!first) out.push_back(',');
      first = false;
      AppendJsonString(channel, &out);
      out.push_back(':');
      AppendSubscribeResult(sub, &out);
    }
    out.push_back('}');
  }
  absl::StrAppend(&out, ",\"ping\":", result.ping_seconds, result.pong ? ",\"pong\":true}}" : "}}");
  return out;
}

std::string EncodeEmptyResult(uint32_t id, std::string_view method) {
  return absl::StrCat("{\"id\":", id, ",\"", AsAbsl(method), "\":{}}");
}

std::string EncodeSubscribeReply(uint32_t id, const SubscribeResult& result) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"subscribe\":");
  AppendSubscribeResult(result, &out);
  out.push_back('}');
  return out;
}

std::string EncodeHistoryReply(uint32_t id, const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"history\":{\"publications\":[");
  bool first = true;
  for (const RecoveredPublication& publication : publications) {
    if (!first) out.push_back(',');
    first = false;
    AppendPublication(publication, &out);
  }
  out.append("],\"epoch\":");
  AppendJsonString(epoch, &out);
  absl::StrAppend(&out, ",\"offset\":", offset, "}}");
  return out;
}

std::string EncodeRefreshReply(uint32_t id, std::string_view client, std::string_view version,
                               bool expires, uint32_t ttl) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"refresh\":{\"client\":");
  AppendJsonString(client, &out);
  out.append(",\"version\":");
  AppendJsonString(version, &out);
  if (expires) absl::StrAppend(&out, ",\"expires\":true,\"ttl\":", ttl);
  out.append("}}");
  return out;
}

std::string EncodeSubRefreshReply(uint32_t id, bool expires, uint32_t ttl) {
  if (!expires) return absl::StrCat("{\"id\":", id, ",\"sub_refresh\":{}}");
  return absl::StrCat("{\"id\":", id, ",\"sub_refresh\":{\"expires\":true,\"ttl\":", ttl, "}}");
}

std::string EncodePresenceReply(uint32_t id, const std::vector<ClientInfoView>& clients) {
  std::string out = absl::StrCat("{\"id\":", id, ",\"presence\":{\"presence\":{");
  bool first = true;
  for (const ClientInfoView& info : clients) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(info.client, &out);
    out.push_back(':');
    AppendClientInfo(info, &out);
  }
  out.append("}}}");
  return out;
}

std::string EncodePresenceStatsReply(uint32_t id, uint64_t num_clients, uint64_t num_users) {
  return absl::StrCat("{\"id\":", id, ",\"presence_stats\":{\"num_clients\":", num_clients,
                      ",\"num_users\":", num_users, "}}");
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

std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset, const ClientInfoView* info) {
  if (info == nullptr) return EncodePublicationPush(channel, data_json, offset);
  std::string out;
  out.reserve(96 + channel.size() + data_json.size() + info->user.size() + info->client.size() +
              info->conn_info_json.size() + info->chan_info_json.size());
  out.append("{\"push\":{\"channel\":");
  AppendJsonString(channel, &out);
  out.append(",\"pub\":");
  AppendPublication(RecoveredPublication{offset, data_json, info}, &out);
  out.append("}}");
  return out;
}

std::string EncodeJoinPush(std::string_view channel, const ClientInfoView& info) {
  return EncodeClientInfoPush(channel, "join", info);
}

std::string EncodeLeavePush(std::string_view channel, const ClientInfoView& info) {
  return EncodeClientInfoPush(channel, "leave", info);
}

std::string EncodeSubscribePush(std::string_view channel, const SubscribeResult& result) {
  std::string out("{\"push\":{\"channel\":");
  AppendJsonString(channel, &out);
  out.append(",\"subscribe\":");
  AppendSubscribeResult(result, &out);
  out.append("}}");
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

ClientInfoView ViewOf(const control::v1::ClientInfo& info) {
  return ClientInfoView{info.user(), info.client(), info.conn_info(), info.chan_info()};
}

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t length = max_bytes;
  while (length > 0 && (static_cast<unsigned char>(text[length]) & 0xC0) == 0x80) --length;
  return text.substr(0, length);
}

uint32_t TtlSeconds(absl::Time at, absl::Time now) {
  int64_t seconds = absl::ToInt64Seconds(at - now);
  return static_cast<uint32_t>(std::clamp<int64_t>(seconds, 1, UINT32_MAX));
}

}  // namespace wirehub::edge

// wirehub-protobuf-vectors: the edge's protobuf codec (edge/protobuf_codec.h,
// edge/protobuf_encoders.h) on the command line, so that
// tests/integration/protobuf_wire.test.mjs can check it against the SDK's own
// protobuf definitions rather than against ours. A test helper, not shipped.
//
//   wirehub-protobuf-vectors commands
//     Reads binary messages from stdin, one per line in hex, parses each
//     with ProtobufCommandParser and prints one JSON line per message:
//     {"ok":true,"commands":[{...every Command field...}]} or
//     {"ok":false,"error":"..."}. 64-bit offsets are decimal strings;
//     publish data is hex (data_hex).
//
//   wirehub-protobuf-vectors replies
//     Prints {"case":"NAME","hex":"..."} lines: each encoder run on fixed
//     values, which the test knows too (keep the two lists in step).

#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/json_writer.h"
#include "edge/client_protocol.h"
#include "edge/protobuf_codec.h"
#include "edge/protobuf_encoders.h"

namespace wirehub::edge {
namespace {

std::string_view KindName(Command::Kind kind) {
  switch (kind) {
    case Command::Kind::kPong:
      return "pong";
    case Command::Kind::kConnect:
      return "connect";
    case Command::Kind::kSubscribe:
      return "subscribe";
    case Command::Kind::kUnsubscribe:
      return "unsubscribe";
    case Command::Kind::kPing:
      return "ping";
    case Command::Kind::kHistory:
      return "history";
    case Command::Kind::kPublish:
      return "publish";
    case Command::Kind::kPresence:
      return "presence";
    case Command::Kind::kPresenceStats:
      return "presence_stats";
    case Command::Kind::kRefresh:
      return "refresh";
    case Command::Kind::kSubRefresh:
      return "sub_refresh";
    case Command::Kind::kNotAvailable:
      return "not_available";
    case Command::Kind::kUnknown:
      return "unknown";
    case Command::Kind::kInvalidParams:
      return "invalid_params";
  }
  return "?";
}

void AppendField(std::string_view name, std::string_view text, std::string* out) {
  absl::StrAppend(out, ",\"", AsAbsl(name), "\":");
  AppendJsonString(text, out);
}

void AppendFlag(std::string_view name, bool value, std::string* out) {
  absl::StrAppend(out, ",\"", AsAbsl(name), "\":", value ? "true" : "false");
}

std::string CommandJson(const Command& command) {
  std::string out = "{\"kind\":";
  AppendJsonString(KindName(command.kind), &out);
  absl::StrAppend(&out, ",\"id\":", command.id);
  AppendField("method", command.method, &out);
  AppendField("token", command.token, &out);
  AppendFlag("has_token", command.has_token, &out);
  AppendField("channel", command.channel, &out);
  out.append(",\"subs\":[");
  for (size_t i = 0; i < command.subs.size(); ++i) {
    const SubscribeSpec& spec = command.subs[i];
    if (i > 0) out.push_back(',');
    out.append("{\"channel\":");
    AppendJsonString(spec.channel, &out);
    AppendFlag("recover", spec.recover, &out);
    AppendField("epoch", spec.epoch, &out);
    AppendField("offset", absl::StrCat(spec.offset), &out);
    out.push_back('}');
  }
  out.push_back(']');
  AppendField("data_hex", absl::BytesToHexString(AsAbsl(command.data_json)), &out);
  AppendFlag("recover", command.recover, &out);
  AppendField("epoch", command.epoch, &out);
  AppendField("offset", absl::StrCat(command.offset), &out);
  AppendFlag("has_since", command.has_since, &out);
  absl::StrAppend(&out, ",\"limit\":", command.limit);
  AppendFlag("reverse", command.reverse, &out);
  AppendField("problem", command.problem, &out);
  out.push_back('}');
  return out;
}

bool IsHex(std::string_view text) {
  if (text.size() % 2 != 0) return false;
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int PrintCommands() {
  ProtobufCommandParser parser;
  std::vector<Command> commands;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string_view hex = line;
    while (!hex.empty() && (hex.back() == '\r' || hex.back() == ' ')) hex.remove_suffix(1);
    if (hex.empty()) continue;
    std::string out;
    if (!IsHex(hex)) {
      out = "{\"ok\":false,\"error\":\"not hex\"}";
    } else {
      absl::Status status = parser.Parse(absl::HexStringToBytes(AsAbsl(hex)), &commands);
      if (!status.ok()) {
        out = "{\"ok\":false,\"error\":";
        AppendJsonString(std::string(status.message()), &out);
        out.push_back('}');
      } else {
        out = "{\"ok\":true,\"commands\":[";
        for (size_t i = 0; i < commands.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.append(CommandJson(commands[i]));
        }
        out.append("]}");
      }
    }
    std::cout << out << '\n';
  }
  std::cout.flush();
  return std::cout ? 0 : 1;
}

void PrintCase(std::string_view name, std::string_view bytes) {
  std::string out = "{\"case\":";
  AppendJsonString(name, &out);
  AppendField("hex", absl::BytesToHexString(AsAbsl(bytes)), &out);
  out.push_back('}');
  std::cout << out << '\n';
}

int PrintReplies() {
  const ClientInfoView publisher{"user-1", "client-1", R"({"name":"Ann"})", ""};
  const ClientInfoView full_info{"user-2", "client-2", R"({"c":1})", R"({"h":2})"};

  PrintCase("ping", pb::EncodePing());
  PrintCase("connect_simple", pb::EncodeConnectReply(1, "cid-1", "wirehub 0.1.0", 25, true));

  ConnectResult connect;
  connect.client = "cid-ü";
  connect.version = "v";
  connect.ping_seconds = 10;
  connect.pong = false;
  connect.expires = true;
  connect.ttl = 3600;
  SubscribeResult positioned;
  positioned.recoverable = true;
  positioned.epoch = "ep";
  positioned.offset = (uint64_t{1} << 40) + 1;
  positioned.was_recovering = true;
  positioned.recovered = true;
  positioned.publications = {{41, "1", nullptr}, {42, R"({"k":2})", &publisher}};
  connect.subs = {{"a", positioned}, {"b", SubscribeResult{}}};
  PrintCase("connect_full", pb::EncodeConnectReply(2, connect));

  for (std::string_view method :
       {"connect", "subscribe", "unsubscribe", "publish", "presence", "presence_stats", "history",
        "ping", "rpc", "refresh", "sub_refresh"}) {
    PrintCase(absl::StrCat("empty:", AsAbsl(method)), pb::EncodeEmptyResult(3, method));
  }

  SubscribeResult subscribe;
  subscribe.expires = true;
  subscribe.ttl = 60;
  subscribe.recoverable = true;
  subscribe.epoch = "xyz";
  subscribe.offset = UINT64_MAX;
  subscribe.was_recovering = true;
  subscribe.recovered = true;
  subscribe.publications = {{UINT64_MAX - 1, std::string_view("\x00\x01\xff", 3), &full_info}};
  PrintCase("subscribe_full", pb::EncodeSubscribeReply(4, subscribe));
  PrintCase("subscribe_empty", pb::EncodeSubscribeReply(5, SubscribeResult{}));

  PrintCase("history", pb::EncodeHistoryReply(
                           6, {{1, R"({"a":1})", nullptr}, {2, "[2]", &publisher}}, "ep", 2));
  PrintCase("history_empty", pb::EncodeHistoryReply(7, {}, "", 0));
  PrintCase("refresh", pb::EncodeRefreshReply(8, "cid", "v1", true, 120));
  PrintCase("refresh_no_expiry", pb::EncodeRefreshReply(9, "cid", "v1", false, 0));
  PrintCase("sub_refresh", pb::EncodeSubRefreshReply(10, true, 30));
  PrintCase("sub_refresh_empty", pb::EncodeSubRefreshReply(11, false, 0));
  PrintCase("presence", pb::EncodePresenceReply(12, {publisher, full_info}));
  PrintCase("presence_empty", pb::EncodePresenceReply(13, {}));
  PrintCase("presence_stats", pb::EncodePresenceStatsReply(14, 3, 2));
  PrintCase("error", pb::EncodeErrorReply(15, 111, "too many requests", true));
  PrintCase("error_plain", pb::EncodeErrorReply(16, 107, "bad request: \"x\"", false));

  PrintCase("publication", pb::EncodePublicationPush("chat:1", R"({"n":1})", 7));
  std::string binary(300, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i);
  PrintCase("publication_binary",
            pb::EncodePublicationPush("bin", binary, (uint64_t{1} << 53) + 1, nullptr));
  PrintCase("publication_info", pb::EncodePublicationPush("c", "\"x\"", 3, &full_info));
  PrintCase("join", pb::EncodeJoinPush("room", full_info));
  PrintCase("leave", pb::EncodeLeavePush("room", publisher));
  SubscribeResult server_side;
  server_side.recoverable = true;
  server_side.epoch = "ep";
  server_side.offset = 12;
  server_side.expires = true;
  server_side.ttl = 5;
  PrintCase("subscribe_push", pb::EncodeSubscribePush("news", server_side));
  PrintCase("subscribe_push_empty", pb::EncodeSubscribePush("plain", SubscribeResult{}));
  PrintCase("unsubscribe_push", pb::EncodeUnsubscribePush("c", 2500, "insufficient state"));
  PrintCase("disconnect_push", pb::EncodeDisconnectPush(3001, "shutdown"));
  PrintCase("message_push", pb::EncodeMessagePush(std::string_view("\x00m", 2)));
  PrintCase("batch", pb::EncodeConnectReply(1, "cid-1", "wirehub 0.1.0", 25, true) +
                         pb::EncodePublicationPush("chat:1", R"({"n":1})", 7) + pb::EncodePing() +
                         pb::EncodeErrorReply(2, 103, "permission denied", false));
  std::cout.flush();
  return std::cout ? 0 : 1;
}

}  // namespace
}  // namespace wirehub::edge

int main(int argc, char** argv) {
  const std::string_view mode = argc == 2 ? argv[1] : "";
  if (mode == "commands") return wirehub::edge::PrintCommands();
  if (mode == "replies") return wirehub::edge::PrintReplies();
  std::cerr << "usage: wirehub-protobuf-vectors commands|replies\n";
  return 2;
}

#include "edge/handshake_check.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"

namespace wirehub::edge {
namespace {

// True when the comma-separated header value lists `token` (any case).
bool ListsToken(absl::string_view value, absl::string_view token) {
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(item), token)) return true;
  }
  return false;
}

// Base64 (with padding) of exactly 16 bytes: 22 characters and "==".
bool ValidKey(absl::string_view key) {
  key = absl::StripAsciiWhitespace(key);
  if (key.size() != 24 || !absl::EndsWith(key, "==")) return false;
  for (char c : key.substr(0, 22)) {
    if (!absl::ascii_isalnum(c) && c != '+' && c != '/') return false;
  }
  std::string decoded;
  return absl::Base64Unescape(key, &decoded) && decoded.size() == 16;
}

}  // namespace

WireFormatChoice ChooseWireFormat(std::string_view protocol_header) {
  WireFormatChoice choice;
  absl::string_view header = absl::StripAsciiWhitespace(AsAbsl(protocol_header));
  if (header.empty()) return choice;
  if (protocol_header.size() > kMaxSubprotocolHeaderBytes) {
    choice.refusal = HandshakeRefusal{
        400,
        absl::StrCat("Sec-WebSocket-Protocol is longer than ", kMaxSubprotocolHeaderBytes,
                     " bytes; offer centrifuge-json or centrifuge-protobuf"),
        false, true};
    return choice;
  }
  for (absl::string_view item : absl::StrSplit(header, ',')) {
    absl::string_view token = absl::StripAsciiWhitespace(item);
    if (token.size() > kMaxSubprotocolTokenBytes) {
      choice.refusal =
          HandshakeRefusal{400,
                           absl::StrCat("a Sec-WebSocket-Protocol token is longer than ",
                                        kMaxSubprotocolTokenBytes, " bytes"),
                           false, true};
      return choice;
    }
    // lws's tokenizer fails on an empty list item, a delimiter such as '.'
    // or '/' inside a token, or a token of digits only (it reads a number),
    // and then drops the connection unanswered.
    if (token.empty() ||
        !std::all_of(token.begin(), token.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; }) ||
        std::all_of(token.begin(), token.end(), absl::ascii_isdigit)) {
      choice.refusal = HandshakeRefusal{
          400,
          "Sec-WebSocket-Protocol must be a comma-separated list of tokens of letters, digits, "
          "'-' and '_', not of digits only",
          false, true};
      return choice;
    }
  }
  for (absl::string_view item : absl::StrSplit(header, ',')) {
    absl::string_view token = absl::StripAsciiWhitespace(item);
    for (WireFormat format : {WireFormat::kJson, WireFormat::kProtobuf}) {
      if (token == SubprotocolOf(format)) {
        choice.format = format;
        return choice;
      }
    }
  }
  choice.refusal = HandshakeRefusal{
      400, "unsupported subprotocol; this edge speaks centrifuge-json and centrifuge-protobuf",
      false, true};
  return choice;
}

std::optional<HandshakeRefusal> CheckHandshake(const HandshakeRequest& request,
                                               std::string_view path, const OriginPolicy& origins) {
  if (request.get_path.empty()) {
    return HandshakeRefusal{400, "a WebSocket handshake is a GET request"};
  }
  if (request.get_path != path) {
    return HandshakeRefusal{404,
                            absl::StrCat("no WebSocket endpoint here; connect to ", AsAbsl(path))};
  }
  if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(AsAbsl(request.upgrade)), "websocket") ||
      !ListsToken(AsAbsl(request.connection), "upgrade")) {
    return HandshakeRefusal{400,
                            "a WebSocket handshake needs Upgrade: websocket and "
                            "Connection: Upgrade"};
  }
  if (absl::StripAsciiWhitespace(AsAbsl(request.version)) != "13") {
    return HandshakeRefusal{426, "only WebSocket version 13 (RFC 6455) is supported", true};
  }
  if (!ValidKey(AsAbsl(request.key))) {
    return HandshakeRefusal{400, "Sec-WebSocket-Key must be the base64 of 16 bytes"};
  }
  WireFormatChoice choice = ChooseWireFormat(request.protocol);
  if (choice.refusal.has_value()) return std::move(choice.refusal);
  if (!origins.Allows(request.origin, request.host)) {
    return HandshakeRefusal{403, "origin not allowed"};
  }
  return std::nullopt;
}

}  // namespace wirehub::edge

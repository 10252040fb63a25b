#include "tools/bench/protobuf_wire.h"

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub::bench {
namespace {

// Field numbers of proto/wirehub/client/v1/client.proto.
constexpr uint32_t kCommandId = 1;
constexpr uint32_t kCommandConnect = 4;
constexpr uint32_t kCommandSubscribe = 5;
constexpr uint32_t kConnectToken = 1;
constexpr uint32_t kConnectName = 4;
constexpr uint32_t kSubscribeChannel = 1;

constexpr uint32_t kReplyId = 1;
constexpr uint32_t kReplyError = 2;
constexpr uint32_t kReplyPush = 4;
constexpr uint32_t kReplyConnect = 5;
constexpr uint32_t kReplySubscribe = 6;
constexpr uint32_t kErrorCode = 1;
constexpr uint32_t kErrorMessage = 2;
constexpr uint32_t kPushChannel = 2;
constexpr uint32_t kPushPub = 4;
constexpr uint32_t kPublicationData = 4;
constexpr uint32_t kPublicationOffset = 6;
constexpr uint32_t kConnectResultPong = 8;

uint64_t ReadLittleEndian(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = bytes.size(); i > 0; --i) {
    value = value << 8 | static_cast<uint8_t>(bytes[i - 1]);
  }
  return value;
}

void AppendTag(uint32_t number, uint32_t wire_type, std::string* out) {
  AppendVarint(uint64_t{number} << 3 | wire_type, out);
}

void AppendBytesField(uint32_t number, std::string_view bytes, std::string* out) {
  AppendTag(number, kProtoLengthDelimited, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

// Appends Command{id, <method_field>: <method>} with its length prefix.
void AppendCommand(uint32_t id, uint32_t method_field, std::string_view method, std::string* out) {
  std::string command;
  if (id != 0) {
    AppendTag(kCommandId, kProtoVarint, &command);
    AppendVarint(id, &command);
  }
  // An empty method message is still sent: it says which method.
  AppendBytesField(method_field, method, &command);
  AppendVarint(command.size(), out);
  out->append(command);
}

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed protobuf ", AsAbsl(what)));
}

absl::Status ParseError(std::string_view message, ProtobufReply* reply) {
  ProtoFieldReader fields(message);
  while (fields.Next()) {
    if (fields.number() == kErrorCode && fields.wire_type() == kProtoVarint) {
      reply->error_code = static_cast<uint32_t>(fields.value());
    } else if (fields.number() == kErrorMessage && fields.wire_type() == kProtoLengthDelimited) {
      reply->error_message = fields.bytes();
    }
  }
  return fields.ok() ? absl::OkStatus() : Malformed("Error");
}

absl::Status ParsePublication(std::string_view message, ProtobufReply* reply) {
  ProtoFieldReader fields(message);
  while (fields.Next()) {
    if (fields.number() == kPublicationData && fields.wire_type() == kProtoLengthDelimited) {
      reply->publication_data = fields.bytes();
    } else if (fields.number() == kPublicationOffset && fields.wire_type() == kProtoVarint) {
      reply->publication_offset = fields.value();
    }
  }
  return fields.ok() ? absl::OkStatus() : Malformed("Publication");
}

absl::Status ParsePush(std::string_view message, ProtobufReply* reply) {
  ProtoFieldReader fields(message);
  while (fields.Next()) {
    if (fields.wire_type() != kProtoLengthDelimited) continue;
    if (fields.number() == kPushChannel) {
      reply->push_channel = fields.bytes();
    } else if (fields.number() == kPushPub) {
      reply->has_publication = true;
      if (absl::Status s = ParsePublication(fields.bytes(), reply); !s.ok()) return s;
    }
  }
  return fields.ok() ? absl::OkStatus() : Malformed("Push");
}

absl::Status ParseConnectResult(std::string_view message, ProtobufReply* reply) {
  ProtoFieldReader fields(message);
  while (fields.Next()) {
    if (fields.number() == kConnectResultPong && fields.wire_type() == kProtoVarint) {
      reply->connect_pong = fields.value() != 0;
    }
  }
  return fields.ok() ? absl::OkStatus() : Malformed("ConnectResult");
}

}  // namespace

size_t ReadVarint(std::string_view input, uint64_t* value) {
  uint64_t result = 0;
  const size_t limit = input.size() < 10 ? input.size() : 10;
  for (size_t i = 0; i < limit; ++i) {
    const uint8_t byte = static_cast<uint8_t>(input[i]);
    result |= uint64_t{byte & 0x7fu} << (7 * i);
    if ((byte & 0x80u) == 0) {
      *value = result;
      return i + 1;
    }
  }
  return 0;
}

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

bool ProtoFieldReader::Next() {
  if (!ok_ || rest_.empty()) return false;
  uint64_t tag = 0;
  size_t used = ReadVarint(rest_, &tag);
  // Field numbers are at most 2^29 - 1.
  if (used == 0 || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) {
    ok_ = false;
    return false;
  }
  rest_.remove_prefix(used);
  number_ = static_cast<uint32_t>(tag >> 3);
  wire_type_ = static_cast<uint32_t>(tag & 7);
  switch (wire_type_) {
    case kProtoVarint:
      used = ReadVarint(rest_, &value_);
      if (used == 0) break;
      rest_.remove_prefix(used);
      return true;
    case kProtoFixed64:
    case kProtoFixed32: {
      const size_t size = wire_type_ == kProtoFixed64 ? 8 : 4;
      if (rest_.size() < size) break;
      value_ = ReadLittleEndian(rest_.substr(0, size));
      rest_.remove_prefix(size);
      return true;
    }
    case kProtoLengthDelimited: {
      uint64_t length = 0;
      used = ReadVarint(rest_, &length);
      if (used == 0 || length > rest_.size() - used) break;
      bytes_ = rest_.substr(used, static_cast<size_t>(length));
      rest_.remove_prefix(used + static_cast<size_t>(length));
      return true;
    }
    default:  // Groups (3, 4) are not in this protocol; 6 and 7 do not exist.
      break;
  }
  ok_ = false;
  return false;
}

DelimitedResult NextDelimited(std::string_view* input, std::string_view* message) {
  if (input->empty()) return DelimitedResult::kEnd;
  uint64_t length = 0;
  size_t used = ReadVarint(*input, &length);
  if (used == 0 || length > input->size() - used) return DelimitedResult::kMalformed;
  *message = input->substr(used, static_cast<size_t>(length));
  input->remove_prefix(used + static_cast<size_t>(length));
  return DelimitedResult::kMessage;
}

absl::Status ParseProtobufReply(std::string_view message, ProtobufReply* reply) {
  *reply = ProtobufReply();
  ProtoFieldReader fields(message);
  while (fields.Next()) {
    if (fields.number() == kReplyId) {
      if (fields.wire_type() == kProtoVarint) reply->id = static_cast<uint32_t>(fields.value());
      continue;
    }
    if (fields.wire_type() != kProtoLengthDelimited) continue;
    absl::Status status;
    switch (fields.number()) {
      case kReplyError:
        reply->has_error = true;
        status = ParseError(fields.bytes(), reply);
        break;
      case kReplyPush:
        reply->has_push = true;
        status = ParsePush(fields.bytes(), reply);
        break;
      case kReplyConnect:
        reply->has_connect = true;
        status = ParseConnectResult(fields.bytes(), reply);
        break;
      case kReplySubscribe:
        reply->has_subscribe = true;
        break;
      default:
        break;
    }
    if (!status.ok()) return status;
  }
  return fields.ok() ? absl::OkStatus() : Malformed("Reply");
}

void AppendConnectCommand(uint32_t id, std::string_view token, std::string_view name,
                          std::string* out) {
  std::string connect;
  if (!token.empty()) AppendBytesField(kConnectToken, token, &connect);
  if (!name.empty()) AppendBytesField(kConnectName, name, &connect);
  AppendCommand(id, kCommandConnect, connect, out);
}

void AppendSubscribeCommand(uint32_t id, std::string_view channel, std::string* out) {
  std::string subscribe;
  if (!channel.empty()) AppendBytesField(kSubscribeChannel, channel, &subscribe);
  AppendCommand(id, kCommandSubscribe, subscribe, out);
}

}  // namespace wirehub::bench

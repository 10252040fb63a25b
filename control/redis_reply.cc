#include "control/redis_reply.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace wirehub::control {
namespace {

// Decimal digits of `value` (the lengths in RESP headers).
size_t DecimalDigits(size_t value) {
  size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

// "*<count>\r\n" or "$<length>\r\n".
void AppendHeader(char kind, size_t value, std::string* out) {
  char header[32];
  const int length = std::snprintf(header, sizeof(header), "%c%zu\r\n", kind, value);
  out->append(header, static_cast<size_t>(length));
}

void AppendDebugString(const RedisReply& reply, std::string* out) {
  switch (reply.type) {
    case RedisReply::Type::kString:
      absl::StrAppend(out, "\"", absl::CEscape(AsAbsl(reply.str)), "\"");
      return;
    case RedisReply::Type::kStatus:
      out->append(reply.str);
      return;
    case RedisReply::Type::kError:
      absl::StrAppend(out, "(error) ", reply.str);
      return;
    case RedisReply::Type::kInteger:
      absl::StrAppend(out, "(integer) ", reply.integer);
      return;
    case RedisReply::Type::kNil:
      out->append("(nil)");
      return;
    case RedisReply::Type::kArray:
      out->push_back('[');
      for (size_t i = 0; i < reply.elements.size(); ++i) {
        if (i > 0) out->append(", ");
        AppendDebugString(reply.elements[i], out);
      }
      out->push_back(']');
      return;
  }
}

}  // namespace

RedisReply RedisReply::String(std::string value) {
  RedisReply reply;
  reply.type = Type::kString;
  reply.str = std::move(value);
  return reply;
}

RedisReply RedisReply::Status(std::string value) {
  RedisReply reply;
  reply.type = Type::kStatus;
  reply.str = std::move(value);
  return reply;
}

RedisReply RedisReply::Error(std::string message) {
  RedisReply reply;
  reply.type = Type::kError;
  reply.str = std::move(message);
  return reply;
}

RedisReply RedisReply::Integer(int64_t value) {
  RedisReply reply;
  reply.type = Type::kInteger;
  reply.integer = value;
  return reply;
}

RedisReply RedisReply::Nil() { return RedisReply(); }

RedisReply RedisReply::Array(std::vector<RedisReply> elements) {
  RedisReply reply;
  reply.type = Type::kArray;
  reply.elements = std::move(elements);
  return reply;
}

std::string RedisReply::DebugString() const {
  std::string text;
  AppendDebugString(*this, &text);
  return text;
}

std::ostream& operator<<(std::ostream& out, const RedisReply& reply) {
  return out << reply.DebugString();
}

std::string_view RedisReplyTypeName(RedisReply::Type type) {
  switch (type) {
    case RedisReply::Type::kString:
      return "string";
    case RedisReply::Type::kStatus:
      return "status";
    case RedisReply::Type::kError:
      return "error";
    case RedisReply::Type::kInteger:
      return "integer";
    case RedisReply::Type::kNil:
      return "nil";
    case RedisReply::Type::kArray:
      return "array";
  }
  return "unknown";
}

RedisReply ConvertReply(const struct redisReply& reply) {
  RedisReply converted;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      converted.type = RedisReply::Type::kString;
      converted.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      converted.type = RedisReply::Type::kStatus;
      converted.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      converted.type = RedisReply::Type::kError;
      converted.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      converted.type = RedisReply::Type::kInteger;
      converted.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      converted.type = RedisReply::Type::kArray;
      converted.elements.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) {
        converted.elements.push_back(ConvertReply(*reply.element[i]));
      }
      break;
    case REDIS_REPLY_NIL:
    default:
      // hiredis 0.14 parses RESP2 only; nil is the one type left.
      break;
  }
  return converted;
}

size_t EncodedCommandSize(const std::vector<std::string>& args) {
  // *<n>\r\n, then $<len>\r\n<bytes>\r\n per argument.
  size_t size = 1 + DecimalDigits(args.size()) + 2;
  for (const std::string& arg : args) {
    size += 1 + DecimalDigits(arg.size()) + 2 + arg.size() + 2;
  }
  return size;
}

void AppendCommand(const std::vector<std::string>& args, std::string* out) {
  // One allocation at most, and geometric growth when appending to a
  // buffer that holds earlier commands.
  const size_t needed = out->size() + EncodedCommandSize(args);
  if (needed > out->capacity()) out->reserve(std::max(needed, 2 * out->capacity()));
  AppendHeader('*', args.size(), out);
  for (const std::string& arg : args) {
    AppendHeader('$', arg.size(), out);
    out->append(arg);
    out->append("\r\n", 2);
  }
}

}  // namespace wirehub::control

// RedisReply: one reply of the Redis protocol (RESP2) as an owned tree, and
// the encoder of commands. hiredis parses the bytes (its reply parser only,
// never its connection layers); ConvertReply() copies its result into this
// tree, which owns its strings and can be moved to any thread.
#ifndef WIREHUB_CONTROL_REDIS_REPLY_H_
#define WIREHUB_CONTROL_REDIS_REPLY_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

// hiredis's parsed reply (hiredis/hiredis.h).
struct redisReply;

namespace wirehub::control {

// One reply. Thread-compatible (a plain value).
//
// Example:
//   RedisReply reply = ...;  // LRANGE list 0 -1
//   if (reply.is_error()) return absl::InternalError(reply.str);
//   for (const RedisReply& item : reply.elements) Use(item.str);
struct RedisReply {
  enum class Type { kString, kStatus, kError, kInteger, kNil, kArray };

  Type type = Type::kNil;
  // kString (binary-safe bulk string), kStatus ("OK"), kError ("ERR ...",
  // "WRONGTYPE ...": the error code first).
  std::string str;
  // kInteger.
  int64_t integer = 0;
  // kArray, in order; may be empty, and elements may be nil or arrays.
  std::vector<RedisReply> elements;

  bool is_error() const { return type == Type::kError; }
  bool is_nil() const { return type == Type::kNil; }
  bool is_string() const { return type == Type::kString; }
  bool is_status() const { return type == Type::kStatus; }
  bool is_integer() const { return type == Type::kInteger; }
  bool is_array() const { return type == Type::kArray; }

  // Constructors of each type, for fakes and tests.
  static RedisReply String(std::string value);
  static RedisReply Status(std::string value);
  static RedisReply Error(std::string message);
  static RedisReply Integer(int64_t value);
  static RedisReply Nil();
  static RedisReply Array(std::vector<RedisReply> elements);

  // DebugString()
  //
  // The reply much as redis-cli prints it, on one line: "hello" (C-escaped),
  // OK, (error) ERR ..., (integer) 3, (nil), [a, b]. For tests and
  // debugging only: a string may be a payload, which is never logged.
  std::string DebugString() const;

  bool operator==(const RedisReply& other) const = default;
};

// For gtest and streams: DebugString().
std::ostream& operator<<(std::ostream& out, const RedisReply& reply);

// RedisReplyTypeName()
//
// "string", "status", "error", "integer", "nil" or "array".
std::string_view RedisReplyTypeName(RedisReply::Type type);

// ConvertReply()
//
// Copies a reply parsed by hiredis (any depth) into a RedisReply. hiredis's
// types map one to one (RESP2 has no others).
RedisReply ConvertReply(const struct redisReply& reply);

// AppendCommand()
//
// Appends the RESP encoding of one command (an array of bulk strings, so
// every argument is binary-safe) to *out.
//
// Example:
//   std::string wire;
//   AppendCommand({"SET", "key", "value"}, &wire);
//   // "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"
void AppendCommand(const std::vector<std::string>& args, std::string* out);

// EncodedCommandSize()
//
// How many bytes AppendCommand(args, ...) appends.
size_t EncodedCommandSize(const std::vector<std::string>& args);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_REPLY_H_

#include "common/logging.h"

#include <errno.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/time/clock.h"

namespace wirehub {
namespace log_internal {

std::atomic<int> min_severity{static_cast<int>(LogSeverity::kInfo)};

namespace {

std::atomic<Clock> fake_clock{nullptr};

}  // namespace

void SetClockForTesting(Clock clock) { fake_clock.store(clock, std::memory_order_relaxed); }

absl::Time Now() {
  Clock fake = fake_clock.load(std::memory_order_relaxed);
  return fake != nullptr ? fake() : absl::Now();
}

}  // namespace log_internal

namespace {

std::atomic<int> log_format{static_cast<int>(LogFormat::kText)};
std::atomic<LogSink*> log_sink{nullptr};

// The JSON names of the members every line has; a field may not take them.
constexpr std::string_view kReservedKeys[] = {"ts", "level", "src", "msg", "suppressed"};

char SeverityLetter(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kDebug:
      return 'D';
    case LogSeverity::kInfo:
      return 'I';
    case LogSeverity::kWarning:
      return 'W';
    case LogSeverity::kError:
      return 'E';
    case LogSeverity::kFatal:
      return 'F';
  }
  return '?';
}

const char* SeverityName(LogSeverity severity) {
  switch (severity) {
    case LogSeverity::kDebug:
      return "debug";
    case LogSeverity::kInfo:
      return "info";
    case LogSeverity::kWarning:
      return "warning";
    case LogSeverity::kError:
      return "error";
    case LogSeverity::kFatal:
      return "fatal";
  }
  return "?";
}

void AppendHexEscape(const char* prefix, unsigned char byte, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append(prefix);
  out->push_back(kHex[byte >> 4]);
  out->push_back(kHex[byte & 0xf]);
}

// The escape of a control character shared by both formats, or nullptr.
const char* ShortEscape(unsigned char byte) {
  switch (byte) {
    case '\n':
      return "\\n";
    case '\r':
      return "\\r";
    case '\t':
      return "\\t";
    default:
      return nullptr;
  }
}

bool IsControl(unsigned char byte) { return byte < 0x20 || byte == 0x7f; }

// Text: control characters escaped so that a message stays one line; with
// `quoted`, '"' and '\' too. Other bytes as they are.
void AppendTextEscaped(std::string_view text, bool quoted, std::string* out) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (IsControl(byte)) {
      const char* escape = ShortEscape(byte);
      if (escape != nullptr) {
        out->append(escape);
      } else {
        AppendHexEscape("\\x", byte, out);
      }
    } else if (quoted && (c == '"' || c == '\\')) {
      out->push_back('\\');
      out->push_back(c);
    } else {
      out->push_back(c);
    }
  }
}

bool NeedsQuotes(std::string_view value) {
  if (value.empty()) return true;
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || IsControl(byte)) return true;
  }
  return false;
}

// The length of the well-formed UTF-8 sequence at the start of `text`
// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or 0.
size_t Utf8SequenceLength(std::string_view text) {
  const auto lead = static_cast<unsigned char>(text[0]);
  size_t length;
  unsigned char low = 0x80;
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) low = 0xa0;
    if (lead == 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) low = 0x90;
    if (lead == 0xf4) high = 0x8f;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  const auto second = static_cast<unsigned char>(text[1]);
  if (second < low || second > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[i]);
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return length;
}

// A JSON string literal; bytes that are not UTF-8 become U+FFFD.
void AppendJsonLiteral(std::string_view text, std::string* out) {
  out->push_back('"');
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      if (byte < 0x20 || byte == 0x7f) {
        const char* escape = ShortEscape(byte);
        if (escape != nullptr) {
          out->append(escape);
        } else {
          AppendHexEscape("\\u00", byte, out);
        }
      } else if (byte == '"' || byte == '\\') {
        out->push_back('\\');
        out->push_back(static_cast<char>(byte));
      } else {
        out->push_back(static_cast<char>(byte));
      }
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text.substr(i));
    if (length == 0) {
      out->append("\xef\xbf\xbd");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out->append(text.substr(i, length));
      i += length;
    }
  }
  out->push_back('"');
}

void AppendSource(const char* file, int line, std::string* out) {
  std::string_view path(file);
  const size_t slash = path.rfind('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  out->append(path);
  if (line > 0) {
    out->push_back(':');
    out->append(std::to_string(line));
  }
}

// Writes all of `line` to stderr: one write() unless interrupted or partial.
void WriteToStderr(std::string_view line) {
  while (!line.empty()) {
    const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      return;
    }
    line.remove_prefix(static_cast<size_t>(written));
  }
}

}  // namespace

void SetMinLogSeverity(LogSeverity severity) {
  log_internal::min_severity.store(static_cast<int>(severity), std::memory_order_relaxed);
}

void SetLogFormat(LogFormat format) {
  log_format.store(static_cast<int>(format), std::memory_order_relaxed);
}

LogSink* SetLogSink(LogSink* sink) { return log_sink.exchange(sink, std::memory_order_acq_rel); }

LogMessage::LogMessage(LogSeverity severity, const char* file, int line)
    : severity_(severity), time_(log_internal::Now()), file_(file), line_(line) {}

void LogMessage::AddField(std::string_view key, std::string_view value, bool is_string) {
  FieldEntry& field = fields_.emplace_back();
  field.key.assign(key);
  for (std::string_view reserved : kReservedKeys) {
    if (key == reserved) field.key.push_back('_');
  }
  field.value.assign(value);
  field.is_string = is_string;
}

void LogMessage::AddDoubleField(std::string_view key, double value) {
  if (!std::isfinite(value)) {
    // JSON has no literal for these: a string ("inf", "-inf", "nan").
    AddField(key, std::isnan(value) ? "nan" : (value > 0 ? "inf" : "-inf"), /*is_string=*/true);
    return;
  }
  char buffer[32];
  const int length = std::snprintf(buffer, sizeof(buffer), "%.15g", value);
  AddField(key, std::string_view(buffer, static_cast<size_t>(length)), /*is_string=*/false);
}

void LogMessage::AddDurationField(std::string_view key, absl::Duration value) {
  // An infinite duration is the string "inf" in JSON, as a double's is.
  const double seconds = absl::ToDoubleSeconds(value);
  const bool finite = std::isfinite(seconds);
  AddField(key, absl::FormatDuration(value), /*is_string=*/!finite);
  if (finite) {
    char buffer[32];
    const int length = std::snprintf(buffer, sizeof(buffer), "%.15g", seconds);
    fields_.back().json_literal.assign(buffer, static_cast<size_t>(length));
  }
}

LogMessage::~LogMessage() {
  if (LogIsOn(severity_) || severity_ == LogSeverity::kFatal) {
    std::string msg = stream_.str();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.pop_back();
    const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time_, absl::UTCTimeZone());
    std::string line;
    line.reserve(64 + msg.size() + 16 * fields_.size());
    if (static_cast<LogFormat>(log_format.load(std::memory_order_relaxed)) == LogFormat::kJson) {
      line.append("{\"ts\":\"").append(ts).append("\",\"level\":\"");
      line.append(SeverityName(severity_)).append("\",\"src\":");
      std::string src;
      AppendSource(file_, line_, &src);
      AppendJsonLiteral(src, &line);
      line.append(",\"msg\":");
      AppendJsonLiteral(msg, &line);
      if (suppressed_ > 0) line.append(",\"suppressed\":").append(std::to_string(suppressed_));
      for (const FieldEntry& field : fields_) {
        line.push_back(',');
        AppendJsonLiteral(field.key, &line);
        line.push_back(':');
        if (!field.json_literal.empty()) {
          line.append(field.json_literal);
        } else if (field.is_string) {
          AppendJsonLiteral(field.value, &line);
        } else {
          line.append(field.value);
        }
      }
      line.push_back('}');
    } else {
      line.push_back(SeverityLetter(severity_));
      line.push_back(' ');
      line.append(ts).push_back(' ');
      AppendSource(file_, line_, &line);
      line.push_back(']');
      if (!msg.empty()) {
        line.push_back(' ');
        AppendTextEscaped(msg, /*quoted=*/false, &line);
      }
      if (suppressed_ > 0) {
        line.append(" (suppressed ").append(std::to_string(suppressed_)).append(" similar)");
      }
      for (const FieldEntry& field : fields_) {
        line.push_back(' ');
        line.append(field.key).push_back('=');
        const bool quote = field.is_string && NeedsQuotes(field.value);
        if (quote) line.push_back('"');
        AppendTextEscaped(field.value, quote, &line);
        if (quote) line.push_back('"');
      }
    }
    line.push_back('\n');
    LogSink* sink = log_sink.load(std::memory_order_acquire);
    if (sink != nullptr) {
      sink->Write(line);
    } else {
      WriteToStderr(line);
    }
  }
  if (severity_ == LogSeverity::kFatal) std::abort();
}

}  // namespace wirehub

// Leveled logging to stderr, one line per message, as text or JSON lines.
// Debian's abseil has no absl/log.
//
// Example:
//   WH_LOG(INFO) << "edge " << id << " attached";
//   WH_EVENT(INFO, "drain_started").Field("clients", n).Field("waves", w);
//   WH_LOG_EVERY_N_SEC(WARNING, 10) << "accept failed: " << strerror(errno);
//
// Text (the default), one line per message:
//   I 2026-12-06T11:22:33.456Z edge_server.cc:120] message key=value key="a b"
// JSON (SetLogFormat(LogFormat::kJson), --log_format=json), one object per line:
//   {"ts":"2026-12-06T11:22:33.456Z","level":"info","src":"edge_server.cc:120",
//    "msg":"message","event":"drain_started","clients":12}
//
// Never log a token, key, secret or payload: an integration test greps every
// log of the suite for the ones it used.
#ifndef WIREHUB_COMMON_LOGGING_H_
#define WIREHUB_COMMON_LOGGING_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/time/time.h"
#include "common/log_rate_limiter.h"

namespace wirehub {

enum class LogSeverity { kDebug = -1, kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

enum class LogFormat { kText, kJson };

// SetMinLogSeverity()
//
// Sets the minimum severity written (default kInfo). Fatal messages are
// always written.
void SetMinLogSeverity(LogSeverity severity);

// SetLogFormat()
//
// Sets the shape of every line written from now on (default kText).
void SetLogFormat(LogFormat format);

// LogSink receives every line written (each ends with '\n').
// Thread: any; Write() may be called from several threads at once.
class LogSink {
 public:
  virtual ~LogSink() = default;
  virtual void Write(std::string_view line) = 0;
};

// SetLogSink()
//
// Sends lines to `sink` instead of stderr (nullptr: stderr again) and returns
// the previous sink. For tests; the sink must outlive its use.
LogSink* SetLogSink(LogSink* sink);

namespace log_internal {

extern std::atomic<int> min_severity;

// The clock that stamps lines and drives WH_LOG_EVERY_N_SEC (absl::Now
// unless a test sets another; nullptr restores it).
using Clock = absl::Time (*)();
void SetClockForTesting(Clock clock);
absl::Time Now();

}  // namespace log_internal

// LogIsOn()
//
// Whether a message of `severity` would be written.
inline bool LogIsOn(LogSeverity severity) {
  return static_cast<int>(severity) >= log_internal::min_severity.load(std::memory_order_relaxed);
}

// LogMessage buffers one line and writes it with one write() on destruction.
// Thread-compatible: each message is its own object, used by one thread.
class LogMessage {
 public:
  // `line` <= 0: the source is `file` alone (e.g. "libwebsockets").
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  // The free text of the line (JSON "msg").
  std::ostream& stream() { return stream_; }

  // Field()
  //
  // A structured field (see WH_EVENT): `key=value` in text (quoted when the
  // value holds spaces, quotes or control characters), a JSON member in JSON:
  // integers, floating point and bool as JSON numbers and literals, an
  // absl::Duration as "1.5s" in text and seconds (1.5) in JSON, anything
  // else (strings, or whatever operator<< prints) as an escaped string. Keys
  // are identifiers from the code; ts, level, src, msg and suppressed are
  // taken. Never pass a token, key, secret or payload.
  template <typename T>
  LogMessage& Field(std::string_view key, const T& value) {
    if constexpr (std::is_same_v<T, bool>) {
      AddField(key, value ? "true" : "false", /*is_string=*/false);
    } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, char>) {
      AddField(key, std::to_string(value), /*is_string=*/false);
    } else if constexpr (std::is_floating_point_v<T>) {
      AddDoubleField(key, static_cast<double>(value));
    } else if constexpr (std::is_same_v<T, absl::Duration>) {
      AddDurationField(key, value);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      AddField(key, std::string_view(value), /*is_string=*/true);
    } else {
      std::ostringstream text;
      text << value;
      AddField(key, text.str(), /*is_string=*/true);
    }
    return *this;
  }

  // Suppressed()
  //
  // How many similar lines a rate limit held back before this one (see
  // WH_LOG_EVERY_N_SEC): "(suppressed N similar)" in text, "suppressed":N in
  // JSON; nothing when 0.
  LogMessage& Suppressed(uint64_t count) {
    suppressed_ = count;
    return *this;
  }

 private:
  struct FieldEntry {
    std::string key;
    std::string value;
    bool is_string;  // quoted in JSON, quoted in text when needed
    // When not empty, JSON shows this literal instead of `value`.
    std::string json_literal;
  };

  void AddField(std::string_view key, std::string_view value, bool is_string);
  void AddDoubleField(std::string_view key, double value);
  void AddDurationField(std::string_view key, absl::Duration value);

  const LogSeverity severity_;
  const absl::Time time_;
  const char* const file_;
  const int line_;
  uint64_t suppressed_ = 0;
  std::ostringstream stream_;
  std::vector<FieldEntry> fields_;
};

namespace log_internal {

// Turns the macros' streaming expression into void so that it can stand in a
// conditional opposite (void)0.
struct Voidify {
  void operator&(std::ostream&) {}
  void operator&(LogMessage&) {}
};

}  // namespace log_internal

}  // namespace wirehub

#define WH_LOG_SEVERITY_DEBUG ::wirehub::LogSeverity::kDebug
#define WH_LOG_SEVERITY_INFO ::wirehub::LogSeverity::kInfo
#define WH_LOG_SEVERITY_WARNING ::wirehub::LogSeverity::kWarning
#define WH_LOG_SEVERITY_ERROR ::wirehub::LogSeverity::kError
#define WH_LOG_SEVERITY_FATAL ::wirehub::LogSeverity::kFatal

// WH_LOG(severity) << ...: DEBUG, INFO, WARNING, ERROR or FATAL (aborts).
// Below the minimum severity nothing after << is evaluated.
#define WH_LOG(severity)                          \
  !::wirehub::LogIsOn(WH_LOG_SEVERITY_##severity) \
      ? (void)0                                   \
      : ::wirehub::log_internal::Voidify() &      \
            ::wirehub::LogMessage(WH_LOG_SEVERITY_##severity, __FILE__, __LINE__).stream()

// WH_EVENT(severity, "name"): one line per lifecycle event, with fields:
//   WH_EVENT(INFO, "drain_started").Field("clients", n).Field("waves", w);
// Free text may follow: .stream() << "...".
#define WH_EVENT(severity, name)                                                  \
  !::wirehub::LogIsOn(WH_LOG_SEVERITY_##severity)                                 \
      ? (void)0                                                                   \
      : ::wirehub::log_internal::Voidify() &                                      \
            ::wirehub::LogMessage(WH_LOG_SEVERITY_##severity, __FILE__, __LINE__) \
                .Field("event", name)

// The rate limiter of the call site that expands this (one per expansion).
#define WH_INTERNAL_SITE_RATE_LIMITER()                                        \
  []() -> ::wirehub::LogRateLimiter& {                                         \
    ABSL_CONST_INIT static ::wirehub::LogRateLimiter wh_internal_site_limiter; \
    return wh_internal_site_limiter;                                           \
  }()

#define WH_INTERNAL_RATE_LIMITED(severity, limiter, period)                  \
  for (std::optional<uint64_t> wh_internal_suppressed =                      \
           ::wirehub::LogIsOn(WH_LOG_SEVERITY_##severity)                    \
               ? (limiter).Acquire((period), ::wirehub::log_internal::Now()) \
               : std::nullopt;                                               \
       wh_internal_suppressed.has_value(); wh_internal_suppressed.reset())   \
  ::wirehub::LogMessage(WH_LOG_SEVERITY_##severity, __FILE__, __LINE__)      \
      .Suppressed(*wh_internal_suppressed)

#define WH_INTERNAL_EVERY_N_SEC(severity, seconds) \
  WH_INTERNAL_RATE_LIMITED(severity, WH_INTERNAL_SITE_RATE_LIMITER(), absl::Seconds(seconds))

// WH_LOG_EVERY_N_SEC(severity, seconds) << ...: at most one line per
// `seconds` from this call site (across threads); the next line that goes
// through says how many were held back: "(suppressed 12 similar)".
// Arguments after << are evaluated only for the lines written.
#define WH_LOG_EVERY_N_SEC(severity, seconds) WH_INTERNAL_EVERY_N_SEC(severity, seconds).stream()

// WH_EVENT_EVERY_N_SEC(severity, "name", seconds).Field(...): the same for
// an event.
#define WH_EVENT_EVERY_N_SEC(severity, name, seconds) \
  WH_INTERNAL_EVERY_N_SEC(severity, seconds).Field("event", name)

// WH_LOG_RATE_LIMITED(severity, limiter, period) << ...: the same with a
// LogRateLimiter the caller keeps, for a limit per object (per peer, per
// link) rather than per call site, or one that Reset() re-arms; `period` is
// an absl::Duration.
//   WH_LOG_RATE_LIMITED(WARNING, attach_failures_, absl::Seconds(30)) << "attach failed: " << why;
#define WH_LOG_RATE_LIMITED(severity, limiter, period) \
  WH_INTERNAL_RATE_LIMITED(severity, limiter, period).stream()

// WH_CHECK(cond): impossible internal states crash loudly.
#define WH_CHECK(cond) \
  if (!(cond)) WH_LOG(FATAL) << "check failed: " #cond " "

#endif  // WIREHUB_COMMON_LOGGING_H_

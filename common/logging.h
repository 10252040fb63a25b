// Minimal leveled logging to stderr. Debian's abseil has no absl/log.
//
// Example:
//   WH_LOG(INFO) << "edge " << id << " attached";
#ifndef WIREHUB_COMMON_LOGGING_H_
#define WIREHUB_COMMON_LOGGING_H_

#include <sstream>
#include <string_view>

namespace wirehub {

enum class LogSeverity { kInfo, kWarning, kError, kFatal };

// LogMessage buffers one line and writes it atomically on destruction.
// Thread-safe (each message is its own object; the write is one syscall).
class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;

  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Sets the minimum severity written (default kInfo).
void SetMinLogSeverity(LogSeverity severity);

}  // namespace wirehub

#define WH_LOG_SEVERITY_INFO ::wirehub::LogSeverity::kInfo
#define WH_LOG_SEVERITY_WARNING ::wirehub::LogSeverity::kWarning
#define WH_LOG_SEVERITY_ERROR ::wirehub::LogSeverity::kError
#define WH_LOG_SEVERITY_FATAL ::wirehub::LogSeverity::kFatal

#define WH_LOG(severity) \
  ::wirehub::LogMessage(WH_LOG_SEVERITY_##severity, __FILE__, __LINE__).stream()

// WH_CHECK(cond): impossible internal states crash loudly.
#define WH_CHECK(cond) \
  if (!(cond)) WH_LOG(FATAL) << "check failed: " #cond " "

#endif  // WIREHUB_COMMON_LOGGING_H_

#include "tools/bench/proc_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "tools/bench/bench_payload.h"

namespace wirehub::bench {
namespace {

// Reads a small /proc file whole. /proc files report size 0, so read until
// end of file.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (error == ENOENT || error == ESRCH) {
      return absl::NotFoundError(absl::StrCat("no ", path));
    }
    return absl::UnavailableError(absl::StrCat("open ", path, ": ", std::strerror(error)));
  }
  std::string contents;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int error = errno;
      close(fd);
      // A process that exits between open and read gives ESRCH.
      if (error == ESRCH) return absl::NotFoundError(absl::StrCat("no ", path));
      return absl::UnavailableError(absl::StrCat("read ", path, ": ", std::strerror(error)));
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return contents;
}

// Returns the `index`-th space-separated field of `text` (0-based), or an
// empty view.
std::string_view Field(std::string_view text, int index) {
  for (int i = 0; i < index; ++i) {
    size_t space = text.find(' ');
    if (space == std::string_view::npos) return {};
    text.remove_prefix(space + 1);
  }
  return text.substr(0, text.find_first_of(" \n"));
}

bool ParseUint(std::string_view text, uint64_t* value) {
  if (text.empty()) return false;
  std::from_chars_result result = std::from_chars(text.data(), text.data() + text.size(), *value);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

// The number after `key` at the start of a line of a status file.
bool StatusValue(std::string_view status, std::string_view key, uint64_t* value) {
  size_t at = 0;
  while (at < status.size()) {
    size_t end = status.find('\n', at);
    std::string_view line =
        status.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    if (line.substr(0, key.size()) == key) {
      line.remove_prefix(key.size());
      size_t digits = line.find_first_not_of(" \t");
      return digits != std::string_view::npos && ParseUint(line.substr(digits), value);
    }
    if (end == std::string_view::npos) break;
    at = end + 1;
  }
  return false;
}

}  // namespace

absl::StatusOr<uint64_t> ParseContextSwitches(std::string_view status) {
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
  if (!StatusValue(status, "voluntary_ctxt_switches:", &voluntary) ||
      !StatusValue(status, "nonvoluntary_ctxt_switches:", &involuntary)) {
    return absl::DataLossError("status without voluntary and nonvoluntary context switches");
  }
  return voluntary + involuntary;
}

absl::StatusOr<uint64_t> ReadContextSwitches(pid_t pid) {
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  DIR* dir = opendir(tasks.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT || errno == ESRCH) return absl::NotFoundError(absl::StrCat("no ", tasks));
    return absl::UnavailableError(absl::StrCat("opendir ", tasks, ": ", std::strerror(errno)));
  }
  uint64_t total = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    absl::StatusOr<std::string> status =
        ReadSmallFile(absl::StrCat(tasks, "/", entry->d_name, "/status"));
    // A thread may exit between readdir() and the read: it counts no more.
    if (!status.ok()) continue;
    absl::StatusOr<uint64_t> switches = ParseContextSwitches(*status);
    if (!switches.ok()) {
      closedir(dir);
      return switches.status();
    }
    total += *switches;
  }
  closedir(dir);
  return total;
}

absl::StatusOr<ProcSample> ParseProcSample(std::string_view stat, std::string_view statm,
                                           long ticks_per_second, long page_size) {
  // The command name (field 2) is in parentheses and may hold spaces and
  // parentheses itself, so count fields from the last ')'. Field 3 (state)
  // follows it; utime and stime are fields 14 and 15 (proc(5)).
  size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos || paren + 2 > stat.size()) {
    return absl::DataLossError("/proc/PID/stat without a command name");
  }
  std::string_view fields = stat.substr(paren + 2);
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (!ParseUint(Field(fields, 14 - 3), &utime) || !ParseUint(Field(fields, 15 - 3), &stime)) {
    return absl::DataLossError("/proc/PID/stat without utime and stime");
  }
  // statm: size resident shared text lib data dt, in pages.
  uint64_t resident_pages = 0;
  if (!ParseUint(Field(statm, 1), &resident_pages)) {
    return absl::DataLossError("/proc/PID/statm without a resident size");
  }
  if (ticks_per_second <= 0 || page_size <= 0) {
    return absl::InternalError("bad clock tick rate or page size");
  }
  ProcSample sample;
  sample.user_seconds = static_cast<double>(utime) / static_cast<double>(ticks_per_second);
  sample.system_seconds = static_cast<double>(stime) / static_cast<double>(ticks_per_second);
  sample.rss_bytes = resident_pages * static_cast<uint64_t>(page_size);
  return sample;
}

absl::StatusOr<ProcSample> ReadProcSample(pid_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid);
  int64_t taken_ns = MonotonicNowNs();
  absl::StatusOr<std::string> stat = ReadSmallFile(dir + "/stat");
  if (!stat.ok()) return stat.status();
  absl::StatusOr<std::string> statm = ReadSmallFile(dir + "/statm");
  if (!statm.ok()) return statm.status();
  absl::StatusOr<ProcSample> sample =
      ParseProcSample(*stat, *statm, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE));
  if (!sample.ok()) return sample;
  sample->taken_ns = taken_ns;
  absl::StatusOr<uint64_t> switches = ReadContextSwitches(pid);
  if (!switches.ok()) return switches.status();
  sample->context_switches = *switches;
  return sample;
}

ProcDelta Diff(const ProcSample& before, const ProcSample& after) {
  ProcDelta delta;
  delta.wall_seconds = static_cast<double>(after.taken_ns - before.taken_ns) / 1e9;
  delta.cpu_seconds = after.cpu_seconds() - before.cpu_seconds();
  delta.cores = delta.wall_seconds > 0 ? delta.cpu_seconds / delta.wall_seconds : 0;
  delta.rss_change_bytes =
      static_cast<int64_t>(after.rss_bytes) - static_cast<int64_t>(before.rss_bytes);
  delta.context_switches = after.context_switches > before.context_switches
                               ? after.context_switches - before.context_switches
                               : 0;
  return delta;
}

}  // namespace wirehub::bench

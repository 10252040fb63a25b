// CPU time, resident memory and context switches of a process from /proc,
// for the load generator's per-delivery cost figures (edge and control CPU
// seconds over a run, RSS per connection, wake-ups per publication).
#ifndef WIREHUB_TOOLS_BENCH_PROC_STATS_H_
#define WIREHUB_TOOLS_BENCH_PROC_STATS_H_

#include <sys/types.h>

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub::bench {

// ProcSample is one reading of a process.
struct ProcSample {
  // CLOCK_MONOTONIC when the sample was taken, in nanoseconds.
  int64_t taken_ns = 0;
  // User and system CPU time so far (utime and stime), in seconds.
  double user_seconds = 0;
  double system_seconds = 0;
  // Resident set size (resident pages of /proc/PID/statm times page size).
  uint64_t rss_bytes = 0;
  // Voluntary and involuntary context switches so far, summed over the
  // threads alive at the sample (a thread that exited took its count
  // along).
  uint64_t context_switches = 0;

  double cpu_seconds() const { return user_seconds + system_seconds; }
};

// ProcDelta is what a process did between two samples.
struct ProcDelta {
  double wall_seconds = 0;
  double cpu_seconds = 0;
  // CPU seconds per wall second: 1.0 is one core busy.
  double cores = 0;
  // RSS at the later sample minus RSS at the earlier one.
  int64_t rss_change_bytes = 0;
  // Context switches between the samples (0 if threads that switched a lot
  // exited in between and the sum went down).
  uint64_t context_switches = 0;
};

// ReadProcSample()
//
// Reads /proc/PID/stat, /proc/PID/statm and /proc/PID/task/*/status.
// NotFound when the process does not exist (any more), DataLoss when a file
// does not parse.
absl::StatusOr<ProcSample> ReadProcSample(pid_t pid);

// ParseProcSample()
//
// The parsing part of ReadProcSample(), for tests: `stat` and `statm` are
// the files' contents, `ticks_per_second` is sysconf(_SC_CLK_TCK) and
// `page_size` sysconf(_SC_PAGESIZE). `taken_ns` is left 0.
absl::StatusOr<ProcSample> ParseProcSample(std::string_view stat, std::string_view statm,
                                           long ticks_per_second, long page_size);

// ParseContextSwitches()
//
// voluntary_ctxt_switches + nonvoluntary_ctxt_switches of one
// /proc/PID/task/TID/status file's contents. DataLoss when either line is
// missing or malformed.
absl::StatusOr<uint64_t> ParseContextSwitches(std::string_view status);

// ReadContextSwitches()
//
// ParseContextSwitches() summed over every thread of `pid`
// (/proc/PID/task/*/status). NotFound when the process does not exist.
absl::StatusOr<uint64_t> ReadContextSwitches(pid_t pid);

// Diff()
//
// What happened from `before` to `after`.
ProcDelta Diff(const ProcSample& before, const ProcSample& after);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_PROC_STATS_H_

// Starting the servers the bench measures as child processes, and the small
// file helpers around them.
#ifndef WIREHUB_TOOLS_BENCH_CHILD_PROCESS_H_
#define WIREHUB_TOOLS_BENCH_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace wirehub::bench {

// SpawnChild()
//
// Runs `args` (args[0] is the binary's path) with stdin from `stdin_fd`
// (-1: /dev/null), stdout on `stdout_fd` and stderr on `stderr_fd`, no other
// descriptor of
// the bench, and default signal handling. The child gets SIGTERM when the
// calling thread exits, so a bench that is killed or crashes leaves no
// server behind: call it from a thread that outlives the child (the main
// thread). The caller reaps the child.
absl::StatusOr<pid_t> SpawnChild(const std::vector<std::string>& args, int stdout_fd, int stderr_fd,
                                 int stdin_fd = -1);

// "exit code N" or "signal N" for a wait() status.
std::string DescribeExit(int status);

// The last `bytes` bytes of the file at `path`, empty when unreadable.
std::string FileTail(const std::string& path, size_t bytes = 2000);

// Creates or truncates `path` and writes `contents`.
absl::Status WriteFile(const std::string& path, std::string_view contents);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_CHILD_PROCESS_H_

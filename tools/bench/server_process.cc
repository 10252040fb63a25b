#include "tools/bench/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "tools/bench/child_process.h"

namespace wirehub::bench {

int ParseReadyPort(std::string_view line, std::string_view prefix) {
  if (line.substr(0, prefix.size()) != prefix) return 0;
  size_t search = prefix.size();
  while (true) {
    size_t colon = line.find(':', search);
    if (colon == std::string_view::npos) return 0;
    size_t start = colon + 1;
    size_t end = start;
    while (end < line.size() && line[end] >= '0' && line[end] <= '9') ++end;
    int port = 0;
    if (end > start) {
      auto [ptr, ec] = std::from_chars(line.data() + start, line.data() + end, port);
      if (ec == std::errc() && port > 0 && port < 65536) return port;
    }
    search = colon + 1;
  }
}

absl::StatusOr<bool> HelpMentions(const std::string& binary, std::string_view text,
                                  absl::Duration timeout) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  absl::StatusOr<pid_t> pid = SpawnChild({binary, "--help"}, out_pipe[1], out_pipe[1]);
  close(out_pipe[1]);
  if (!pid.ok()) {
    close(out_pipe[0]);
    return absl::UnavailableError(absl::StrCat(binary, " --help: ", pid.status().message()));
  }
  std::string output;
  absl::Time deadline = absl::Now() + timeout;
  bool finished = false;
  char buffer[4096];
  while (absl::Now() < deadline) {
    pollfd poll_fd{out_pipe[0], POLLIN, 0};
    int ready = poll(&poll_fd, 1, 100);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    ssize_t n = read(out_pipe[0], buffer, sizeof(buffer));
    if (n <= 0) {
      finished = true;
      break;
    }
    output.append(buffer, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  if (!finished) kill(*pid, SIGKILL);
  int status = 0;
  waitpid(*pid, &status, 0);
  if (!finished) {
    return absl::UnavailableError(
        absl::StrCat(binary, " --help did not finish within ", absl::FormatDuration(timeout)));
  }
  return output.find(text) != std::string::npos;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::string name, const std::string& binary, const std::vector<std::string>& args,
    std::string_view ready_prefix, const std::string& log_path, absl::Duration timeout) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("create ", log_path, ": ", std::strerror(errno)));
  }
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<pid_t> pid = SpawnChild(argv, out_pipe[1], log_fd);
  close(out_pipe[1]);
  close(log_fd);
  if (!pid.ok()) {
    close(out_pipe[0]);
    return pid.status();
  }
  std::unique_ptr<ServerProcess> process(
      new ServerProcess(std::move(name), *pid, out_pipe[0], log_path));
  absl::StatusOr<int> port = process->WaitForLine(ready_prefix, timeout);
  if (!port.ok()) return port.status();
  process->port_ = *port;
  return process;
}

absl::StatusOr<int> ServerProcess::WaitForLine(std::string_view prefix, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  char buffer[4096];
  while (true) {
    size_t newline = pending_.find('\n');
    while (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      int port = ParseReadyPort(line, prefix);
      if (port > 0) {
        if (ready_line_.empty()) ready_line_ = line;
        return port;
      }
      newline = pending_.find('\n');
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::UnavailableError(
          absl::StrCat(name_, " printed no '", AsAbsl(prefix), " HOST:PORT' line within ",
                       absl::FormatDuration(timeout), "; log:\n", FileTail(log_path_)));
    }
    pollfd poll_fd{stdout_fd_, POLLIN, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready <= 0) continue;
    ssize_t n = read(stdout_fd_, buffer, sizeof(buffer));
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat(name_, " exited before listening; log:\n", FileTail(log_path_)));
    }
    pending_.append(buffer, static_cast<size_t>(n));
  }
}

void ServerProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  pid_ = 0;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

ServerProcess::~ServerProcess() { Stop(); }

}  // namespace wirehub::bench

#include "tools/bench/server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace wirehub::bench {

namespace {

constexpr int kMaxCleanupPids = 64;
std::atomic<pid_t> cleanup_pids[kMaxCleanupPids];

void CleanupAndExit(int signal_number) {
  for (std::atomic<pid_t>& slot : cleanup_pids) {
    pid_t pid = slot.load();
    if (pid > 0) kill(pid, SIGTERM);
  }
  _exit(128 + signal_number);
}

}  // namespace

void InstallCleanupHandler() {
  struct sigaction action {};
  action.sa_handler = CleanupAndExit;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void RegisterForCleanup(pid_t pid) {
  for (std::atomic<pid_t>& slot : cleanup_pids) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void UnregisterForCleanup(pid_t pid) {
  for (std::atomic<pid_t>& slot : cleanup_pids) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

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

std::string LogTail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string all = buffer.str();
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    std::string name, const std::string& binary, const std::vector<std::string>& args,
    std::string_view ready_prefix, const std::string& log_path, absl::Duration timeout) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  if (rc != 0) {
    close(out_pipe[0]);
    return absl::InternalError(absl::StrCat("cannot run ", binary, ": ", std::strerror(rc)));
  }
  RegisterForCleanup(pid);
  std::unique_ptr<ServerProcess> process(new ServerProcess(std::move(name), pid, out_pipe[0]));
  absl::Time deadline = absl::Now() + timeout;
  std::string pending;
  char buffer[4096];
  while (true) {
    size_t newline = pending.find('\n');
    while (newline != std::string::npos) {
      std::string line = pending.substr(0, newline);
      pending.erase(0, newline + 1);
      int port = ParseReadyPort(line, ready_prefix);
      if (port > 0) {
        process->port_ = port;
        process->ready_line_ = line;
        return process;
      }
      newline = pending.find('\n');
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::UnavailableError(absl::StrCat(process->name_, " printed no ready line within ",
                                                 absl::FormatDuration(timeout), "; log:\n",
                                                 LogTail(log_path)));
    }
    pollfd poll_fd{process->stdout_fd_, POLLIN, 0};
    int ready = poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready <= 0) continue;
    ssize_t n = read(process->stdout_fd_, buffer, sizeof(buffer));
    if (n <= 0) {
      return absl::UnavailableError(
          absl::StrCat(process->name_, " exited before listening; log:\n", LogTail(log_path)));
    }
    pending.append(buffer, static_cast<size_t>(n));
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
  UnregisterForCleanup(pid_);
  pid_ = 0;
  if (stdout_fd_ >= 0) close(stdout_fd_);
  stdout_fd_ = -1;
}

ServerProcess::~ServerProcess() { Stop(); }

}  // namespace wirehub::bench

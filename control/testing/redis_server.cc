#include "control/testing/redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"

namespace wirehub::control::testing {
namespace {

constexpr int kStartAttempts = 5;
constexpr absl::Duration kReadyTimeout = absl::Seconds(10);
constexpr absl::Duration kStopGrace = absl::Seconds(5);

// A port nobody listens on right now: bind port 0, read it back, close.
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, "bind 127.0.0.1:0");
  }
  close(fd);
  return ntohs(address.sin_port);
}

// redis-server's path, looked up in PATH before fork() (the child may only
// make async-signal-safe calls).
std::string RedisServerPath() {
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/redis-server");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "/usr/bin/redis-server";
}

// The last `limit` bytes of a file, for error messages.
std::string Tail(const std::string& path, size_t limit = 2000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  if (text.size() > limit) text = text.substr(text.size() - limit);
  return text;
}

// Sends all of `data` before `deadline`.
absl::Status SendAll(int fd, const std::string& data, absl::Time deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("send timed out");
    pollfd entry = {fd, POLLOUT, 0};
    const int ready = poll(&entry, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (ready <= 0) continue;
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return absl::ErrnoToStatus(errno, "send");
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    std::vector<std::string> extra_args) {
  const char* tmpdir = getenv("TMPDIR");
  std::string dir =
      absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp", "/wirehub-redis-XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create a directory like ", dir));
  }
  std::unique_ptr<RedisServer> server(new RedisServer(std::move(dir), std::move(extra_args)));
  absl::Status status;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    absl::StatusOr<int> port = FreePort();
    if (!port.ok()) return port.status();
    server->port_ = *port;
    status = server->Launch();
    if (status.ok()) return server;
    // Still running: it started but never answered; another port will not
    // help.
    if (server->running()) {
      server->Kill();
      return status;
    }
  }
  return status;
}

RedisServer::RedisServer(std::string dir, std::vector<std::string> extra_args)
    : dir_(std::move(dir)), extra_args_(std::move(extra_args)) {
  for (size_t i = 0; i + 1 < extra_args_.size(); ++i) {
    if (extra_args_[i] == "--requirepass") password_ = extra_args_[i + 1];
  }
}

RedisServer::~RedisServer() {
  Stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

absl::Status RedisServer::Launch() {
  std::vector<std::string> args = {RedisServerPath(),
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--logfile",
                                   absl::StrCat(dir_, "/redis.log"),
                                   "--daemonize",
                                   "no",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no"};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // Startup errors (a bad argument) go to stdout before the log file opens.
  const std::string output_path = absl::StrCat(dir_, "/redis.stdout");
  const int output = open(output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (output < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", output_path));
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(output);
    return absl::ErrnoToStatus(error, "fork");
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int null_input = open("/dev/null", O_RDONLY);
    if (null_input >= 0) dup2(null_input, STDIN_FILENO);
    dup2(output, STDOUT_FILENO);
    dup2(output, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(output);
  pid_ = pid;

  // Ready when PING answers (LOADING while it reads an AOF: not yet).
  const absl::Time deadline = absl::Now() + kReadyTimeout;
  std::string last_error = "no answer";
  while (absl::Now() < deadline) {
    if (Exited()) {
      return absl::UnavailableError(absl::StrCat("redis-server on port ", port_,
                                                 " exited at start: ", Tail(output_path),
                                                 Tail(absl::StrCat(dir_, "/redis.log"))));
    }
    absl::StatusOr<RedisReply> pong = Command({"PING"}, absl::Milliseconds(500));
    if (pong.ok() && pong->is_status() && pong->str == "PONG") return absl::OkStatus();
    last_error = pong.ok() ? pong->DebugString() : pong.status().ToString();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("redis-server on port ", port_, " not ready within ",
                   absl::FormatDuration(kReadyTimeout), ": ", last_error));
}

bool RedisServer::Exited() {
  if (pid_ <= 0) return true;
  int status = 0;
  const pid_t done = waitpid(pid_, &status, WNOHANG);
  if (done == pid_ || (done < 0 && errno == ECHILD)) {
    pid_ = -1;
    return true;
  }
  return false;
}

absl::Status RedisServer::Restart() {
  Stop();
  return Launch();
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + kStopGrace;
  while (absl::Now() < deadline) {
    if (Exited()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
}

absl::StatusOr<RedisReply> RedisServer::Command(const std::vector<std::string>& args,
                                                absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  struct Closer {
    int fd;
    redisReader* reader = nullptr;
    ~Closer() {
      close(fd);
      if (reader != nullptr) redisReaderFree(reader);
    }
  } closer{fd};

  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port_));
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINPROGRESS) {
      return absl::ErrnoToStatus(errno, absl::StrCat("connect 127.0.0.1:", port_));
    }
    pollfd entry = {fd, POLLOUT, 0};
    const absl::Duration left = deadline - absl::Now();
    if (poll(&entry, 1, static_cast<int>(std::max<int64_t>(0, absl::ToInt64Milliseconds(left)))) <=
        0) {
      return absl::DeadlineExceededError(absl::StrCat("connect 127.0.0.1:", port_, " timed out"));
    }
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return absl::ErrnoToStatus(error, absl::StrCat("connect 127.0.0.1:", port_));
  }

  std::string request;
  int replies = 1;
  if (!password_.empty()) {
    AppendCommand({"AUTH", password_}, &request);
    ++replies;
  }
  AppendCommand(args, &request);
  absl::Status sent = SendAll(fd, request, deadline);
  if (!sent.ok()) return sent;

  closer.reader = redisReaderCreate();
  RedisReply last;
  char buffer[64 << 10];
  while (replies > 0) {
    void* raw = nullptr;
    if (redisReaderGetReply(closer.reader, &raw) != REDIS_OK) {
      return absl::DataLossError(absl::StrCat("protocol error: ", closer.reader->errstr));
    }
    if (raw != nullptr) {
      last = ConvertReply(*static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      --replies;
      // A failed AUTH: the command's own reply says NOAUTH; this one is clearer.
      if (replies > 0 && last.is_error()) return last;
      continue;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("no reply from 127.0.0.1:", port_, " within ",
                                                      absl::FormatDuration(timeout)));
    }
    pollfd entry = {fd, POLLIN, 0};
    const int ready = poll(&entry, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno != EINTR) return absl::ErrnoToStatus(errno, "poll");
    if (ready <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "recv");
    if (n == 0) return absl::UnavailableError("connection closed by redis-server");
    redisReaderFeed(closer.reader, buffer, static_cast<size_t>(n));
  }
  return last;
}

absl::Status RedisServer::Pause(int ms) {
  absl::StatusOr<RedisReply> reply = Command({"CLIENT", "PAUSE", std::to_string(ms)});
  if (!reply.ok()) return reply.status();
  if (reply->is_error()) return absl::InternalError(reply->str);
  return absl::OkStatus();
}

absl::StatusOr<std::string> RedisServer::RunId() {
  absl::StatusOr<RedisReply> reply = Command({"INFO", "server"});
  if (!reply.ok()) return reply.status();
  if (!reply->is_string()) return absl::InternalError(absl::StrCat("INFO: ", reply->DebugString()));
  for (absl::string_view line : absl::StrSplit(AsAbsl(reply->str), '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::ConsumePrefix(&line, "run_id:")) return std::string(line);
  }
  return absl::InternalError("INFO server has no run_id");
}

}  // namespace wirehub::control::testing

#include "tools/bench/redis_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "tools/bench/child_process.h"

namespace wirehub::bench {
namespace {

int RandomRedisPort() {
  // 65001-65535, as performance-notes.md advises for listeners; the peers
  // take 65001-65501, so start above them.
  static std::mt19937 rng(std::random_device{}());
  return 65100 + static_cast<int>(rng() % 400);
}

void StopChild(pid_t pid) {
  kill(pid, SIGTERM);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace

std::string EncodeRedisCommand(const std::vector<std::string>& args) {
  std::string out = absl::StrCat("*", args.size(), "\r\n");
  for (const std::string& arg : args) absl::StrAppend(&out, "$", arg.size(), "\r\n", arg, "\r\n");
  return out;
}

std::string InfoField(std::string_view info, std::string_view name) {
  size_t at = 0;
  while (at < info.size()) {
    size_t end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    std::string_view line = info.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':') {
      return std::string(line.substr(name.size() + 1));
    }
    at = end + 1;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<RedisClient>> RedisClient::Connect(int port,
                                                                  absl::Duration timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd poll_fd{fd, POLLOUT, 0};
    rc = poll(&poll_fd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    int error = 0;
    socklen_t length = sizeof(error);
    if (rc == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0) {
      rc = 0;
    } else {
      errno = rc == 0 ? ETIMEDOUT : (error != 0 ? error : errno);
      rc = -1;
    }
  }
  if (rc != 0) {
    absl::Status status = absl::UnavailableError(
        absl::StrCat("connect 127.0.0.1:", port, ": ", std::strerror(errno)));
    close(fd);
    return status;
  }
  // Blocking from here on.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  timeval receive_timeout{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive_timeout, sizeof(receive_timeout));
  return std::unique_ptr<RedisClient>(new RedisClient(fd));
}

RedisClient::~RedisClient() { close(fd_); }

absl::Status RedisClient::Send(const std::vector<std::string>& args) {
  const std::string wire = EncodeRedisCommand(args);
  size_t sent = 0;
  while (sent < wire.size()) {
    ssize_t n = send(fd_, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::UnavailableError(absl::StrCat("redis send: ", std::strerror(errno)));
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status RedisClient::Fill() {
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  char chunk[16384];
  while (true) {
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(absl::StrCat("redis recv: ", std::strerror(errno)));
    if (n == 0) return absl::UnavailableError("redis closed the connection");
    buffer_.append(chunk, static_cast<size_t>(n));
    return absl::OkStatus();
  }
}

absl::StatusOr<std::string> RedisClient::ReadLine() {
  while (true) {
    size_t end = buffer_.find("\r\n", consumed_);
    if (end != std::string::npos) {
      std::string line = buffer_.substr(consumed_, end - consumed_);
      consumed_ = end + 2;
      return line;
    }
    if (absl::Status s = Fill(); !s.ok()) return s;
  }
}

absl::StatusOr<std::string> RedisClient::Read() {
  absl::StatusOr<std::string> line = ReadLine();
  if (!line.ok()) return line.status();
  if (line->empty()) return absl::DataLossError("redis: empty reply line");
  const char type = (*line)[0];
  std::string rest = line->substr(1);
  if (type == '+' || type == ':') return rest;
  if (type == '-') return absl::FailedPreconditionError(absl::StrCat("redis: ", rest));
  int64_t length = 0;
  if ((type != '$' && type != '*') || !absl::SimpleAtoi(rest, &length)) {
    return absl::DataLossError(absl::StrCat("redis: unexpected reply ", *line));
  }
  if (length < 0) return std::string();
  if (type == '$') {
    const size_t need = static_cast<size_t>(length) + 2;
    while (buffer_.size() - consumed_ < need) {
      if (absl::Status s = Fill(); !s.ok()) return s;
    }
    std::string value = buffer_.substr(consumed_, static_cast<size_t>(length));
    consumed_ += need;
    return value;
  }
  std::string joined;
  for (int64_t i = 0; i < length; ++i) {
    absl::StatusOr<std::string> element = Read();
    if (!element.ok()) return element.status();
    absl::StrAppend(&joined, i == 0 ? "" : "\n", *element);
  }
  return joined;
}

absl::StatusOr<std::string> RedisClient::Call(const std::vector<std::string>& args) {
  if (absl::Status s = Send(args); !s.ok()) return s;
  return Read();
}

uint64_t RedisClient::Drain() {
  uint64_t total = buffer_.size() - consumed_;
  buffer_.clear();
  consumed_ = 0;
  char chunk[65536];
  while (true) {
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return total;
    total += static_cast<uint64_t>(n);
  }
}

void RedisClient::Shutdown() { shutdown(fd_, SHUT_RDWR); }

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const RedisServerOptions& options) {
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.binary, " is missing: apt-get install redis-server"));
  }
  std::vector<std::string> persistence_args = {"--save", "", "--appendonly", "no"};
  std::string persistence = "off";
  if (!options.appendfsync.empty()) {
    if (options.appendfsync != "no" && options.appendfsync != "everysec" &&
        options.appendfsync != "always") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--redis_appendfsync must be no, everysec or always, got ", options.appendfsync));
    }
    persistence_args = {"--save", "", "--appendonly", "yes", "--appendfsync", options.appendfsync};
    persistence = absl::StrCat("aof appendfsync=", options.appendfsync);
  }
  // redis-server changes into --dir before it opens --logfile: both absolute.
  std::error_code error;
  std::string dir = std::filesystem::absolute(options.work_dir, error).string();
  if (error) dir = options.work_dir;
  const std::string log_path = dir + "/redis.log";
  absl::Status last;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int port = RandomRedisPort();
    std::vector<std::string> args = {
        options.binary, "--port", std::to_string(port), "--bind",    "127.0.0.1", "--daemonize",
        "no",           "--dir",  options.work_dir,     "--logfile", log_path};
    args.insert(args.end(), persistence_args.begin(), persistence_args.end());
    absl::StatusOr<pid_t> pid = SpawnChild(args, STDERR_FILENO, STDERR_FILENO);
    if (!pid.ok()) return pid.status();
    std::unique_ptr<RedisServer> server(new RedisServer(*pid, port, log_path, persistence));
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    bool exited = false;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(*pid, &status, WNOHANG) == *pid) {
        exited = true;
        server->pid_ = 0;
        break;
      }
      absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Connect(port);
      if (client.ok()) {
        absl::StatusOr<std::string> pong = (*client)->Call({"PING"});
        if (pong.ok() && *pong == "PONG") return server;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    last = absl::UnavailableError(absl::StrCat("redis-server on port ", port,
                                               exited ? " exited" : " did not answer PING",
                                               "; log:\n", FileTail(log_path)));
    // Only a taken port is worth another try.
    if (!exited || FileTail(log_path).find("in use") == std::string::npos) return last;
  }
  return last;
}

RedisServer::~RedisServer() {
  if (pid_ > 0) StopChild(pid_);
}

std::string RedisServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

}  // namespace wirehub::bench

#include "tools/bench/peer_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "tools/bench/child_process.h"

namespace wirehub::bench {
namespace {

constexpr const char* kNginxBinary = "/usr/sbin/nginx";
constexpr const char* kNatsBinaries[] = {"/usr/sbin/nats-server", "/usr/bin/nats-server"};
// Where Debian's libnginx-mod-nchan puts the module (the second is the
// modules/ directory of nginx's prefix, a link to the first).
constexpr const char* kNchanModules[] = {"/usr/lib/nginx/modules/ngx_nchan_module.so",
                                         "/usr/share/nginx/modules/ngx_nchan_module.so"};
constexpr const char* kNginxPackages[] = {"nginx", "nginx-light", "nginx-core", "nginx-full",
                                          "nginx-extras"};

constexpr int kStartTimeoutMs = 5000;
constexpr int kStopTimeoutMs = 3000;

bool IsExecutable(const char* path) { return access(path, X_OK) == 0; }
bool IsReadable(const char* path) { return access(path, R_OK) == 0; }

const char* NchanModulePath() {
  for (const char* path : kNchanModules) {
    if (IsReadable(path)) return path;
  }
  return kNchanModules[0];
}

const char* NatsBinary() {
  for (const char* path : kNatsBinaries) {
    if (IsExecutable(path)) return path;
  }
  return kNatsBinaries[0];
}

// Reads the file at `path` whole; false when it cannot be opened or read.
bool ReadFile(const std::string& path, std::string* contents) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  contents->clear();
  char buffer[16384];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return n == 0;
    }
    contents->append(buffer, static_cast<size_t>(n));
  }
}

// Names of the packages dpkg's database reports as installed ("Status:
// install ok installed"); false when the database cannot be read.
bool InstalledPackages(std::set<std::string>* installed) {
  std::string status;
  if (!ReadFile("/var/lib/dpkg/status", &status)) return false;
  std::string_view rest = status;
  std::string_view package;
  while (!rest.empty()) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    if (line.empty()) {
      package = {};
    } else if (line.substr(0, 9) == "Package: ") {
      package = line.substr(9);
    } else if (line.substr(0, 8) == "Status: " && !package.empty() && line.size() >= 10 &&
               line.substr(line.size() - 10) == " installed") {
      installed->emplace(package);
    }
  }
  return true;
}

std::string ErrnoText(std::string_view what) {
  return absl::StrCat(AsAbsl(what), ": ", std::strerror(errno));
}

// A string in double quotes for nginx's and nats-server's configuration
// parsers, both of which take backslash escapes inside quotes.
std::string Quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string InWorkDir(const PeerOptions& options, std::string_view name) {
  return absl::StrCat(options.work_dir, "/", AsAbsl(name));
}

// Whether something on 127.0.0.1:`port` accepts a TCP connection within
// `timeout_ms`. On loopback a connect is answered at once: accepted, or
// refused when nothing listens.
bool AcceptsTcp(int port, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool accepted = false;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    accepted = true;
  } else if (errno == EINPROGRESS) {
    pollfd entry{fd, POLLOUT, 0};
    if (poll(&entry, 1, timeout_ms) == 1) {
      int error = 0;
      socklen_t size = sizeof(error);
      accepted = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error == 0;
    }
  }
  close(fd);
  return accepted;
}

int64_t MonotonicMs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1000 + now.tv_nsec / 1000000;
}

void SleepMs(int ms) {
  timespec duration{ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&duration, &duration) != 0 && errno == EINTR) {
  }
}

// The children of process `pid`, from /proc/PID/task/TID/children of each
// of its threads.
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::string contents;
  // nginx's master has one thread; the file lists children that thread
  // forked.
  if (!ReadFile(absl::StrCat("/proc/", pid, "/task/", pid, "/children"), &contents)) {
    return children;
  }
  std::string_view rest = contents;
  while (!rest.empty()) {
    size_t end = rest.find(' ');
    std::string_view field = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    pid_t child = 0;
    auto result = std::from_chars(field.data(), field.data() + field.size(), child);
    if (result.ec == std::errc() && child > 0) children.push_back(child);
  }
  return children;
}

absl::Status ValidateOptions(PeerKind kind, const PeerOptions& options) {
  struct stat info;
  if (options.work_dir.empty() || stat(options.work_dir.c_str(), &info) != 0 ||
      !S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer work_dir \"", options.work_dir, "\" is not a directory"));
  }
  for (int port : {options.ws_port, options.publish_port}) {
    if (port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("peer port ", port, " out of range"));
    }
  }
  if (kind == PeerKind::kNats && options.ws_port == options.publish_port) {
    return absl::InvalidArgumentError("nats needs different WebSocket and client ports");
  }
  if (options.max_connections < 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer max_connections ", options.max_connections, " too small"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view PeerName(PeerKind kind) {
  switch (kind) {
    case PeerKind::kNchan:
      return "nchan";
    case PeerKind::kNats:
      return "nats";
  }
  return "unknown";
}

std::vector<std::string> MissingPeerPackages(PeerKind kind) {
  std::set<std::string> installed;
  const bool have_database = InstalledPackages(&installed);
  auto is_installed = [&](const char* package) {
    return !have_database || installed.count(package) > 0;
  };
  std::vector<std::string> missing;
  switch (kind) {
    case PeerKind::kNchan: {
      bool nginx = false;
      for (const char* package : kNginxPackages) nginx = nginx || is_installed(package);
      if (!nginx || !IsExecutable(kNginxBinary)) missing.push_back("nginx-light");
      if (!is_installed("libnginx-mod-nchan") || !IsReadable(NchanModulePath())) {
        missing.push_back("libnginx-mod-nchan");
      }
      break;
    }
    case PeerKind::kNats:
      if (!is_installed("nats-server") || !IsExecutable(NatsBinary())) {
        missing.push_back("nats-server");
      }
      break;
  }
  return missing;
}

std::string NchanConfig(const PeerOptions& options) {
  std::string config = "# nginx + Nchan peer, written by wirehub-bench.\n";
  absl::StrAppend(&config, "load_module ", Quoted(NchanModulePath()), ";\n");
  config.append(
      "daemon off;\n"
      "master_process on;\n"
      "worker_processes 1;\n");
  absl::StrAppend(&config, "worker_rlimit_nofile ", options.max_connections, ";\n");
  absl::StrAppend(&config, "pid ", Quoted(InWorkDir(options, "nginx.pid")), ";\n");
  absl::StrAppend(&config, "error_log ", Quoted(InWorkDir(options, "error.log")), " warn;\n");
  // Without a `user` directive a root master runs its worker as nobody,
  // which cannot enter a private work_dir; nothing the worker does needs
  // it: request bodies up to 1 MiB stay in memory (client_body_buffer_size)
  // and the master opens the error log.
  absl::StrAppend(&config, "\nevents {\n  worker_connections ", options.max_connections,
                  ";\n}\n\nhttp {\n");
  config.append(
      "  access_log off;\n"
      "  default_type text/plain;\n");
  for (const char* kind : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"}) {
    absl::StrAppend(&config, "  ", kind, "_temp_path ",
                    Quoted(InWorkDir(options, absl::StrCat(kind, "_temp"))), ";\n");
  }
  config.append(
      "  client_max_body_size 1m;\n"
      "  client_body_buffer_size 1m;\n"
      "  # One keep-alive connection per publisher for the whole run: nginx\n"
      "  # otherwise closes it after 1000 requests or 1 h.\n"
      "  keepalive_requests 1000000000;\n"
      "  keepalive_time 24h;\n"
      "  keepalive_timeout 1h;\n"
      "  # A short backlog per channel, so memory does not grow with the run.\n"
      "  nchan_message_buffer_length 5;\n"
      "  nchan_message_timeout 10s;\n"
      "\n"
      "  server {\n");
  absl::StrAppend(&config, "    listen 127.0.0.1:", options.ws_port, ";\n");
  if (options.publish_port != options.ws_port) {
    absl::StrAppend(&config, "    listen 127.0.0.1:", options.publish_port, ";\n");
  }
  config.append(
      "    # Channel names: letters, digits, '_', ':' and '-'.\n"
      "    location ~ ^/sub/([\\w:-]+)$ {\n"
      "      nchan_subscriber websocket;\n"
      "      nchan_channel_id $1;\n"
      "      # A new subscriber waits for the next message, no backlog.\n"
      "      nchan_subscriber_first_message newest;\n"
      "    }\n"
      "    location ~ ^/pub/([\\w:-]+)$ {\n"
      "      nchan_publisher http;\n"
      "      nchan_channel_id $1;\n"
      "    }\n"
      "  }\n"
      "}\n");
  return config;
}

std::string NatsConfig(const PeerOptions& options) {
  std::string config = "# nats-server peer, written by wirehub-bench.\n";
  absl::StrAppend(&config, "listen: \"127.0.0.1:", options.publish_port, "\"\n");
  absl::StrAppend(&config, "websocket {\n  listen: \"127.0.0.1:", options.ws_port,
                  "\"\n  no_tls: true\n}\n");
  absl::StrAppend(&config, "pid_file: ", Quoted(InWorkDir(options, "nats-server.pid")), "\n");
  absl::StrAppend(&config, "log_file: ", Quoted(InWorkDir(options, "nats-server.log")), "\n");
  absl::StrAppend(&config, "max_connections: ", options.max_connections, "\n");
  config.append(
      "# A fan-out burst can keep a subscriber's socket full for a while.\n"
      "write_deadline: \"30s\"\n");
  return config;
}

absl::StatusOr<std::unique_ptr<PeerServer>> PeerServer::Start(PeerKind kind,
                                                              const PeerOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(kind, options));
  std::vector<std::string> missing = MissingPeerPackages(kind);
  if (!missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        AsAbsl(PeerName(kind)), " needs: apt-get install ", absl::StrJoin(missing, " ")));
  }
  for (int port : {options.ws_port, options.publish_port}) {
    if (AcceptsTcp(port, 200)) {
      return absl::AlreadyExistsError(
          absl::StrCat("something already accepts connections on 127.0.0.1:", port));
    }
  }

  std::unique_ptr<PeerServer> peer(new PeerServer(kind, options));
  std::vector<std::string> args;
  std::string out_path;
  if (kind == PeerKind::kNchan) {
    const std::string config_path = InWorkDir(options, "nginx.conf");
    RETURN_IF_ERROR(WriteFile(config_path, NchanConfig(options)));
    // -e: nginx logs to its compiled-in default until it has read the
    // configuration; keep that in work_dir too.
    args = {kNginxBinary, "-p", options.work_dir + "/",         "-c",
            config_path,  "-e", InWorkDir(options, "error.log")};
    out_path = InWorkDir(options, "nginx.out");
  } else {
    const std::string config_path = InWorkDir(options, "nats-server.conf");
    RETURN_IF_ERROR(WriteFile(config_path, NatsConfig(options)));
    args = {NatsBinary(), "-c", config_path};
    out_path = InWorkDir(options, "nats-server.out");
  }

  int out_fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) return absl::InternalError(ErrnoText(absl::StrCat("create ", out_path)));
  absl::StatusOr<pid_t> pid = SpawnChild(args, out_fd, out_fd);
  close(out_fd);
  if (!pid.ok()) return pid.status();
  peer->pid_ = *pid;
  RETURN_IF_ERROR(peer->WaitReady(kStartTimeoutMs));
  return peer;
}

absl::Status PeerServer::WaitReady(int timeout_ms) {
  const int64_t deadline = MonotonicMs() + timeout_ms;
  for (;;) {
    if (Reap()) {
      std::string log = RecentLog();
      const std::string lower = absl::AsciiStrToLower(log);
      std::string message = absl::StrCat(AsAbsl(PeerName(kind_)), " exited during start (",
                                         DescribeExit(exit_status_), ")\n", log);
      if (absl::StrContains(lower, "address already in use")) {
        return absl::AlreadyExistsError(message);
      }
      return absl::UnavailableError(message);
    }
    bool ready = AcceptsTcp(options_.ws_port, 100) && (options_.publish_port == options_.ws_port ||
                                                       AcceptsTcp(options_.publish_port, 100));
    // nginx's master listens before its worker runs; the worker's CPU time
    // is the cost to measure, so wait for it as well.
    if (ready && kind_ == PeerKind::kNchan) ready = !ChildrenOf(pid_).empty();
    if (ready) return absl::OkStatus();
    if (MonotonicMs() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(AsAbsl(PeerName(kind_)), " not ready after ",
                                                      timeout_ms, " ms\n", RecentLog()));
    }
    SleepMs(10);
  }
}

bool PeerServer::Reap() {
  if (exited_) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t result = waitpid(pid_, &status, WNOHANG);
  if (result == pid_ || (result < 0 && errno == ECHILD)) {
    exited_ = true;
    exit_status_ = status;
  }
  return exited_;
}

PeerServer::~PeerServer() {
  if (pid_ <= 0 || Reap()) return;
  // nginx's workers, for the SIGKILL below: a killed master leaves them.
  const std::vector<pid_t> workers = ChildrenOf(pid_);
  kill(pid_, SIGTERM);
  const int64_t deadline = MonotonicMs() + kStopTimeoutMs;
  while (!Reap() && MonotonicMs() < deadline) SleepMs(5);
  if (exited_) return;
  kill(pid_, SIGKILL);
  for (pid_t worker : workers) kill(worker, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exited_ = true;
}

std::vector<pid_t> PeerServer::pids() const {
  std::vector<pid_t> pids;
  if (pid_ <= 0 || exited_) return pids;
  pids.push_back(pid_);
  if (kind_ == PeerKind::kNchan) {
    for (pid_t child : ChildrenOf(pid_)) pids.push_back(child);
  }
  return pids;
}

std::string PeerServer::WsResource(std::string_view channel) const {
  if (kind_ == PeerKind::kNchan) return absl::StrCat("/sub/", AsAbsl(channel));
  return "/";
}

absl::Status PeerServer::CheckRunning() {
  if (!Reap()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat(AsAbsl(PeerName(kind_)), " exited (",
                                             DescribeExit(exit_status_), ")\n", RecentLog()));
}

std::vector<std::string> PeerServer::LogPaths() const {
  if (kind_ == PeerKind::kNchan) {
    return {InWorkDir(options_, "error.log"), InWorkDir(options_, "nginx.out")};
  }
  return {InWorkDir(options_, "nats-server.log"), InWorkDir(options_, "nats-server.out")};
}

std::string PeerServer::RecentLog(size_t bytes) const {
  std::string out;
  for (const std::string& path : LogPaths()) {
    std::string tail = FileTail(path, bytes);
    if (tail.empty()) continue;
    absl::StrAppend(&out, "--- ", path, " (end) ---\n", tail);
    if (tail.back() != '\n') out.push_back('\n');
  }
  return out;
}

}  // namespace wirehub::bench

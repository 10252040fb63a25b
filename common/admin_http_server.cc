#include "common/admin_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/logging.h"

namespace wirehub {
namespace {

std::string_view Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string Render(const AdminResponse& response, bool head, bool allow_header) {
  std::string out = absl::StrCat("HTTP/1.1 ", response.status, " ", AsAbsl(Reason(response.status)),
                                 "\r\nContent-Type: ", response.content_type,
                                 "\r\nContent-Length: ", response.body.size(),
                                 "\r\nCache-Control: no-store\r\nConnection: close\r\n");
  if (allow_header) out.append("Allow: GET, HEAD\r\n");
  out.append("\r\n");
  if (!head) out.append(response.body);
  return out;
}

AdminResponse Text(int status, std::string body) {
  return AdminResponse{status, "text/plain; charset=utf-8", std::move(body)};
}

// One accepted connection: its request head as it arrives, then the answer
// as it leaves.
struct Client {
  int fd = -1;
  absl::Time deadline;
  std::string in;
  std::string out;
  size_t written = 0;
  bool responding = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(
    AdminHttpServerOptions options, std::map<std::string, Handler> routes) {
  size_t colon = options.listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--admin_listen must be HOST:PORT, got '", options.listen, "'"));
  }
  std::string host = options.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (int error =
          getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("admin listener ", options.listen, ": ", gai_strerror(error)));
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(found);
    return absl::InternalError(absl::StrCat("admin listener: socket: ", std::strerror(errno)));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 64) != 0) {
    int error = errno;
    freeaddrinfo(found);
    close(fd);
    return absl::UnavailableError(absl::StrCat("admin listener: cannot listen on ", options.listen,
                                               ": ", std::strerror(error)));
  }
  freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  int bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("admin listener: eventfd: ", std::strerror(errno)));
  }
  std::unique_ptr<AdminHttpServer> server(
      new AdminHttpServer(std::move(options), std::move(routes), fd, wake, bound_port));
  server->thread_ = std::thread([raw = server.get()] { raw->Run(); });
  return server;
}

AdminHttpServer::AdminHttpServer(AdminHttpServerOptions options,
                                 std::map<std::string, Handler> routes, int listen_fd, int wake_fd,
                                 int port)
    : options_(std::move(options)),
      routes_(std::move(routes)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port) {}

AdminHttpServer::~AdminHttpServer() {
  Stop();
  close(listen_fd_);
  close(wake_fd_);
}

void AdminHttpServer::Stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof(one));
  (void)ignored;
  if (thread_.joinable()) thread_.join();
}

void AdminHttpServer::Run() {
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  // Out of descriptors, accept() fails while the listener stays readable:
  // leave it alone for a moment instead of spinning.
  absl::Time accept_paused_until = absl::InfinitePast();
  auto respond = [this](Client* client) {
    // The request line: METHOD SP PATH SP VERSION.
    std::string_view head(client->in);
    std::string_view line = head.substr(0, head.find("\r\n"));
    size_t first = line.find(' ');
    size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    client->responding = true;
    if (second == std::string_view::npos) {
      client->out = Render(Text(400, "malformed request line\n"), false, false);
      return;
    }
    std::string_view method = line.substr(0, first);
    std::string_view target = line.substr(first + 1, second - first - 1);
    std::string_view path = target.substr(0, target.find('?'));
    const bool head_only = method == "HEAD";
    if (method != "GET" && !head_only) {
      client->out = Render(Text(405, "only GET and HEAD\n"), false, true);
      return;
    }
    auto route = routes_.find(std::string(path));
    if (route == routes_.end()) {
      client->out = Render(Text(404, "not found\n"), head_only, false);
      return;
    }
    client->out = Render(route->second(), head_only, false);
  };

  while (!stopping_.load()) {
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    absl::Time now = absl::Now();
    // Full, the listener is still read: a newcomer takes the place of the
    // oldest connection that has not sent its request (idle sockets cannot
    // keep probes out), unless every one is being answered.
    const bool accepting = now >= accept_paused_until &&
                           (static_cast<int>(clients.size()) < options_.max_connections ||
                            std::any_of(clients.begin(), clients.end(),
                                        [](const Client& client) { return !client.responding; }));
    fds.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    absl::Duration wait = accepting ? absl::Seconds(1) : absl::Milliseconds(100);
    for (const Client& client : clients) {
      fds.push_back({client.fd, static_cast<short>(client.responding ? POLLOUT : POLLIN), 0});
      wait = std::min(wait, client.deadline - now);
    }
    int timeout_ms = static_cast<int>(
        std::max<int64_t>(0, absl::ToInt64Milliseconds(wait + absl::Milliseconds(1))));
    if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
      WH_LOG(ERROR) << "admin listener: poll: " << std::strerror(errno);
      break;
    }
    if (stopping_.load()) break;
    now = absl::Now();
    // Client i is fds[i + 2]; handle them before accepting so the indices
    // still match.
    for (size_t i = 0; i < clients.size(); ++i) {
      Client& client = clients[i];
      const short events = fds[i + 2].revents;
      bool done = false;
      if (!client.responding && (events & (POLLIN | POLLHUP | POLLERR))) {
        char buffer[2048];
        ssize_t n = read(client.fd, buffer, sizeof(buffer));
        if (n <= 0) {
          done = n == 0 || (errno != EAGAIN && errno != EINTR);
        } else {
          client.in.append(buffer, static_cast<size_t>(n));
          if (client.in.find("\r\n\r\n") != std::string::npos) {
            client.deadline = now + options_.write_timeout;
            respond(&client);
          } else if (client.in.size() > options_.max_request_bytes) {
            client.deadline = now + options_.write_timeout;
            client.responding = true;
            client.out = Render(Text(431, "request head too large\n"), false, false);
          }
        }
      }
      if (!done && client.responding && (events & (POLLOUT | POLLHUP | POLLERR))) {
        ssize_t n = send(client.fd, client.out.data() + client.written,
                         client.out.size() - client.written, MSG_NOSIGNAL);
        if (n < 0) {
          done = errno != EAGAIN && errno != EINTR;
        } else {
          client.written += static_cast<size_t>(n);
          done = client.written == client.out.size();
        }
      }
      if (!done && now >= client.deadline) {
        if (!client.responding) {
          // Best effort: the answer fits a socket buffer.
          std::string timeout = Render(Text(408, "request not complete in time\n"), false, false);
          ssize_t ignored = send(client.fd, timeout.data(), timeout.size(), MSG_NOSIGNAL);
          (void)ignored;
        }
        done = true;
      }
      if (done) {
        close(client.fd);
        client.fd = -1;
      }
    }
    std::erase_if(clients, [](const Client& client) { return client.fd < 0; });
    if (accepting && (fds[1].revents & POLLIN)) {
      for (;;) {
        const bool full = static_cast<int>(clients.size()) >= options_.max_connections;
        auto oldest_idle = clients.end();
        for (auto it = clients.begin(); full && it != clients.end(); ++it) {
          if (!it->responding &&
              (oldest_idle == clients.end() || it->deadline < oldest_idle->deadline)) {
            oldest_idle = it;
          }
        }
        if (full && oldest_idle == clients.end()) break;
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            accept_paused_until = now + absl::Milliseconds(100);
          }
          break;
        }
        if (full) {
          close(oldest_idle->fd);
          clients.erase(oldest_idle);
        }
        clients.push_back(Client{fd, now + options_.read_timeout, {}, {}, 0, false});
      }
    }
  }
  for (Client& client : clients) close(client.fd);
}

}  // namespace wirehub

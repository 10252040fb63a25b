#include "tools/wirehubctl/tcp_connect.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace wirehub::ctl {
namespace {

// One getaddrinfo() call, shared by the caller and the thread that makes it:
// whichever lets go last frees the answer, so a caller that gave up on a
// slow lookup leaves nothing dangling.
struct Lookup {
  std::string host;
  std::string service;
  absl::Notification done;
  int error = 0;
  int system_errno = 0;
  addrinfo* result = nullptr;

  void Run() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // No AI_ADDRCONFIG: it hides "localhost" in a network namespace with
    // only a loopback interface.
    error = getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
    if (error == EAI_SYSTEM) system_errno = errno;
    done.Notify();
  }

  ~Lookup() {
    if (result != nullptr) freeaddrinfo(result);
  }
};

// Connects the non-blocking `fd` to `address`; "" on success, else why not.
// DeadlineExceeded is reported as the status, other failures as text.
absl::StatusOr<std::string> ConnectOne(int fd, const SocketAddress& address, absl::Time deadline) {
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address.storage), address.size) == 0) {
    return std::string();
  }
  if (errno != EINPROGRESS) return std::string(std::strerror(errno));
  absl::Status ready = WaitForFd(fd, POLLOUT, deadline);
  if (!ready.ok()) return ready;
  int error = 0;
  socklen_t error_size = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_size) != 0) error = errno;
  return error == 0 ? std::string() : std::string(std::strerror(error));
}

}  // namespace

std::string SocketAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = "?";
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof(text));
  } else if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
              sizeof(text));
  }
  return text;
}

absl::Status WaitForFd(int fd, short events, absl::Time deadline) {
  while (true) {
    int timeout_ms = -1;
    if (deadline != absl::InfiniteFuture()) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) {
        return absl::DeadlineExceededError("deadline exceeded");
      }
      // Rounded up, so poll() does not return just before the deadline.
      timeout_ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(left + absl::Microseconds(999)), INT_MAX));
    }
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
    }
    if (ready > 0) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<SocketAddress>> ResolveHost(const std::string& host, uint16_t port,
                                                       absl::Time deadline) {
  std::vector<SocketAddress> addresses;
  auto append = [&addresses](const addrinfo* list) {
    for (const addrinfo* entry = list; entry != nullptr; entry = entry->ai_next) {
      if ((entry->ai_family != AF_INET && entry->ai_family != AF_INET6) ||
          entry->ai_addrlen > sizeof(sockaddr_storage)) {
        continue;
      }
      SocketAddress address;
      std::memcpy(&address.storage, entry->ai_addr, entry->ai_addrlen);
      address.size = entry->ai_addrlen;
      addresses.push_back(address);
    }
  };
  const std::string service = absl::StrCat(port);

  addrinfo numeric_hints{};
  numeric_hints.ai_family = AF_UNSPEC;
  numeric_hints.ai_socktype = SOCK_STREAM;
  numeric_hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* numeric = nullptr;
  if (getaddrinfo(host.c_str(), service.c_str(), &numeric_hints, &numeric) == 0) {
    append(numeric);
    freeaddrinfo(numeric);
    return addresses;
  }

  auto lookup = std::make_shared<Lookup>();
  lookup->host = host;
  lookup->service = service;
  if (deadline == absl::InfiniteFuture()) {
    lookup->Run();
  } else {
    std::thread([lookup] { lookup->Run(); }).detach();
    if (!lookup->done.WaitForNotificationWithDeadline(deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect: resolving '", host, "': deadline exceeded"));
    }
  }
  if (lookup->error != 0) {
    std::string why = lookup->error == EAI_SYSTEM ? std::strerror(lookup->system_errno)
                                                  : gai_strerror(lookup->error);
    return absl::UnavailableError(absl::StrCat("connect: cannot resolve '", host, "': ", why));
  }
  append(lookup->result);
  if (addresses.empty()) {
    return absl::UnavailableError(
        absl::StrCat("connect: cannot resolve '", host, "': no IPv4 or IPv6 address"));
  }
  return addresses;
}

absl::StatusOr<int> ConnectTcp(const std::vector<SocketAddress>& addresses, const std::string& peer,
                               absl::Time deadline) {
  if (addresses.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("connect to ", peer, ": no address"));
  }
  std::string last_error;
  std::vector<std::string> tried;
  for (size_t i = 0; i < addresses.size(); ++i) {
    const SocketAddress& address = addresses[i];
    const size_t left = addresses.size() - i;
    absl::Time attempt_deadline = deadline;
    if (left > 1 && deadline != absl::InfiniteFuture()) {
      attempt_deadline = absl::Now() + (deadline - absl::Now()) / static_cast<int64_t>(left);
    }
    tried.push_back(address.ToString());
    int fd = socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = absl::StrCat("socket: ", std::strerror(errno));
      continue;
    }
    absl::StatusOr<std::string> failure = ConnectOne(fd, address, attempt_deadline);
    if (failure.ok() && failure->empty()) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      return fd;
    }
    close(fd);
    if (!failure.ok()) {
      if (absl::IsDeadlineExceeded(failure.status()) && absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("connect to ", peer, ": ", failure.status().message()));
      }
      last_error = std::string(failure.status().message());
    } else {
      last_error = *std::move(failure);
    }
  }
  std::string message = absl::StrCat("connect to ", peer, ": ", last_error);
  if (tried.size() > 1) absl::StrAppend(&message, " (tried ", absl::StrJoin(tried, ", "), ")");
  return absl::UnavailableError(message);
}

}  // namespace wirehub::ctl

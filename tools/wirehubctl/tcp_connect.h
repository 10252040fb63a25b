// Resolving a host and opening a TCP connection to it within a deadline, for
// wirehubctl's WebSocket client.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_TCP_CONNECT_H_
#define WIREHUB_TOOLS_WIREHUBCTL_TCP_CONNECT_H_

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub::ctl {

// SocketAddress is one address to connect to.
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t size = 0;

  int family() const { return storage.ss_family; }
  // "127.0.0.1" or "::1", without the port.
  std::string ToString() const;
};

// ResolveHost()
//
// The addresses of `host` (a numeric IPv4 or IPv6 address, or a name) with
// `port`, in getaddrinfo()'s order (AF_UNSPEC, SOCK_STREAM). A numeric host
// is converted without a lookup; a name is looked up on a thread of its own
// so that a slow resolver cannot hold the caller past `deadline`.
//
// Errors: Unavailable "connect: cannot resolve 'NAME': <gai_strerror>",
// DeadlineExceeded when `deadline` passes first.
absl::StatusOr<std::vector<SocketAddress>> ResolveHost(const std::string& host, uint16_t port,
                                                       absl::Time deadline);

// ConnectTcp()
//
// Connects to each of `addresses` in order until one accepts, and returns
// the connected non-blocking socket (close-on-exec, TCP_NODELAY); the caller
// owns it. Each attempt may take an equal share of the time left, the last
// one all of it, so one silent address cannot use up the whole deadline.
// `peer` ("HOST:PORT") names the server in messages.
//
// Errors: Unavailable "connect to PEER: <why>" when every address failed
// (with the addresses tried when there were several), DeadlineExceeded when
// `deadline` passed, InvalidArgument for an empty list.
absl::StatusOr<int> ConnectTcp(const std::vector<SocketAddress>& addresses, const std::string& peer,
                               absl::Time deadline);

// WaitForFd()
//
// Waits until `fd` is ready for poll() `events` (or has an error or hang-up)
// or `deadline` passes (DeadlineExceeded); absl::InfiniteFuture() waits
// forever.
absl::Status WaitForFd(int fd, short events, absl::Time deadline);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_TCP_CONNECT_H_

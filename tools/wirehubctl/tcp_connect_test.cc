#include "tools/wirehubctl/tcp_connect.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::ctl {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Time Deadline() { return absl::Now() + absl::Seconds(5); }

// A socket bound to a free port on 127.0.0.1; listening when `listen` is
// set, else connecting to it is refused.
class LoopbackPort {
 public:
  explicit LoopbackPort(bool listening) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), size), 0);
    if (listening) {
      EXPECT_EQ(listen(fd_, 4), 0);
    }
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size), 0);
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackPort() { close(fd_); }

  uint16_t port() const { return port_; }
  SocketAddress address() const {
    absl::StatusOr<std::vector<SocketAddress>> resolved =
        ResolveHost("127.0.0.1", port_, Deadline());
    EXPECT_TRUE(resolved.ok()) << resolved.status();
    return resolved.ok() ? resolved->front() : SocketAddress();
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(ResolveHostTest, NumericAddressesNeedNoLookup) {
  absl::StatusOr<std::vector<SocketAddress>> addresses = ResolveHost("127.0.0.1", 80, Deadline());
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  ASSERT_EQ(addresses->size(), 1u);
  EXPECT_EQ((*addresses)[0].family(), AF_INET);
  EXPECT_EQ((*addresses)[0].ToString(), "127.0.0.1");

  addresses = ResolveHost("::1", 443, Deadline());
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  ASSERT_EQ(addresses->size(), 1u);
  EXPECT_EQ((*addresses)[0].family(), AF_INET6);
  EXPECT_EQ((*addresses)[0].ToString(), "::1");
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in6*>(&(*addresses)[0].storage)->sin6_port), 443);
}

TEST(ResolveHostTest, LocalhostIsLookedUp) {
  absl::StatusOr<std::vector<SocketAddress>> addresses = ResolveHost("localhost", 8000, Deadline());
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  ASSERT_FALSE(addresses->empty());
  for (const SocketAddress& address : *addresses) {
    EXPECT_TRUE(address.ToString() == "127.0.0.1" || address.ToString() == "::1")
        << address.ToString();
  }
}

TEST(ResolveHostTest, UnresolvableName) {
  absl::StatusOr<std::vector<SocketAddress>> addresses =
      ResolveHost("nonexistent.invalid", 80, Deadline());
  EXPECT_EQ(addresses.status().code(), absl::StatusCode::kUnavailable) << addresses.status();
  EXPECT_THAT(std::string(addresses.status().message()),
              StartsWith("connect: cannot resolve 'nonexistent.invalid': "));
}

TEST(ResolveHostTest, DeadlineAlreadyPassed) {
  // The lookup may still answer first; either way the caller is not held.
  absl::Time start = absl::Now();
  absl::StatusOr<std::vector<SocketAddress>> addresses =
      ResolveHost("nonexistent.invalid", 80, absl::Now() - absl::Seconds(1));
  EXPECT_FALSE(addresses.ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(ConnectTcpTest, TriesEachAddressInTurn) {
  LoopbackPort refused(/*listening=*/false);
  LoopbackPort open(/*listening=*/true);
  absl::StatusOr<int> fd =
      ConnectTcp({refused.address(), open.address()}, "edge.test:1", Deadline());
  ASSERT_TRUE(fd.ok()) << fd.status();
  sockaddr_in peer{};
  socklen_t size = sizeof(peer);
  ASSERT_EQ(getpeername(*fd, reinterpret_cast<sockaddr*>(&peer), &size), 0);
  EXPECT_EQ(ntohs(peer.sin_port), open.port());
  close(*fd);
}

TEST(ConnectTcpTest, EveryAddressRefused) {
  LoopbackPort first(/*listening=*/false);
  LoopbackPort second(/*listening=*/false);
  absl::StatusOr<int> fd =
      ConnectTcp({first.address(), second.address()}, "edge.test:8000", Deadline());
  EXPECT_EQ(fd.status().code(), absl::StatusCode::kUnavailable) << fd.status();
  EXPECT_THAT(std::string(fd.status().message()), StartsWith("connect to edge.test:8000: "));
  EXPECT_THAT(fd.status().message(), HasSubstr("refused"));
  EXPECT_THAT(fd.status().message(), HasSubstr("(tried 127.0.0.1, 127.0.0.1)"));

  fd = ConnectTcp({first.address()}, "edge.test:8000", Deadline());
  EXPECT_THAT(fd.status().message(), ::testing::Not(HasSubstr("tried")));
  EXPECT_EQ(ConnectTcp({}, "edge.test:8000", Deadline()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace wirehub::ctl

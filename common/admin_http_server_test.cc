#include "common/admin_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  return fd;
}

// Reads until the server closes, at most 5 s.
std::string ReadAll(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

std::string Request(int port, const std::string& request) {
  int fd = Connect(port);
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string response = ReadAll(fd);
  close(fd);
  return response;
}

std::unique_ptr<AdminHttpServer> StartServer(AdminHttpServerOptions options = {}) {
  std::map<std::string, AdminHttpServer::Handler> routes;
  routes["/healthz"] = [] { return AdminResponse{200, "text/plain; charset=utf-8", "ok\n"}; };
  routes["/readyz"] = [] { return AdminResponse{503, "text/plain; charset=utf-8", "draining\n"}; };
  absl::StatusOr<std::unique_ptr<AdminHttpServer>> server =
      AdminHttpServer::Start(std::move(options), std::move(routes));
  EXPECT_TRUE(server.ok()) << server.status();
  return *std::move(server);
}

TEST(AdminHttpServerTest, ServesRoutes) {
  auto server = StartServer();
  std::string response = Request(server->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\nok\n"));
  response = Request(server->port(), "GET /readyz?verbose=1 HTTP/1.0\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 503 Service Unavailable\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\ndraining\n"));
}

TEST(AdminHttpServerTest, HeadHasNoBody) {
  auto server = StartServer();
  std::string response = Request(server->port(), "HEAD /healthz HTTP/1.1\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Length: 3\r\n"));
  EXPECT_EQ(response.substr(response.size() - 4), "\r\n\r\n");
}

TEST(AdminHttpServerTest, RefusesUnknownPathsAndMethods) {
  auto server = StartServer();
  EXPECT_THAT(Request(server->port(), "GET /secret HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 404 Not Found\r\n"));
  std::string response = Request(server->port(), "POST /healthz HTTP/1.1\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
  EXPECT_THAT(response, HasSubstr("Allow: GET, HEAD\r\n"));
  EXPECT_THAT(Request(server->port(), "garbage\r\n\r\n"), StartsWith("HTTP/1.1 400 Bad Request"));
}

TEST(AdminHttpServerTest, OversizedHeadIsRefused) {
  AdminHttpServerOptions options;
  options.max_request_bytes = 256;
  auto server = StartServer(options);
  std::string request = "GET /healthz HTTP/1.1\r\nX-Fill: " + std::string(4096, 'a');
  EXPECT_THAT(Request(server->port(), request), StartsWith("HTTP/1.1 431 "));
}

TEST(AdminHttpServerTest, SlowRequestTimesOutAndOthersAreStillServed) {
  AdminHttpServerOptions options;
  options.read_timeout = absl::Milliseconds(200);
  auto server = StartServer(options);
  int slow = Connect(server->port());
  ASSERT_EQ(write(slow, "GET /hea", 8), 8);
  // Another client is served while the slow one holds its connection.
  EXPECT_THAT(Request(server->port(), "GET /healthz HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(ReadAll(slow), StartsWith("HTTP/1.1 408 "));
  close(slow);
}

TEST(AdminHttpServerTest, IdleConnectionsCannotKeepProbesOut) {
  AdminHttpServerOptions options;
  options.max_connections = 2;
  options.read_timeout = absl::Seconds(60);
  auto server = StartServer(options);
  int idle1 = Connect(server->port());
  int idle2 = Connect(server->port());
  int idle3 = Connect(server->port());
  // Each newcomer replaced the oldest idle connection at once: a probe is
  // answered long before the idle ones would time out.
  EXPECT_THAT(Request(server->port(), "GET /healthz HTTP/1.1\r\n\r\n"),
              StartsWith("HTTP/1.1 200 OK"));
  // The first one was closed without an answer.
  EXPECT_EQ(ReadAll(idle1), "");
  close(idle1);
  close(idle2);
  close(idle3);
}

TEST(AdminHttpServerTest, TakenPortIsAnErrorNamingTheAddress) {
  auto first = StartServer();
  AdminHttpServerOptions options;
  options.listen = absl::StrCat("127.0.0.1:", first->port());
  absl::StatusOr<std::unique_ptr<AdminHttpServer>> second = AdminHttpServer::Start(options, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("127.0.0.1:", first->port())));
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("in use"));
}

TEST(AdminHttpServerTest, BadAddressIsAnError) {
  AdminHttpServerOptions options;
  options.listen = "nohostport";
  EXPECT_FALSE(AdminHttpServer::Start(options, {}).ok());
  options.listen = "127.0.0.1:99999";
  EXPECT_FALSE(AdminHttpServer::Start(options, {}).ok());
}

TEST(AdminHttpServerTest, StopIsIdempotentAndClosesTheListener) {
  auto server = StartServer();
  const int port = server->port();
  server->Stop();
  server->Stop();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // The listener is still open until destruction but nobody accepts: a
  // request gets no answer. After destruction, connecting is refused.
  server.reset();
  EXPECT_NE(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  close(fd);
}

}  // namespace
}  // namespace wirehub

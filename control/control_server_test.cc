#include "control/control_server.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "control/control_config.h"
#include "control/testing/fake_edge.h"
#include "control/testing/test_pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using testing::FakeEdge;
using ::testing::HasSubstr;
using ::testing::Not;

// grpc.health.v1.Health/Check through a generic stub: the request is
// HealthCheckRequest{service = 1}, the answer HealthCheckResponse{status =
// 1}, whose SERVING is 1.
struct HealthAnswer {
  grpc::Status status;
  int serving_status = -1;
};

HealthAnswer CheckHealth(
    const std::string& address, const std::string& service,
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials()) {
  std::string request;
  request.push_back(0x0a);
  request.push_back(static_cast<char>(service.size()));
  request += service;
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::GenericStub stub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  absl::Notification done;
  HealthAnswer answer;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status status) {
                   answer.status = std::move(status);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!answer.status.ok()) return answer;
  std::vector<grpc::Slice> slices;
  (void)response_buffer.Dump(&slices);
  std::string bytes;
  for (const grpc::Slice& part : slices) bytes.append(part.begin(), part.end());
  if (bytes.size() >= 2 && bytes[0] == 0x08) answer.serving_status = bytes[1];
  if (bytes.empty()) answer.serving_status = 0;
  return answer;
}

ControlServerOptions Options(int port = 0) {
  ControlServerOptions options;
  options.grpc_listen = absl::StrCat("127.0.0.1:", port);
  options.edge_listen = "127.0.0.1:0";
  return options;
}

std::string HexSha256(std::string_view key) {
  std::array<uint8_t, 32> digest = Sha256(key);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// Keys: "wh_ops" full, "wh_pub" publish-only, "wh_acme" full for tenant acme.
ApiKeySet TestKeys() {
  config::v1::Config config;
  auto add = [&](const char* name, const char* key, const char* scope, const char* tenant) {
    config::v1::ApiKey* entry = config.add_api_keys();
    entry->set_name(name);
    entry->set_sha256(HexSha256(key));
    entry->set_scope(scope);
    entry->set_tenant(tenant);
  };
  add("ops", "wh_ops", "full", "");
  add("publisher", "wh_pub", "publish", "");
  add("acme", "wh_acme", "full", "acme");
  absl::StatusOr<ApiKeySet> keys = ApiKeySet::FromConfig(config.api_keys(), "test");
  EXPECT_TRUE(keys.ok()) << keys.status();
  return *std::move(keys);
}

// A ControlService stub; `key` (if any) goes in the authorization metadata.
class Api {
 public:
  explicit Api(const std::string& address, std::shared_ptr<grpc::ChannelCredentials> credentials =
                                               grpc::InsecureChannelCredentials())
      : channel_(grpc::CreateChannel(address, std::move(credentials))),
        stub_(v1::ControlService::NewStub(channel_)) {}

  void Prepare(grpc::ClientContext* context, const std::string& key) const {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!key.empty()) context->AddMetadata("authorization", absl::StrCat("apikey ", key));
  }

  grpc::Status Stats(const std::string& key) {
    grpc::ClientContext context;
    Prepare(&context, key);
    v1::StatsResponse response;
    return stub_->Stats(&context, v1::StatsRequest(), &response);
  }

  grpc::Status Publish(const std::string& key, const std::string& tenant) {
    grpc::ClientContext context;
    Prepare(&context, key);
    v1::PublishRequest request;
    request.set_channel("news");
    request.set_data("{}");
    request.set_tenant(tenant);
    v1::PublishResponse response;
    return stub_->Publish(&context, request, &response);
  }

  grpc::Status PublishTo(const std::string& key, const std::string& channel) {
    grpc::ClientContext context;
    Prepare(&context, key);
    v1::PublishRequest request;
    request.set_channel(channel);
    request.set_data("{}");
    v1::PublishResponse response;
    return stub_->Publish(&context, request, &response);
  }

  grpc::Status Disconnect(const std::string& key, const std::string& tenant) {
    grpc::ClientContext context;
    Prepare(&context, key);
    v1::DisconnectRequest request;
    request.set_user("42");
    request.set_tenant(tenant);
    v1::DisconnectResponse response;
    return stub_->Disconnect(&context, request, &response);
  }

  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ControlService::Stub> stub_;
};

// Certificates written to files, as the flags name them.
struct TestTls {
  testing::TestCa ca = testing::TestCa::Create("wirehub test CA");
  testing::TestCa other_ca = testing::TestCa::Create("another CA");
  testing::TestPair server = ca.IssueServer();
  TlsFiles ServerFiles(bool verify_clients) {
    static int counter = 0;
    const std::string prefix = absl::StrCat("server", ++counter);
    return TlsFiles{
        testing::WriteTestFile(prefix + ".crt", server.cert_pem),
        testing::WriteTestFile(prefix + ".key", server.key_pem),
        verify_clients ? testing::WriteTestFile(prefix + "-ca.crt", ca.cert_pem()) : ""};
  }
  // Channel credentials trusting `ca`, presenting `client` when given.
  std::shared_ptr<grpc::ChannelCredentials> Client(const testing::TestPair* client = nullptr) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ca.cert_pem();
    if (client != nullptr) {
      options.pem_cert_chain = client->cert_pem;
      options.pem_private_key = client->key_pem;
    }
    return grpc::SslCredentials(options);
  }
};

TEST(ControlServerTest, HealthAnswersForTheServerAndEachService) {
  ControlServer server(Options());
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  std::string address = absl::StrCat("127.0.0.1:", *port);
  EXPECT_EQ(CheckHealth(address, "").serving_status, 1);
  EXPECT_EQ(CheckHealth(address, "wirehub.control.v1.ControlService").serving_status, 1);
  HealthAnswer unknown = CheckHealth(address, "no.such.Service");
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, SecondServerOnATakenPortRefusesToStart) {
  ControlServer first(Options());
  absl::StatusOr<int> port = first.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  ControlServer second(Options(*port));
  absl::StatusOr<int> taken = second.Start();
  ASSERT_FALSE(taken.ok());
  EXPECT_THAT(std::string(taken.status().message()), HasSubstr(absl::StrCat("127.0.0.1:", *port)));
  // The first one still serves.
  EXPECT_EQ(CheckHealth(absl::StrCat("127.0.0.1:", *port), "").serving_status, 1);
  first.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, ServesWithOneCallbackThreadAndDrainsPromptly) {
  ControlServerOptions options = Options();
  options.callback_threads = 1;
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api api(absl::StrCat("127.0.0.1:", *port));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(api.Publish("", "").ok()) << i;
  EXPECT_TRUE(api.Stats("").ok());
  EXPECT_EQ(CheckHealth(absl::StrCat("127.0.0.1:", server.edge_link_port()), "").serving_status, 1);
  const absl::Time start = absl::Now();
  server.Shutdown(absl::Seconds(1));
  // The parked threads are released first, so shutting down does not wait
  // on them.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(ControlServerTest, EdgeLinkIsServedOnItsOwnListenerOnly) {
  ControlServerOptions options = Options();
  options.api_keys = TestKeys();
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_NE(server.edge_link_port(), 0);
  ASSERT_NE(server.edge_link_port(), *port);
  const std::string api = absl::StrCat("127.0.0.1:", *port);
  const std::string edge = absl::StrCat("127.0.0.1:", server.edge_link_port());
  EXPECT_EQ(CheckHealth(edge, "wirehub.edge.v1.EdgeLinkService").serving_status, 1);
  EXPECT_EQ(CheckHealth(edge, "wirehub.control.v1.ControlService").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CheckHealth(api, "wirehub.edge.v1.EdgeLinkService").status.error_code(),
            grpc::StatusCode::NOT_FOUND);

  // EdgeLinkService is not there on the API port, whatever the key.
  auto stub = edge::v1::EdgeLinkService::NewStub(
      grpc::CreateChannel(api, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  context.AddMetadata("authorization", "apikey wh_ops");
  edge::v1::ClientPublishRequest request;
  control::v1::PublishResponse response;
  EXPECT_EQ(stub->Publish(&context, request, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);

  // Nor ControlService on the edge link.
  Api on_edge_port(edge);
  EXPECT_EQ(on_edge_port.Stats("wh_ops").error_code(), grpc::StatusCode::UNIMPLEMENTED);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, ApiKeysAreCheckedOnEveryCall) {
  ControlServerOptions options = Options();
  options.api_keys = TestKeys();
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  Api api(address);

  grpc::Status none = api.Stats("");
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("apikey"));
  grpc::Status wrong = api.Publish("wh_wrong", "");
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(wrong.error_message(), "unknown API key");

  EXPECT_TRUE(api.Stats("wh_ops").ok());
  EXPECT_TRUE(api.Publish("wh_ops", "globex").ok());

  // Publish-only key: publishes, may not disconnect.
  EXPECT_TRUE(api.Publish("wh_pub", "").ok());
  grpc::Status disconnect = api.Disconnect("wh_pub", "");
  EXPECT_EQ(disconnect.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(disconnect.error_message(), HasSubstr("Disconnect"));

  // Tenant key: its tenant only, no server-wide calls.
  EXPECT_TRUE(api.Publish("wh_acme", "acme").ok());
  EXPECT_TRUE(api.Disconnect("wh_acme", "acme").ok());
  grpc::Status other = api.Publish("wh_acme", "globex");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(other.error_message(), HasSubstr("tenant 'globex'"));
  EXPECT_EQ(api.Disconnect("wh_acme", "").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(api.Stats("wh_acme").error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // Health needs no key.
  EXPECT_EQ(CheckHealth(address, "").serving_status, 1);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, PublishStreamRefusesItemsOfAnotherTenant) {
  ControlServerOptions options = Options();
  options.api_keys = TestKeys();
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api api(absl::StrCat("127.0.0.1:", *port));
  auto stub = v1::ControlService::NewStub(api.channel());

  {
    grpc::ClientContext context;
    api.Prepare(&context, "");
    auto stream = stub->PublishStream(&context);
    stream->WritesDone();
    v1::PublishStreamResponse response;
    EXPECT_FALSE(stream->Read(&response));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  grpc::ClientContext context;
  api.Prepare(&context, "wh_acme");
  auto stream = stub->PublishStream(&context);
  for (const char* tenant : {"acme", "globex"}) {
    v1::PublishStreamRequest request;
    request.set_channel("news");
    request.set_data("{}");
    request.set_tenant(tenant);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::vector<int> codes;
  v1::PublishStreamResponse response;
  while (stream->Read(&response)) codes.push_back(response.error_code());
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_THAT(codes, ::testing::ElementsAre(0, grpc::StatusCode::PERMISSION_DENIED));
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, ApiOverTlsWithATrustingClient) {
  TestTls tls;
  ControlServerOptions options = Options();
  options.api_tls = tls.ServerFiles(/*verify_clients=*/false);
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api trusting(absl::StrCat("127.0.0.1:", *port), tls.Client());
  EXPECT_TRUE(trusting.Stats("").ok());
  // A plaintext client gets no answer from a TLS listener.
  Api plaintext(absl::StrCat("127.0.0.1:", *port));
  EXPECT_EQ(plaintext.Stats("").error_code(), grpc::StatusCode::UNAVAILABLE);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, EdgeLinkWithMutualTlsNeedsAClientCertificateFromItsCa) {
  TestTls tls;
  ControlServerOptions options = Options();
  options.edge_tls = tls.ServerFiles(/*verify_clients=*/true);
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string edge = absl::StrCat("127.0.0.1:", server.edge_link_port());
  const std::string service = "wirehub.edge.v1.EdgeLinkService";

  HealthAnswer no_certificate = CheckHealth(edge, service, tls.Client());
  EXPECT_EQ(no_certificate.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  testing::TestPair stranger = tls.other_ca.IssueClient("stranger");
  HealthAnswer other_ca = CheckHealth(edge, service, tls.Client(&stranger));
  EXPECT_EQ(other_ca.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  testing::TestPair edge_certificate = tls.ca.IssueClient("edge-1");
  HealthAnswer valid = CheckHealth(edge, service, tls.Client(&edge_certificate));
  EXPECT_TRUE(valid.status.ok()) << valid.status.error_message();
  EXPECT_EQ(valid.serving_status, 1);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, MessagesOverTheReceiveLimitAreRefused) {
  ControlServerOptions options = Options();
  options.service.max_payload_bytes = 1024;
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  auto stub = v1::ControlService::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials()));
  // The limit is 2 * 1024 + 1 MiB.
  v1::PublishRequest request;
  request.set_channel("news");
  request.set_data(std::string(2 * 1024 + (1 << 20) + 1, 'x'));
  v1::PublishResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(stub->Publish(&context, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Under it, the payload limit answers.
  request.set_data("\"" + std::string(2000, 'x') + "\"");
  grpc::ClientContext small;
  small.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::Status status = stub->Publish(&small, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("over the limit"));
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, AClientPingingTooOftenIsDisconnected) {
  ControlServer server(Options());
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  // Pings every 100 ms with no call in flight: far under the 5 s allowed.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 100);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials(), args);
  ASSERT_TRUE(
      channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5)));
  // After two strikes control sends GOAWAY (too_many_pings) and the channel
  // leaves READY.
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(5);
  grpc_connectivity_state state = channel->GetState(false);
  while (state == GRPC_CHANNEL_READY && channel->WaitForStateChange(state, deadline)) {
    state = channel->GetState(false);
  }
  EXPECT_NE(state, GRPC_CHANNEL_READY) << "control tolerated a ping every 100 ms";
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, StartRefusesAMismatchedTlsPair) {
  TestTls tls;
  ControlServerOptions options = Options();
  TlsFiles files = tls.ServerFiles(false);
  files.key_file = testing::WriteTestFile("stranger.key", tls.ca.IssueServer().key_pem);
  options.api_tls = files;
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("does not match"));
}

// GET of `path` on 127.0.0.1:`port`: "STATUS BODY", or "" when it fails.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n");
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
    }
  }
  close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody" -> "200 body"
  const size_t body = response.find("\r\n\r\n");
  if (response.size() < 12 || body == std::string::npos) return "";
  return absl::StrCat(response.substr(9, 3), " ", response.substr(body + 4));
}

edge::v1::Hello HelloFrom(const std::string& edge_id) {
  edge::v1::Hello hello;
  hello.set_edge_id(edge_id);
  return hello;
}

TEST(ControlServerTest, AdminListenerServesMetricsHealthAndReadiness) {
  ControlServerOptions options = Options();
  options.admin_listen = "127.0.0.1:0";
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  ASSERT_NE(server.admin_port(), 0);
  Api api(absl::StrCat("127.0.0.1:", *port));
  ASSERT_TRUE(api.PublishTo("", "news:1").ok());
  EXPECT_EQ(api.PublishTo("", "news:1 bad").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  EXPECT_EQ(HttpGet(server.admin_port(), "/healthz"), "200 ok\n");
  EXPECT_EQ(HttpGet(server.admin_port(), "/readyz"), "200 ready\n");
  const std::string metrics = HttpGet(server.admin_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("wirehub_control_publications_total{namespace=\"news\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("wirehub_control_api_calls_total{method=\"Publish\",code=\"OK\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("wirehub_control_api_calls_total{method=\"Publish\","
                                 "code=\"INVALID_ARGUMENT\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("wirehub_control_api_call_duration_seconds_count{method="
                                 "\"Publish\"} 2"));
  // The channel is invalid, its namespace known: counted there.
  EXPECT_THAT(metrics, HasSubstr("wirehub_control_publication_refusals_total{namespace=\"news\","
                                 "reason=\"invalid_argument\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("wirehub_control_ready 1"));
  EXPECT_THAT(metrics, HasSubstr("wirehub_control_engine_up{engine=\"memory\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("process_resident_memory_bytes"));
  // Health checks are not API calls.
  EXPECT_EQ(CheckHealth(absl::StrCat("127.0.0.1:", *port), "").serving_status, 1);
  EXPECT_THAT(server.RenderMetrics(), Not(HasSubstr("Check")));
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, EdgeQueuesAndAttachesAreCounted) {
  ControlServer server(Options());
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.edge_link_port()),
                                     grpc::InsecureChannelCredentials());
  {
    FakeEdge edge(channel, HelloFrom("edge-7"));
    edge::v1::InterestChange interest;
    interest.set_seq(1);
    interest.add_channels_added("news:1");
    ASSERT_TRUE(edge.SendInterest(interest));
    ASSERT_TRUE(server.hub().PublishAndWait("news:1", "{}").ok());
    ASSERT_TRUE(edge.WaitForPublications(1));
    ASSERT_EQ(edge.publications()[0].accepted_unix_micros() > 0, true);
    const std::string text = server.RenderMetrics();
    EXPECT_THAT(text, HasSubstr("wirehub_control_edges 1"));
    EXPECT_THAT(text, HasSubstr("wirehub_control_edge_attaches_total 1"));
    EXPECT_THAT(text, HasSubstr("wirehub_control_edge_queue_publications{edge=\"edge-7\"} 0"));
    EXPECT_THAT(text, HasSubstr("wirehub_control_streams 1"));
    edge.Cancel();
  }
  // Detached: its queue series go.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::StrContains(server.RenderMetrics(), "edge-7") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(server.RenderMetrics(), Not(HasSubstr("edge-7")));
  EXPECT_THAT(server.RenderMetrics(), HasSubstr("wirehub_control_edges 0"));
  server.Shutdown(absl::Seconds(1));
}

// The drain: unready and NOT_SERVING at once while calls are still served;
// then new calls are refused UNAVAILABLE while one in flight finishes; then
// the edges' streams end UNAVAILABLE.
TEST(ControlServerTest, DrainRefusesNewCallsFinishesInFlightOnesThenClosesEdges) {
  ControlServerOptions options = Options();
  options.admin_listen = "127.0.0.1:0";
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  const std::string api_address = absl::StrCat("127.0.0.1:", *port);
  const std::string edge_address = absl::StrCat("127.0.0.1:", server.edge_link_port());
  Api api(api_address);
  FakeEdge edge(grpc::CreateChannel(edge_address, grpc::InsecureChannelCredentials()),
                HelloFrom("edge-1"));
  // The edge holds the Disconnect below in flight until the test answers.
  ASSERT_TRUE(api.PublishTo("", "news:1").ok());

  server.BeginDrain();
  EXPECT_EQ(HttpGet(server.admin_port(), "/readyz"), "503 draining\n");
  EXPECT_EQ(HttpGet(server.admin_port(), "/healthz"), "200 ok\n");
  for (const char* service : {"", "wirehub.control.v1.ControlService"}) {
    EXPECT_EQ(CheckHealth(api_address, service).serving_status, 2) << service;
  }
  for (const char* service : {"", "wirehub.edge.v1.EdgeLinkService"}) {
    EXPECT_EQ(CheckHealth(edge_address, service).serving_status, 2) << service;
  }
  EXPECT_THAT(server.RenderMetrics(), HasSubstr("wirehub_control_draining 1"));
  EXPECT_THAT(server.RenderMetrics(), HasSubstr("wirehub_control_ready 0"));
  // The drain delay: still served.
  EXPECT_TRUE(api.PublishTo("", "news:1").ok());

  grpc::Status in_flight;
  absl::Notification in_flight_done;
  std::thread caller([&] {
    in_flight = api.Disconnect("", "");
    in_flight_done.Notify();
  });
  ASSERT_TRUE(edge.WaitForCommands(1));
  absl::Notification drained;
  std::thread finisher([&] {
    server.FinishDrain(absl::Seconds(10));
    drained.Notify();
  });
  // New calls are refused while the one in flight waits.
  grpc::Status refused;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  do {
    refused = api.PublishTo("", "news:1");
  } while (refused.ok() && absl::Now() < deadline);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(refused.error_message(), "draining");
  EXPECT_FALSE(drained.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  EXPECT_FALSE(in_flight_done.HasBeenNotified());
  EXPECT_THAT(
      server.RenderMetrics(),
      HasSubstr("wirehub_control_api_calls_total{method=\"Publish\",code=\"UNAVAILABLE\"}"));

  // The edge answers: the call completes, then the edge is closed.
  edge::v1::EdgeMessage answer;
  answer.mutable_result()->set_id(edge.commands()[0].id());
  answer.mutable_result()->set_connections(2);
  ASSERT_TRUE(edge.Send(answer));
  ASSERT_TRUE(in_flight_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
  grpc::Status edge_end;
  ASSERT_TRUE(edge.WaitForEnd(&edge_end));
  EXPECT_EQ(edge_end.error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  caller.join();
  finisher.join();
}

TEST(ControlServerTest, HurryEndsTheWaitForCallsInFlight) {
  ControlServer server(Options());
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api api(absl::StrCat("127.0.0.1:", *port));
  FakeEdge edge(grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.edge_link_port()),
                                    grpc::InsecureChannelCredentials()),
                HelloFrom("edge-1"));
  absl::Notification in_flight_done;
  std::thread caller([&] {
    (void)api.Disconnect("", "");  // Never answered: cancelled by the drain.
    in_flight_done.Notify();
  });
  ASSERT_TRUE(edge.WaitForCommands(1));
  const absl::Time start = absl::Now();
  absl::Notification drained;
  std::thread finisher([&] {
    server.FinishDrain(absl::Seconds(30));
    drained.Notify();
  });
  absl::SleepFor(absl::Milliseconds(100));
  server.Hurry();
  ASSERT_TRUE(drained.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_TRUE(in_flight_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  caller.join();
  finisher.join();
}

std::string ConfigJson(const std::string& namespaces, const std::string& api_keys = "") {
  std::string json = absl::StrCat("{\"namespaces\": [", namespaces, "]");
  if (!api_keys.empty()) absl::StrAppend(&json, ", \"api_keys\": [", api_keys, "]");
  return absl::StrCat(json, "}");
}

TEST(ControlServerTest, ReloadAppliesAValidConfigAndKeepsTheOldOneOnAnError) {
  const std::string path =
      testing::WriteTestFile("reload.json", ConfigJson("{\"name\": \"news\"}"));
  ControlServerOptions options = Options();
  absl::StatusOr<ControlConfig> initial = LoadControlConfig(path);
  ASSERT_TRUE(initial.ok()) << initial.status();
  options.namespaces = initial->namespaces;
  options.namespace_names = initial->namespace_names;
  options.config_file = path;
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api api(absl::StrCat("127.0.0.1:", *port));
  EXPECT_TRUE(api.PublishTo("", "news:1").ok());
  EXPECT_EQ(api.PublishTo("", "sports:1").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(server.config_version(), 1u);

  // A namespace added.
  testing::WriteTestFile("reload.json", ConfigJson("{\"name\": \"news\"}, {\"name\": \"sports\"}"));
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_EQ(server.config_version(), 2u);
  EXPECT_TRUE(api.PublishTo("", "sports:1").ok());
  std::string text = server.RenderMetrics();
  EXPECT_THAT(text, HasSubstr("wirehub_config_version 2"));
  EXPECT_THAT(text, HasSubstr("wirehub_config_reloads_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_publications_total{namespace=\"sports\"} 1"));

  // An invalid file: refused, version 2 stays.
  testing::WriteTestFile("reload.json", "{\"namespaces\": [{\"name\": \"news\", \"bogus\": 1}]}");
  absl::Status refused = server.ReloadConfig();
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.message()), HasSubstr("bogus"));
  EXPECT_EQ(server.config_version(), 2u);
  EXPECT_TRUE(api.PublishTo("", "sports:1").ok());
  EXPECT_THAT(server.RenderMetrics(),
              HasSubstr("wirehub_config_reloads_total{result=\"error\"} 1"));

  // A namespace removed.
  testing::WriteTestFile("reload.json", ConfigJson("{\"name\": \"news\"}"));
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_EQ(api.PublishTo("", "sports:1").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, ReloadAddsAndRemovesApiKeys) {
  const std::string path = testing::WriteTestFile("keys.json", ConfigJson("{\"name\": \"news\"}"));
  ControlServerOptions options = Options();
  options.config_file = path;
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api api(absl::StrCat("127.0.0.1:", *port));
  EXPECT_TRUE(api.PublishTo("", "news:1").ok());

  const std::string ops =
      absl::StrCat(R"({"name": "ops", "sha256": ")", HexSha256("wh_ops"), R"(", "scope": "full"})");
  const std::string other = absl::StrCat(R"({"name": "other", "sha256": ")", HexSha256("wh_other"),
                                         R"(", "scope": "full"})");
  testing::WriteTestFile("keys.json", ConfigJson("{\"name\": \"news\"}", ops));
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_EQ(api.PublishTo("", "news:1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(api.PublishTo("wh_ops", "news:1").ok());

  // ops removed, other added.
  testing::WriteTestFile("keys.json", ConfigJson("{\"name\": \"news\"}", other));
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_EQ(api.PublishTo("wh_ops", "news:1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(api.PublishTo("wh_other", "news:1").ok());
  EXPECT_EQ(server.config_version(), 3u);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, ReloadMayNotDropTheKeysAnExposedApiNeeds) {
  const std::string ops =
      absl::StrCat(R"({"name": "ops", "sha256": ")", HexSha256("wh_ops"), R"(", "scope": "full"})");
  const std::string path =
      testing::WriteTestFile("required.json", ConfigJson("{\"name\": \"news\"}", ops));
  ControlServerOptions options = Options();
  options.config_file = path;
  options.api_keys = TestKeys();
  options.api_keys_required = true;
  ControlServer server(std::move(options));
  ASSERT_TRUE(server.Start().ok());
  testing::WriteTestFile("required.json", ConfigJson("{\"name\": \"news\"}"));
  absl::Status refused = server.ReloadConfig();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()), HasSubstr("api_keys"));
  EXPECT_EQ(server.config_version(), 1u);
  server.Shutdown(absl::Seconds(1));
}

TEST(ControlServerTest, ReloadRereadsTheApiKeysFile) {
  const std::string ops =
      absl::StrCat(R"({"name": "ops", "sha256": ")", HexSha256("wh_ops"), R"(", "scope": "full"})");
  const std::string billing = absl::StrCat(R"({"name": "billing", "sha256": ")",
                                           HexSha256("wh_billing"), R"(", "scope": "publish"})");
  const std::string key_file =
      testing::WriteTestFile("reload_keys_file.json", absl::StrCat(R"({"api_keys": [)", ops, "]}"));
  const std::string path = testing::WriteTestFile(
      "reload_keys_config.json",
      absl::StrCat(R"({"namespaces": [{"name": "news"}], "api_keys_file": ")", key_file, "\"}"));
  absl::StatusOr<ControlConfig> initial = LoadControlConfig(path);
  ASSERT_TRUE(initial.ok()) << initial.status();
  ControlServerOptions options = Options();
  options.namespaces = initial->namespaces;
  options.namespace_names = initial->namespace_names;
  options.api_keys = std::move(initial->api_keys);
  options.api_keys_required = true;
  options.config_file = path;
  ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  Api api(absl::StrCat("127.0.0.1:", *port));
  EXPECT_TRUE(api.PublishTo("wh_ops", "news:1").ok());
  EXPECT_EQ(api.PublishTo("wh_billing", "news:1").error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // The Secret rotated: billing added to the file, the config unchanged.
  testing::WriteTestFile("reload_keys_file.json",
                         absl::StrCat(R"({"api_keys": [)", ops, ", ", billing, "]}"));
  ASSERT_TRUE(server.ReloadConfig().ok());
  EXPECT_TRUE(api.PublishTo("wh_billing", "news:1").ok());

  // A file that empties the keys an exposed API needs is refused.
  testing::WriteTestFile("reload_keys_file.json", R"({"api_keys": []})");
  absl::Status refused = server.ReloadConfig();
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  // And so is a file gone missing; the keys in force stay.
  testing::WriteTestFile("reload_keys_config.json",
                         absl::StrCat(R"({"namespaces": [{"name": "news"}], "api_keys_file": ")",
                                      key_file, ".gone\"}"));
  refused = server.ReloadConfig();
  EXPECT_EQ(refused.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(refused.message()), HasSubstr(absl::StrCat(key_file, ".gone")));
  EXPECT_EQ(server.config_version(), 2u);
  EXPECT_TRUE(api.PublishTo("wh_billing", "news:1").ok());
  server.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace wirehub::control

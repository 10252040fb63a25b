#include "tools/wirehubctl/token_commands.h"

#include <memory>
#include <string>
#include <vector>

#include "common/jwt.h"
#include "common/testing/test_keys.h"
#include "common/token_key.h"
#include "common/token_keys.h"
#include "control/testing/test_pki.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/cli_test_fixture.h"
#include "tools/wirehubctl/ws_test_server.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

TEST_F(CliTest, TokenNeedsUser) {
  EXPECT_EQ(Run({"token"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--user"));
  EXPECT_EQ(Run({"token", "--user="}), kExitUsage);
}

TEST_F(CliTest, TokenRejectsBadTtlAndPositionals) {
  std::string path = WriteSecretFile("ttl_secret", "s3cret");
  EXPECT_EQ(Run({"token", "--user=a", "--ttl=0", "--token_hmac_secret_file=" + path}), kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "--ttl=soon", "--token_hmac_secret_file=" + path}),
            kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "alice", "--token_hmac_secret_file=" + path}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, TokenWithMissingSecretFileFails) {
  EXPECT_EQ(Run({"token", "--user=alice",
                 "--token_hmac_secret_file=" + ::testing::TempDir() + "/does/not/exist"}),
            kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_THAT(err(), StartsWith("error: "));
}

TEST_F(CliTest, TokenIsVerifiableWithTheSecret) {
  std::string path = WriteSecretFile("token_secret", "dev-secret-0123456789\n");
  EXPECT_EQ(Run({"token", "--user=alice", "--ttl=600", "--token_hmac_secret_file=" + path}),
            kExitOk);
  EXPECT_TRUE(connections_.empty());
  std::string token = out();
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(token.back(), '\n');
  token.pop_back();

  // LoadTokenSecret strips the one trailing newline of the file.
  JwtVerifier verifier("dev-secret-0123456789");
  absl::StatusOr<TokenClaims> claims = verifier.Verify(token, now_ + absl::Seconds(1));
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->expires_at, now_ + absl::Seconds(600));

  EXPECT_EQ(verifier.Verify(token, now_ + absl::Seconds(601)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(JwtVerifier("other-secret").Verify(token, now_).ok());
}

TEST_F(CliTest, TokenDefaultTtlIsOneHourAndSecretMayComeFromEnvironment) {
  ASSERT_EQ(setenv("WIREHUB_TOKEN_HMAC_SECRET", "env-secret", 1), 0);
  int code = Run({"token", "--user=bob"});
  unsetenv("WIREHUB_TOKEN_HMAC_SECRET");
  ASSERT_EQ(code, kExitOk) << err();
  std::string token = out();
  token.pop_back();
  absl::StatusOr<TokenClaims> claims = JwtVerifier("env-secret").Verify(token, now_);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->expires_at, now_ + absl::Hours(1));
}

TEST_F(CliTest, TokenAcceptsGlobalFlags) {
  std::string path = WriteSecretFile("global_secret", "s");
  EXPECT_EQ(Run({"--control=h:1", "token", "--user=u", "--token_hmac_secret_file", path}), kExitOk);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, TokenWithTenantInfoChannelsAudienceAndIssuer) {
  std::string path = WriteSecretFile("claims_secret", "claims-secret");
  ASSERT_EQ(Run({"token", "--user=alice", "--tenant=acme", R"(--info={"name": "Alice"})",
                 "--channels=news,chat:1", "--audience=wirehub", "--issuer=backend",
                 "--token_hmac_secret_file=" + path}),
            kExitOk)
      << err();
  std::string token = out();
  token.pop_back();
  VerifyOptions options;
  options.audience = "wirehub";
  options.issuer = "backend";
  absl::StatusOr<TokenClaims> claims = JwtVerifier("claims-secret").Verify(token, now_, options);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->tenant, "acme");
  EXPECT_EQ(claims->info_json, R"({"name":"Alice"})");
  EXPECT_THAT(claims->channels, ElementsAre("news", "chat:1"));
  EXPECT_EQ(claims->expires_at, now_ + absl::Hours(1));
  // Not a subscription token.
  options.kind = TokenKind::kSubscription;
  EXPECT_FALSE(JwtVerifier("claims-secret").Verify(token, now_, options).ok());
}

TEST_F(CliTest, TokenWithChannelIsASubscriptionToken) {
  std::string path = WriteSecretFile("sub_secret", "sub-secret");
  ASSERT_EQ(Run({"token", "--user=bob", "--channel=chat:1", "--ttl=60", "--info=[1]",
                 "--token_hmac_secret_file=" + path}),
            kExitOk)
      << err();
  std::string token = out();
  token.pop_back();
  VerifyOptions options;
  options.kind = TokenKind::kSubscription;
  absl::StatusOr<TokenClaims> claims = JwtVerifier("sub-secret").Verify(token, now_, options);
  ASSERT_TRUE(claims.ok()) << claims.status();
  EXPECT_EQ(claims->subject, "bob");
  EXPECT_EQ(claims->channel, "chat:1");
  EXPECT_EQ(claims->info_json, "[1]");
  EXPECT_EQ(claims->expires_at, now_ + absl::Seconds(60));
  EXPECT_FALSE(JwtVerifier("sub-secret").Verify(token, now_).ok());  // Not a connection token.
}

TEST_F(CliTest, TokenRejectsBadClaims) {
  std::string path = WriteSecretFile("bad_claims_secret", "s");
  const std::string secret = "--token_hmac_secret_file=" + path;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--info={"}, "--info must be one JSON document"},
      {{"--info={} {}"}, "--info must be one JSON document"},
      {{"--info="}, "--info must be one JSON document"},
      {{"--tenant=a|b"}, "--tenant"},
      {{"--tenant="}, "--tenant"},
      {{"--channels=news,,chat"}, "--channels: ''"},
      {{"--channels=news,bad channel"}, "--channels: 'bad channel'"},
      {{"--channel=bad channel"}, "--channel"},
      {{"--channel=a", "--channels=b"}, "--channels is for connection tokens"},
      {{"--audience="}, "--audience is empty"},
      {{"--issuer="}, "--issuer is empty"},
  };
  for (const auto& [flags, message] : cases) {
    std::vector<std::string> args = {"token", "--user=u", secret};
    args.insert(args.end(), flags.begin(), flags.end());
    EXPECT_EQ(Run(args), kExitUsage) << flags[0];
    EXPECT_THAT(err(), HasSubstr(message)) << flags[0];
    EXPECT_THAT(out(), IsEmpty());
  }
  std::string many = "c0";
  for (int i = 1; i <= 128; ++i) absl::StrAppend(&many, ",c", i);
  EXPECT_EQ(Run({"token", "--user=u", secret, "--channels=" + many}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("at most 128"));
}

TEST_F(CliTest, TailUsageErrors) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"tail", "--token=t"}, "tail takes CHANNEL, got 0 argument(s)"},
      {{"tail", "a", "b", "--token=t"}, "tail takes CHANNEL, got 2"},
      {{"tail", "bad channel", "--token=t"}, "invalid"},
      {{"tail", "news"}, "either --token=JWT or --user=ID"},
      {{"tail", "news", "--token=t", "--user=u"}, "either --token=JWT or --user=ID"},
      {{"tail", "news", "--token="}, "--token is empty"},
      {{"tail", "news", "--token=t", "--tenant=acme"}, "--tenant only applies with --user"},
      {{"tail", "news", "--user=u", "--tenant=a b"}, "--tenant"},
      {{"tail", "news", "--token=t", "--url=wss://127.1/"}, "looks like an IPv4 address"},
      {{"tail", "news", "--token=t", "--url=ws://edge..internal/"}, "empty label"},
      {{"tail", "news", "--token=t", "--url=https://edge.internal/"}, "expected ws://"},
      {{"tail", "news", "--token=t", "--tls_ca_file=/ca.pem"},
       "--tls_ca_file only applies to a wss:// --url"},
      {{"tail", "news", "--token=t", "--url=ws://127.0.0.1/", "--tls_server_name=edge"},
       "--tls_server_name only applies to a wss:// --url"},
      {{"tail", "news", "--token=t", "--url=wss://127.0.0.1/", "--tls_ca_file="},
       "--tls_ca_file is empty"},
      {{"tail", "news", "--token=t", "--count=0"}, "--count"},
      {{"tail", "news", "--token=t", "--timeout=0"}, "--timeout"},
      {{"tail", "news", "--token=t", "--timeout=later"}, "--timeout"},
      {{"tail", "news", "--token=t", "--recover"}, "--recover, --epoch and --offset go together"},
      {{"tail", "news", "--token=t", "--epoch=e", "--offset=1"}, "go together"},
      {{"tail", "news", "--token=t", "--recover", "--offset=1"}, "go together"},
      {{"tail", "news", "--token=t", "--recover", "--epoch=e", "--offset=-1"}, "--offset"},
      {{"tail", "news", "--token=t", "--sub_token="}, "--sub_token is empty"},
      {{"tail", "news", "--token=t", "--json"}, "does not apply to 'tail'"},
  };
  for (const auto& [args, message] : cases) {
    EXPECT_EQ(Run(args), kExitUsage) << args[1] << " " << args.back();
    EXPECT_THAT(err(), HasSubstr(message)) << args[1] << " " << args.back();
  }
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, TailWithMintedTokenPrintsPublications) {
  std::string path = WriteSecretFile("tail_secret", "tail-secret");
  std::string token;
  testing::WsTestServer server([&token](testing::WsTestConnection& connection) {
    ASSERT_TRUE(connection.Handshake().has_value());
    std::string connect = connection.ReadText().value_or("");
    const std::string prefix = R"({"id":1,"connect":{"token":")";
    ASSERT_THAT(connect, StartsWith(prefix));
    token = connect.substr(prefix.size(), connect.find('"', prefix.size()) - prefix.size());
    connection.SendText(R"({"id":1,"connect":{"client":"c1"}})");
    EXPECT_EQ(connection.ReadText().value_or(""),
              R"({"id":2,"subscribe":{"channel":"news","token":"S"}})");
    connection.SendText(R"({"id":2,"subscribe":{}})"
                        "\n"
                        R"({"push":{"channel":"news","pub":{"data":{"a":1},"offset":4}}})");
    connection.SendText(R"({"push":{"channel":"news","pub":{"data":"two","offset":5}}})");
    connection.ReadFrame();  // The client's close.
  });
  EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--user=alice", "--tenant=acme",
                 "--token_hmac_secret_file=" + path, "--sub_token=S", "--count=2", "--offsets",
                 "--timeout=10s"}),
            kExitOk)
      << err();
  server.Join();
  EXPECT_EQ(out(), "4 {\"a\":1}\n5 \"two\"\n");
  EXPECT_THAT(err(), IsEmpty());
  absl::StatusOr<TokenClaims> claims = JwtVerifier("tail-secret").Verify(token, now_);
  ASSERT_TRUE(claims.ok()) << claims.status() << " token: " << token;
  EXPECT_EQ(claims->subject, "alice");
  EXPECT_EQ(claims->tenant, "acme");
  EXPECT_TRUE(connections_.empty());  // No control connection.
}

TEST_F(CliTest, TailReportsSubscribeErrorsAndCloses) {
  {
    testing::WsTestServer server([](testing::WsTestConnection& connection) {
      ASSERT_TRUE(connection.Handshake().has_value());
      connection.ReadText();
      connection.SendText(R"({"id":1,"connect":{}})");
      connection.ReadText();
      connection.SendText(R"({"id":2,"error":{"code":103,"message":"permission denied"}})");
      connection.ReadFrame();
    });
    EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--token=T"}), kExitFailure);
    EXPECT_EQ(err(), "error: subscribe: 103 permission denied\n");
    EXPECT_THAT(out(), IsEmpty());
  }
  {
    testing::WsTestServer server([](testing::WsTestConnection& connection) {
      ASSERT_TRUE(connection.Handshake().has_value());
      connection.ReadText();
      connection.SendClose(3500, "invalid token");
      connection.ReadFrame();
    });
    EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--token=T"}), kExitFailure);
    EXPECT_EQ(err(), "closed: 3500 invalid token\n");
  }
}

TEST_F(CliTest, TailWithoutSecretFailsBeforeConnecting) {
  EXPECT_EQ(Run({"tail", "news", "--user=u",
                 "--token_hmac_secret_file=" + ::testing::TempDir() + "/no/such/secret"}),
            kExitFailure);
  EXPECT_THAT(err(), StartsWith("error: "));
}

TEST_F(CliTest, TailConnectionRefused) {
  // A bound socket that does not listen: connecting to its port is refused.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size), 0);
  const std::string host = absl::StrCat("127.0.0.1:", ntohs(address.sin_port));
  int code = Run({"tail", "news", "--url=ws://" + host + "/", "--token=T", "--timeout=5s"});
  close(fd);
  EXPECT_EQ(code, kExitFailure);
  EXPECT_THAT(err(), AllOf(StartsWith("error: connect to " + host), HasSubstr("refused")));
}

// A wss test server whose script answers connect and subscribe and sends
// one publication on "news".
testing::WsTestServer::Options WssOptions(const control::testing::TestPair& pair) {
  testing::WsTestServer::Options options;
  options.tls_cert_pem = pair.cert_pem;
  options.tls_key_pem = pair.key_pem;
  return options;
}

void AnswerOnePublication(testing::WsTestConnection& connection) {
  ASSERT_TRUE(connection.Handshake().has_value());
  connection.ReadText();
  connection.SendText(R"({"id":1,"connect":{"client":"c1"}})");
  connection.ReadText();
  connection.SendText(R"({"id":2,"subscribe":{}})");
  connection.SendText(R"({"push":{"channel":"news","pub":{"data":{"over":"tls"},"offset":7}}})");
  connection.ReadFrame();  // The client's close.
}

TEST_F(CliTest, TailOverWssWithTheEdgesCa) {
  control::testing::TestCa ca = control::testing::TestCa::Create("edge CA");
  const std::string ca_file = control::testing::WriteTestFile("tail_edge_ca.pem", ca.cert_pem());
  const control::testing::TestPair pair = ca.IssueServer();
  for (const char* host : {"127.0.0.1", "localhost"}) {
    SCOPED_TRACE(host);
    testing::WsTestServer server(AnswerOnePublication, WssOptions(pair));
    EXPECT_EQ(Run({"tail", "news", "--url=" + server.UrlWithHost(host), "--token=T",
                   "--tls_ca_file=" + ca_file, "--count=1", "--offsets", "--timeout=10s"}),
              kExitOk)
        << err();
    server.Join();
    EXPECT_EQ(out(), "7 {\"over\":\"tls\"}\n");
    EXPECT_THAT(err(), IsEmpty());
  }
  EXPECT_TRUE(connections_.empty());  // No control connection.
}

TEST_F(CliTest, TailOverWssWithAnotherCaFailsVerification) {
  control::testing::TestCa ca = control::testing::TestCa::Create("edge CA");
  control::testing::TestCa other = control::testing::TestCa::Create("other CA");
  const std::string other_file =
      control::testing::WriteTestFile("tail_other_ca.pem", other.cert_pem());
  testing::WsTestServer server(
      [](testing::WsTestConnection&) { ADD_FAILURE() << "the TLS handshake succeeded"; },
      WssOptions(ca.IssueServer()));
  EXPECT_EQ(Run({"tail", "news", "--url=" + server.Url(), "--token=T",
                 "--tls_ca_file=" + other_file, "--timeout=10s"}),
            kExitFailure);
  server.Join();
  EXPECT_EQ(err(), absl::StrCat("error: connect: TLS handshake with 127.0.0.1:", server.port(),
                                " failed: certificate verify failed (unable to get local issuer "
                                "certificate)\n"));
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, TailUnresolvableName) {
  EXPECT_EQ(Run({"tail", "news", "--url=wss://nonexistent.invalid/connection/websocket",
                 "--token=T", "--timeout=10s"}),
            kExitFailure);
  EXPECT_THAT(err(), StartsWith("error: connect: cannot resolve 'nonexistent.invalid': "));
}

TEST_F(CliTest, TokenSignsWithAPrivateKey) {
  for (JwsAlgorithm algorithm : {JwsAlgorithm::kRs256, JwsAlgorithm::kPs256, JwsAlgorithm::kEs256,
                                 JwsAlgorithm::kEs384, JwsAlgorithm::kEdDsa}) {
    const std::string name(JwsAlgorithmName(algorithm));
    SCOPED_TRACE(name);
    TestKeyPair pair = TestKeyPair::Generate(algorithm);
    std::string path = WriteSecretFile("key-" + name + ".pem", pair.PrivatePem());
    ASSERT_EQ(Run({"token", "--user=carol", "--private_key_file=" + path, "--algorithm=" + name,
                   "--kid=k1"}),
              kExitOk)
        << err();
    std::string token = out();
    token.pop_back();
    absl::StatusOr<TokenKey> key = TokenKey::FromPublicKey("k1", algorithm, pair.key());
    ASSERT_TRUE(key.ok());
    absl::StatusOr<std::shared_ptr<const TokenKeySet>> set = TokenKeySet::Create({*key});
    ASSERT_TRUE(set.ok());
    absl::StatusOr<TokenClaims> claims = JwtVerifier(*set).Verify(token, now_);
    ASSERT_TRUE(claims.ok()) << claims.status();
    EXPECT_EQ(claims->subject, "carol");
    // Without --kid the token has none, and the kid-pinned key refuses it.
    ASSERT_EQ(Run({"token", "--user=carol", "--private_key_file=" + path, "--algorithm=" + name}),
              kExitOk);
    token = out();
    token.pop_back();
    EXPECT_THAT(JwtVerifier(*set).Verify(token, now_).status().message(), HasSubstr("no kid"));
  }
}

TEST_F(CliTest, TokenWithKidAndHmacSecret) {
  std::string path = WriteSecretFile("kid_secret", "kid-secret");
  ASSERT_EQ(Run({"token", "--user=dave", "--kid=h1", "--token_hmac_secret_file=" + path}), kExitOk);
  std::string token = out();
  token.pop_back();
  absl::StatusOr<std::shared_ptr<const TokenKeySet>> set =
      TokenKeySet::Create({*TokenKey::FromHmacSecret("h1", "kid-secret")});
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(JwtVerifier(*set).Verify(token, now_).ok());
}

TEST_F(CliTest, TokenPrivateKeyFlagsAreChecked) {
  TestKeyPair ed = TestKeyPair::Generate(JwsAlgorithm::kEdDsa);
  std::string key = WriteSecretFile("ed.pem", ed.PrivatePem());
  std::string secret = WriteSecretFile("flags_secret", "s3cret");
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + key}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("go together"));
  EXPECT_EQ(Run({"token", "--user=a", "--algorithm=EdDSA", "--token_hmac_secret_file=" + secret}),
            kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + key, "--algorithm=EdDSA",
                 "--token_hmac_secret_file=" + secret}),
            kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + key, "--algorithm=HS256"}),
            kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + key, "--algorithm=none"}),
            kExitUsage);
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + key, "--algorithm=EdDSA", "--kid="}),
            kExitUsage);
  // The key does not fit the algorithm.
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + key, "--algorithm=ES256"}),
            kExitFailure);
  EXPECT_THAT(err(), HasSubstr("ES256 needs an EC key on P-256"));
  EXPECT_THAT(out(), IsEmpty());
  // A public key is not a private key.
  std::string public_key = WriteSecretFile("ed.pub", ed.PublicPem());
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=" + public_key, "--algorithm=EdDSA"}),
            kExitFailure);
  EXPECT_THAT(err(), HasSubstr("no unencrypted PEM private key"));
  EXPECT_EQ(Run({"token", "--user=a", "--private_key_file=/does/not/exist", "--algorithm=EdDSA"}),
            kExitFailure);
  EXPECT_THAT(err(), StartsWith("error: "));
}

}  // namespace
}  // namespace wirehub::ctl

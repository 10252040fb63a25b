#include "tools/wirehubctl/subcommand_help.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/cli_test_fixture.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

TEST_F(CliTest, HelpListsSubcommands) {
  EXPECT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish"), HasSubstr("broadcast"), HasSubstr("stats"),
                           HasSubstr("token"), HasSubstr("--control")));
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, HelpListsNewSubcommandsInOneColumn) {
  ASSERT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("\n  publish         Publish a JSON document"),
                           HasSubstr("\n  publish-stream  Publish \"CHANNEL JSON\" lines"),
                           HasSubstr("\n  history         Show the publications kept"),
                           HasSubstr("\n  history-remove  Drop the publications kept"),
                           HasSubstr("\n  help            Show help for a subcommand")));
  EXPECT_EQ(Run({"frobnicate"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("(expected publish, publish-stream, broadcast, history, "
                               "history-remove, presence, presence-stats, subscribe, "
                               "unsubscribe, disconnect, refresh, connections, channels, info, "
                               "stats, token, apikey or tail)"));
}

TEST_F(CliTest, ShortHelpAndHelpSubcommandMatchLongHelp) {
  ASSERT_EQ(Run({"--help"}), kExitOk);
  std::string expected = out();
  EXPECT_EQ(Run({"-h"}), kExitOk);
  EXPECT_EQ(out(), expected);
  EXPECT_EQ(Run({"help"}), kExitOk);
  EXPECT_EQ(out(), expected);
}

TEST_F(CliTest, SubcommandHelpPrintsItsUsage) {
  EXPECT_EQ(Run({"publish", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish CHANNEL JSON"), HasSubstr("--idempotency_key")));
  EXPECT_THAT(err(), IsEmpty());

  EXPECT_EQ(Run({"broadcast", "--help"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("broadcast CHANNEL... JSON"));

  EXPECT_EQ(Run({"stats", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("--top=N"), HasSubstr("--json")));

  EXPECT_EQ(Run({"token", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("--user=ID"), HasSubstr("--ttl=SECONDS"),
                           HasSubstr("--token_hmac_secret_file")));

  EXPECT_EQ(Run({"history", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("history CHANNEL"), HasSubstr("--limit=N"),
                           HasSubstr("--since_offset=N"), HasSubstr("--since_epoch=E"),
                           HasSubstr("--reverse"), HasSubstr("--json"), HasSubstr("--control")));

  EXPECT_EQ(Run({"history-remove", "--help"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("history-remove CHANNEL"));

  EXPECT_EQ(Run({"publish-stream", "--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("publish-stream"), HasSubstr("CHANNEL JSON"),
                           HasSubstr("line N: expected CHANNEL JSON"),
                           HasSubstr("--timeout does not apply")));
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(control_.streams, 0);
}

TEST_F(CliTest, HelpBeforeSubcommandAndHelpTopic) {
  EXPECT_EQ(Run({"--help", "stats"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("stats [--top=N] [--json]"));
  EXPECT_EQ(Run({"help", "token"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("--user=ID"));
}

TEST_F(CliTest, HelpWinsOverMissingArguments) {
  EXPECT_EQ(Run({"publish", "-h"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("publish CHANNEL JSON"));
  EXPECT_TRUE(control_.publishes.empty());
}

TEST_F(CliTest, NewSubcommandsHaveHelp) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> expected = {
      {"presence",
       {"presence CHANNEL", "--page_size=N", "--page_token=TOKEN", "--all", "--json", "--tenant=T",
        "--control"}},
      {"presence-stats", {"presence-stats CHANNEL", "clients=N users=M", "--tenant=T"}},
      {"subscribe", {"--user=U", "--client=C", "CHANNEL", "connections=N [edges_missing=M]"}},
      {"unsubscribe", {"--user=U", "--client=C", "CHANNEL", "2000"}},
      {"disconnect", {"--code=N", "--reason=TEXT", "--reconnect", "3000-4999"}},
      {"refresh", {"--expire_at=UNIX_SECONDS", "--ttl=DURATION", "--expired"}},
      {"connections", {"--user=U", "--channel=C", "--all", "--json", "EXPIRES"}},
      {"channels", {"--prefix=P", "--all", "--json", "SUBSCRIBERS"}},
      {"info", {"--json", "RSS", "UPTIME"}},
      {"token",
       {"--tenant=T", "--info=JSON", "--channels=A,B,...", "--channel=C", "--audience=AUD",
        "--issuer=ISS", "subscription token"}},
      {"tail",
       {"tail CHANNEL", "--url=", "ws://127.0.0.1:8000/connection/websocket", "wss://",
        "--tls_ca_file=FILE", "--tls_server_name=N", "cannot resolve 'HOST'", "certificate verify",
        "--token=JWT", "--user=ID", "--sub_token=JWT", "--count=N", "--timeout=DURATION",
        "--offsets", "--recover", "--epoch=E", "--offset=N", "closed: CODE reason",
        "error: subscribe: CODE message"}},
  };
  for (const auto& [subcommand, snippets] : expected) {
    EXPECT_EQ(Run({subcommand, "--help"}), kExitOk) << subcommand;
    for (const std::string& snippet : snippets) {
      EXPECT_THAT(out(), HasSubstr(snippet)) << subcommand;
    }
    EXPECT_THAT(err(), IsEmpty());
  }
  EXPECT_TRUE(connections_.empty());
  ASSERT_EQ(Run({"--help"}), kExitOk);
  EXPECT_THAT(out(), AllOf(HasSubstr("\n  presence-stats  Count the clients"),
                           HasSubstr("\n  tail            Follow a channel"),
                           HasSubstr("\n  info            Describe control")));
}

}  // namespace
}  // namespace wirehub::ctl

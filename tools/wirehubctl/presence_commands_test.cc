#include "tools/wirehubctl/presence_commands.h"

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

v1::ClientInfo Client(const std::string& client, const std::string& user,
                      const std::string& conn_info = "", const std::string& chan_info = "") {
  v1::ClientInfo info;
  info.set_client(client);
  info.set_user(user);
  info.set_conn_info(conn_info);
  info.set_chan_info(chan_info);
  return info;
}

TEST_F(CliTest, PresencePrintsATable) {
  v1::PresenceResponse page;
  *page.add_clients() = Client("c1", "alice", R"({"name":"Alice"})", R"({"role":"admin"})");
  *page.add_clients() = Client("c22", "", "", "");
  control_.presence_pages = {page};
  EXPECT_EQ(Run({"presence", "chat:1", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(out(),
            "CLIENT  USER   CONN_INFO         CHAN_INFO\n"
            "c1      alice  {\"name\":\"Alice\"}  {\"role\":\"admin\"}\n"
            "c22     -      -                 -\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.presences.size(), 1u);
  EXPECT_EQ(control_.presences[0].channel(), "chat:1");
  EXPECT_EQ(control_.presences[0].tenant(), "acme");
  EXPECT_EQ(control_.presences[0].page_size(), 0);
  EXPECT_EQ(control_.presences[0].page_token(), "");
}

TEST_F(CliTest, PresenceEmptyAndNextPage) {
  v1::PresenceResponse page;
  page.set_next_page_token("tok2");
  control_.presence_pages = {page};
  EXPECT_EQ(Run({"presence", "chat:1", "--page_size=2", "--page_token=tok1"}), kExitOk);
  EXPECT_EQ(out(), "(none)\nnext page: --page_token=tok2\n");
  ASSERT_EQ(control_.presences.size(), 1u);
  EXPECT_EQ(control_.presences[0].page_size(), 2);
  EXPECT_EQ(control_.presences[0].page_token(), "tok1");
}

TEST_F(CliTest, PresenceAllFollowsThePages) {
  v1::PresenceResponse first;
  *first.add_clients() = Client("c1", "u1");
  first.set_next_page_token("p2");
  v1::PresenceResponse second;
  *second.add_clients() = Client("c2", "u2");
  second.set_next_page_token("p3");
  v1::PresenceResponse last;
  *last.add_clients() = Client("c3", "u3");
  control_.presence_pages = {first, second, last};
  EXPECT_EQ(Run({"presence", "chat:1", "--all", "--page_size=1"}), kExitOk);
  EXPECT_EQ(out(),
            "CLIENT  USER  CONN_INFO  CHAN_INFO\n"
            "c1      u1    -          -\n"
            "c2      u2    -          -\n"
            "c3      u3    -          -\n");
  ASSERT_EQ(control_.presences.size(), 3u);
  EXPECT_EQ(control_.presences[0].page_token(), "");
  EXPECT_EQ(control_.presences[1].page_token(), "p2");
  EXPECT_EQ(control_.presences[2].page_token(), "p3");
  for (const v1::PresenceRequest& request : control_.presences) {
    EXPECT_EQ(request.page_size(), 1);
    EXPECT_EQ(request.channel(), "chat:1");
  }
}

TEST_F(CliTest, PresenceAllStopsOnARepeatedPageToken) {
  v1::PresenceResponse page;
  *page.add_clients() = Client("c1", "u1");
  page.set_next_page_token("again");
  control_.presence_pages = {page};  // Every call answers the same page.
  EXPECT_EQ(Run({"presence", "chat:1", "--all"}), kExitFailure);
  EXPECT_EQ(err(), "error: the server returned page token 'again' twice\n");
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(control_.presences.size(), 2u);
}

TEST_F(CliTest, PresenceJsonUsesTheProtobufMapping) {
  v1::PresenceResponse page;
  *page.add_clients() = Client("c1", "alice", R"({"a":1})");
  page.set_next_page_token("n");
  control_.presence_pages = {page};
  EXPECT_EQ(Run({"presence", "chat:1", "--json"}), kExitOk);
  v1::PresenceResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  ASSERT_EQ(parsed.clients_size(), 1);
  EXPECT_EQ(parsed.clients(0).client(), "c1");
  EXPECT_EQ(parsed.clients(0).conn_info(), R"({"a":1})");
  EXPECT_EQ(parsed.next_page_token(), "n");
  EXPECT_THAT(out(), HasSubstr("\"next_page_token\":\"n\""));
}

TEST_F(CliTest, PresenceUsageAndRpcErrors) {
  EXPECT_EQ(Run({"presence"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("presence takes CHANNEL, got 0 argument(s)"));
  EXPECT_EQ(Run({"presence", "a", "b"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--page_size=0"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--page_size=x"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--all=maybe"}), kExitUsage);
  EXPECT_EQ(Run({"presence", "a", "--user=u"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());

  control_.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no presence");
  EXPECT_EQ(Run({"presence", "a"}), kExitFailure);
  EXPECT_EQ(err(), "error: FAILED_PRECONDITION: no presence\n");
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, PresenceStatsPrintsCounts) {
  control_.presence_stats_response.set_num_clients(5);
  control_.presence_stats_response.set_num_users(3);
  EXPECT_EQ(Run({"presence-stats", "chat:1", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(out(), "clients=5 users=3\n");
  ASSERT_EQ(control_.presence_stats.size(), 1u);
  EXPECT_EQ(control_.presence_stats[0].channel(), "chat:1");
  EXPECT_EQ(control_.presence_stats[0].tenant(), "acme");

  EXPECT_EQ(Run({"presence-stats"}), kExitUsage);
  EXPECT_EQ(Run({"presence-stats", "a", "--json"}), kExitUsage);
  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad channel");
  EXPECT_EQ(Run({"presence-stats", "a b"}), kExitFailure);
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad channel\n");
}

}  // namespace
}  // namespace wirehub::ctl

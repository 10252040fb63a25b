#include "tools/wirehubctl/server_api_commands.h"

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

TEST_F(CliTest, StatsRejectsPositionalsAndBadTop) {
  EXPECT_EQ(Run({"stats", "extra"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--top=-1"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--top=ten"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--top=99999999999"}), kExitUsage);
  EXPECT_EQ(Run({"stats", "--json=maybe"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

void FillStats(v1::StatsResponse* stats) {
  v1::EdgeInfo* edge = stats->add_edges();
  edge->set_id("edge-7f3a");
  edge->set_address("127.0.0.1:40312");
  edge->set_public_address("ws://127.0.0.1:8000/connection/websocket");
  edge->set_version("0.1.0");
  edge->set_connected_since_unix_ms(1700000000123);
  edge->set_connections(12);
  edge->set_subscriptions(30);
  stats->set_total_connections(12);
  stats->set_unique_users(5);
  stats->set_subscriptions(30);
  stats->set_channels_with_subscribers(2);
  v1::ChannelSubscribers* top = stats->add_top_channels();
  top->set_channel("news");
  top->set_subscribers(11);
  stats->set_publications_accepted(100);
  stats->set_deliveries(1100);
}

TEST_F(CliTest, StatsTable) {
  FillStats(&control_.stats_response);
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_THAT(out(),
              AllOf(HasSubstr("edge-7f3a"), HasSubstr("2023-11-14T22:13:20Z"), HasSubstr("news"),
                    HasSubstr("publications accepted"), HasSubstr("1100"), Not(StartsWith("{"))));
  ASSERT_EQ(control_.stats.size(), 1u);
  EXPECT_EQ(control_.stats[0].top_channels(), 0);
}

TEST_F(CliTest, StatsTableWhenEmpty) {
  EXPECT_EQ(Run({"stats"}), kExitOk);
  EXPECT_THAT(out(), HasSubstr("(none)"));
}

TEST_F(CliTest, StatsJsonRoundTrips) {
  FillStats(&control_.stats_response);
  EXPECT_EQ(Run({"stats", "--json", "--top=25"}), kExitOk);
  ASSERT_EQ(control_.stats.size(), 1u);
  EXPECT_EQ(control_.stats[0].top_channels(), 25);

  std::string json = out();
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.back(), '\n');
  // Proto field names, and zero-valued fields are printed too.
  EXPECT_THAT(json,
              AllOf(HasSubstr("\"total_connections\""), HasSubstr("\"top_channels\""),
                    HasSubstr("\"slow_edge_detaches\""), HasSubstr("\"connected_since_unix_ms\"")));
  v1::StatsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &parsed).ok());
  EXPECT_EQ(parsed.SerializeAsString(), control_.stats_response.SerializeAsString());
}

TEST_F(CliTest, StatsJsonFlagBeforeSubcommand) {
  EXPECT_EQ(Run({"--json", "stats"}), kExitOk);
  EXPECT_THAT(out(), StartsWith("{"));
  EXPECT_EQ(Run({"stats", "--json=false"}), kExitOk);
  EXPECT_THAT(out(), Not(StartsWith("{")));
}

TEST_F(CliTest, SubscribeByUserOrClient) {
  control_.subscribe_response.set_connections(3);
  EXPECT_EQ(Run({"subscribe", "--user=alice", "news", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(out(), "connections=3\n");
  control_.subscribe_response.set_edges_missing(1);
  EXPECT_EQ(Run({"subscribe", "--client=c1", "news"}), kExitOk);
  EXPECT_EQ(out(), "connections=3 edges_missing=1\n");
  ASSERT_EQ(control_.subscribes.size(), 2u);
  EXPECT_EQ(control_.subscribes[0].user(), "alice");
  EXPECT_EQ(control_.subscribes[0].client(), "");
  EXPECT_EQ(control_.subscribes[0].channel(), "news");
  EXPECT_EQ(control_.subscribes[0].tenant(), "acme");
  EXPECT_EQ(control_.subscribes[1].user(), "");
  EXPECT_EQ(control_.subscribes[1].client(), "c1");
}

TEST_F(CliTest, UnsubscribeByUserAndClient) {
  control_.unsubscribe_response.set_connections(1);
  EXPECT_EQ(Run({"unsubscribe", "--user=alice", "--client=c1", "news"}), kExitOk);
  EXPECT_EQ(out(), "connections=1\n");
  ASSERT_EQ(control_.unsubscribes.size(), 1u);
  EXPECT_EQ(control_.unsubscribes[0].user(), "alice");
  EXPECT_EQ(control_.unsubscribes[0].client(), "c1");
  EXPECT_EQ(control_.unsubscribes[0].channel(), "news");
  EXPECT_TRUE(control_.subscribes.empty());
}

TEST_F(CliTest, SubscribeUsageAndRpcErrors) {
  for (const char* subcommand : {"subscribe", "unsubscribe"}) {
    EXPECT_EQ(Run({subcommand, "news"}), kExitUsage) << subcommand;
    EXPECT_THAT(err(), HasSubstr(std::string(subcommand) + " needs --user=U or --client=C"));
    EXPECT_EQ(Run({subcommand, "--user=alice"}), kExitUsage);
    EXPECT_THAT(err(), HasSubstr("takes CHANNEL, got 0 argument(s)"));
    EXPECT_EQ(Run({subcommand, "--user=", "news"}), kExitUsage);
    EXPECT_THAT(err(), HasSubstr("--user is empty"));
    EXPECT_EQ(Run({subcommand, "--client=", "news"}), kExitUsage);
    EXPECT_EQ(Run({subcommand, "--user=a", "news", "more"}), kExitUsage);
    EXPECT_EQ(Run({subcommand, "--user=a", "news", "--reason=x"}), kExitUsage);
  }
  EXPECT_TRUE(connections_.empty());
  control_.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no such client");
  EXPECT_EQ(Run({"subscribe", "--client=zz", "news"}), kExitFailure);
  EXPECT_EQ(err(), "error: NOT_FOUND: no such client\n");
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(Run({"unsubscribe", "--client=zz", "news"}), kExitFailure);
  EXPECT_EQ(err(), "error: NOT_FOUND: no such client\n");
}

TEST_F(CliTest, DisconnectSendsCodeReasonAndReconnect) {
  control_.disconnect_response.set_connections(2);
  control_.disconnect_response.set_edges_missing(2);
  EXPECT_EQ(Run({"disconnect", "--user=alice", "--tenant=acme", "--code=4000",
                 "--reason=maintenance", "--reconnect"}),
            kExitOk);
  EXPECT_EQ(out(), "connections=2 edges_missing=2\n");
  EXPECT_EQ(Run({"disconnect", "--client=c9"}), kExitOk);
  ASSERT_EQ(control_.disconnects.size(), 2u);
  const v1::DisconnectRequest& first = control_.disconnects[0];
  EXPECT_EQ(first.user(), "alice");
  EXPECT_EQ(first.tenant(), "acme");
  EXPECT_EQ(first.code(), 4000u);
  EXPECT_EQ(first.reason(), "maintenance");
  EXPECT_TRUE(first.reconnect());
  const v1::DisconnectRequest& second = control_.disconnects[1];
  EXPECT_EQ(second.client(), "c9");
  EXPECT_EQ(second.code(), 0u);
  EXPECT_EQ(second.reason(), "");
  EXPECT_FALSE(second.reconnect());
}

TEST_F(CliTest, DisconnectUsageErrors) {
  EXPECT_EQ(Run({"disconnect"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("disconnect needs --user=U or --client=C"));
  EXPECT_EQ(Run({"disconnect", "alice"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unexpected argument 'alice'"));
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=2999"}), kExitUsage);
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=5000"}), kExitUsage);
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=abc"}), kExitUsage);
  EXPECT_EQ(Run({"disconnect", "--user=a", "--reason=" + std::string(101, 'r')}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--reason is 101 bytes; at most 100"));
  EXPECT_EQ(Run({"disconnect", "--user=a", "--reconnect=perhaps"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(Run({"disconnect", "--user=a", "--code=3000", "--reason=" + std::string(100, 'r')}),
            kExitOk);
}

TEST_F(CliTest, DisconnectRpcError) {
  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad code");
  EXPECT_EQ(Run({"disconnect", "--user=a"}), kExitFailure);
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad code\n");
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, RefreshWithExpireAtTtlOrExpired) {
  control_.refresh_response.set_connections(4);
  EXPECT_EQ(Run({"refresh", "--user=alice", "--tenant=acme", "--expire_at=1800000000"}), kExitOk);
  EXPECT_EQ(out(), "connections=4\n");
  EXPECT_EQ(Run({"refresh", "--user=alice", "--expire_at=0"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--client=c1", "--ttl=90s"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--client=c1", "--ttl=2h"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--client=c1", "--ttl=1.5"}), kExitOk);
  EXPECT_EQ(Run({"refresh", "--user=alice", "--expired"}), kExitOk);
  ASSERT_EQ(control_.refreshes.size(), 6u);
  EXPECT_EQ(control_.refreshes[0].user(), "alice");
  EXPECT_EQ(control_.refreshes[0].tenant(), "acme");
  EXPECT_EQ(control_.refreshes[0].expire_at_unix(), 1800000000);
  EXPECT_FALSE(control_.refreshes[0].expired());
  EXPECT_EQ(control_.refreshes[1].expire_at_unix(), 0);
  EXPECT_EQ(control_.refreshes[2].client(), "c1");
  EXPECT_EQ(control_.refreshes[2].expire_at_unix(), 1700000090);
  EXPECT_EQ(control_.refreshes[3].expire_at_unix(), 1700007200);
  // Rounded up to whole seconds.
  EXPECT_EQ(control_.refreshes[4].expire_at_unix(), 1700000002);
  EXPECT_TRUE(control_.refreshes[5].expired());
  EXPECT_EQ(control_.refreshes[5].expire_at_unix(), 0);
}

TEST_F(CliTest, RefreshNeedsExactlyOneExpiry) {
  EXPECT_EQ(Run({"refresh", "--user=a"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("exactly one of --expire_at, --ttl and --expired"));
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired=false"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired", "--ttl=1m"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expire_at=5", "--ttl=1m"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--ttl=1m"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("refresh needs --user=U or --client=C"));
  for (const char* ttl :
       {"--ttl=0", "--ttl=-5s", "--ttl=soon", "--ttl=inf", "--ttl=nan", "--ttl=", "--ttl=99999y"}) {
    EXPECT_EQ(Run({"refresh", "--user=a", ttl}), kExitUsage) << ttl;
  }
  EXPECT_THAT(err(), HasSubstr("--ttl must be a positive number of seconds or a duration"));
  EXPECT_EQ(Run({"refresh", "--user=a", "--expire_at=-1"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expire_at=tomorrow"}), kExitUsage);
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired", "extra"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, RefreshRpcError) {
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "control is down");
  EXPECT_EQ(Run({"refresh", "--user=a", "--expired"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: control is down\n");
}

v1::ConnectionInfo Connection(const std::string& client, const std::string& user,
                              std::vector<std::string> channels, int64_t expires_ms) {
  v1::ConnectionInfo info;
  info.set_client(client);
  info.set_user(user);
  info.set_edge_id("edge-1");
  info.set_connected_at_unix_ms(1700000000000);
  info.set_expires_at_unix_ms(expires_ms);
  for (const std::string& channel : channels) info.add_channels(channel);
  return info;
}

TEST_F(CliTest, ConnectionsPrintsATable) {
  v1::ConnectionsResponse page;
  *page.add_connections() = Connection("c1", "alice", {"news", "chat:1"}, 1700003600000);
  v1::ConnectionInfo anonymous = Connection("c2", "", {}, 0);
  anonymous.set_conn_info("{\n\"device\": \"phone\"}");
  *page.add_connections() = anonymous;
  control_.connections_pages = {page};
  EXPECT_EQ(Run({"connections", "--tenant=acme", "--user=alice", "--channel=news"}), kExitOk);
  EXPECT_EQ(out(),
            "CLIENT  USER   EDGE    CONNECTED             EXPIRES               CHANNELS     "
            "INFO\n"
            "c1      alice  edge-1  2023-11-14T22:13:20Z  2023-11-14T23:13:20Z  news,chat:1  -\n"
            "c2      -      edge-1  2023-11-14T22:13:20Z  never                 -            "
            "{ \"device\": \"phone\"}\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.connection_lists.size(), 1u);
  EXPECT_EQ(control_.connection_lists[0].tenant(), "acme");
  EXPECT_EQ(control_.connection_lists[0].user(), "alice");
  EXPECT_EQ(control_.connection_lists[0].channel(), "news");
}

TEST_F(CliTest, ConnectionsAllMergesPagesAndWarnsAboutMissingEdges) {
  v1::ConnectionsResponse first;
  *first.add_connections() = Connection("c1", "u", {}, 0);
  first.set_next_page_token("p2");
  first.set_edges_missing(2);
  v1::ConnectionsResponse second;
  *second.add_connections() = Connection("c2", "u", {}, 0);
  second.set_edges_missing(1);
  control_.connections_pages = {first, second};
  EXPECT_EQ(Run({"connections", "--all", "--json"}), kExitOk);
  v1::ConnectionsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  ASSERT_EQ(parsed.connections_size(), 2);
  EXPECT_EQ(parsed.connections(0).client(), "c1");
  EXPECT_EQ(parsed.connections(1).client(), "c2");
  EXPECT_EQ(parsed.next_page_token(), "");
  EXPECT_EQ(parsed.edges_missing(), 2u);
  EXPECT_EQ(err(), "warning: 2 edge(s) did not answer in time; the list may be incomplete\n");
  ASSERT_EQ(control_.connection_lists.size(), 2u);
  EXPECT_EQ(control_.connection_lists[1].page_token(), "p2");
}

TEST_F(CliTest, ConnectionsUsageAndRpcErrors) {
  EXPECT_EQ(Run({"connections", "alice"}), kExitUsage);
  EXPECT_EQ(Run({"connections", "--page_size=-1"}), kExitUsage);
  EXPECT_EQ(Run({"connections", "--client=c1"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());
  control_.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "too slow");
  EXPECT_EQ(Run({"connections"}), kExitFailure);
  EXPECT_EQ(err(), "error: DEADLINE_EXCEEDED: too slow\n");
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, ChannelsPrintsNamesAndCounts) {
  v1::ChannelsResponse page;
  v1::ChannelSubscribers* news = page.add_channels();
  news->set_channel("news");
  news->set_subscribers(12);
  v1::ChannelSubscribers* chat = page.add_channels();
  chat->set_channel("news:sport");
  chat->set_subscribers(3);
  page.set_next_page_token("more");
  control_.channels_pages = {page};
  EXPECT_EQ(Run({"channels", "--prefix=news", "--tenant=acme", "--page_size=2"}), kExitOk);
  EXPECT_EQ(out(),
            "CHANNEL     SUBSCRIBERS\n"
            "news        12\n"
            "news:sport  3\n"
            "next page: --page_token=more\n");
  ASSERT_EQ(control_.channel_lists.size(), 1u);
  EXPECT_EQ(control_.channel_lists[0].prefix(), "news");
  EXPECT_EQ(control_.channel_lists[0].tenant(), "acme");
  EXPECT_EQ(control_.channel_lists[0].page_size(), 2);
}

TEST_F(CliTest, ChannelsEmptyAllAndJson) {
  EXPECT_EQ(Run({"channels", "--all"}), kExitOk);
  EXPECT_EQ(out(), "(none)\n");
  v1::ChannelsResponse page;
  page.add_channels()->set_channel("a");
  control_.channels_pages = {page};
  EXPECT_EQ(Run({"channels", "--json"}), kExitOk);
  v1::ChannelsResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  ASSERT_EQ(parsed.channels_size(), 1);
  EXPECT_EQ(parsed.channels(0).channel(), "a");
  EXPECT_THAT(out(), HasSubstr("\"subscribers\":\"0\""));  // uint64 as a string.

  EXPECT_EQ(Run({"channels", "x"}), kExitUsage);
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  EXPECT_EQ(Run({"channels"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: down\n");
}

TEST_F(CliTest, InfoPrintsControlThenEdges) {
  v1::NodeInfo* control = control_.info_response.mutable_control();
  control->set_id("control");
  control->set_kind("control");
  control->set_version("0.1.0");
  control->set_uptime_seconds(3725);
  control->set_connections(1);
  control->set_subscriptions(40);
  control->set_rss_bytes(52428800);
  control->set_address("127.0.0.1:7100");
  v1::NodeInfo* edge = control_.info_response.add_edges();
  edge->set_id("edge-1");
  edge->set_kind("edge");
  edge->set_version("0.1.0");
  edge->set_uptime_seconds(59);
  edge->set_connections(1000);
  edge->set_subscriptions(2500);
  edge->set_rss_bytes(900);
  control_.info_response.set_edges_missing(1);
  EXPECT_EQ(Run({"info"}), kExitOk);
  EXPECT_EQ(out(),
            "ID       KIND     VERSION  UPTIME  CONNECTIONS  SUBSCRIPTIONS  RSS       ADDRESS\n"
            "control  control  0.1.0    1h2m5s  1            40             50.0 MiB  "
            "127.0.0.1:7100\n"
            "edge-1   edge     0.1.0    59s     1000         2500           900 B     -\n");
  EXPECT_EQ(err(), "warning: 1 edge(s) did not answer in time; the list may be incomplete\n");
  EXPECT_EQ(control_.infos, 1);

  EXPECT_EQ(Run({"info", "--json"}), kExitOk);
  v1::InfoResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  EXPECT_EQ(parsed.control().id(), "control");
  EXPECT_EQ(parsed.edges_size(), 1);
  EXPECT_EQ(parsed.edges_missing(), 1u);
}

TEST_F(CliTest, InfoUsageAndRpcErrors) {
  EXPECT_EQ(Run({"info", "now"}), kExitUsage);
  EXPECT_EQ(Run({"info", "--all"}), kExitUsage);
  EXPECT_EQ(control_.infos, 0);
  control_.status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "down");
  EXPECT_EQ(Run({"info"}), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: down\n");
}

}  // namespace
}  // namespace wirehub::ctl

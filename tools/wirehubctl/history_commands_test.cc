#include "tools/wirehubctl/history_commands.h"

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

v1::HistoryResponse MakeHistory() {
  v1::HistoryResponse history;
  history.set_epoch("ep1");
  history.set_offset(9);
  v1::HistoryPublication* first = history.add_publications();
  first->set_offset(8);
  first->set_data(R"({"text":"a b"})");
  v1::HistoryPublication* second = history.add_publications();
  second->set_offset(9);
  second->set_data("{\n  \"n\": [1,\r\n 2]\n}");
  return history;
}

TEST_F(CliTest, HistoryPrintsPositionThenOnePublicationPerLine) {
  control_.history_response = MakeHistory();
  EXPECT_EQ(Run({"history", "news"}), kExitOk);
  EXPECT_EQ(out(),
            "epoch=ep1 offset=9\n"
            "8 {\"text\":\"a b\"}\n"
            "9 {   \"n\": [1,   2] }\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.histories.size(), 1u);
  const v1::HistoryRequest& request = control_.histories[0];
  EXPECT_EQ(request.channel(), "news");
  EXPECT_EQ(request.limit(), 100);
  EXPECT_FALSE(request.reverse());
  EXPECT_FALSE(request.has_since());
  ASSERT_EQ(connections_.size(), 1u);
  EXPECT_EQ(connections_[0].timeout, absl::Seconds(5));
}

TEST_F(CliTest, HistoryPassesLimitReverseAndSince) {
  EXPECT_EQ(Run({"history", "--limit=-1", "news", "--reverse", "--since_offset",
                 "18446744073709551615", "--since_epoch=ep1"}),
            kExitOk);
  EXPECT_EQ(Run({"history", "news", "--limit=0", "--since_offset=0", "--since_epoch=ep2"}),
            kExitOk);
  EXPECT_EQ(Run({"history", "news", "--limit=2147483647", "--reverse=false"}), kExitOk);
  ASSERT_EQ(control_.histories.size(), 3u);
  EXPECT_EQ(control_.histories[0].limit(), -1);
  EXPECT_TRUE(control_.histories[0].reverse());
  ASSERT_TRUE(control_.histories[0].has_since());
  EXPECT_EQ(control_.histories[0].since().offset(), UINT64_MAX);
  EXPECT_EQ(control_.histories[0].since().epoch(), "ep1");
  EXPECT_EQ(control_.histories[1].limit(), 0);
  ASSERT_TRUE(control_.histories[1].has_since());
  EXPECT_EQ(control_.histories[1].since().offset(), 0u);
  EXPECT_EQ(control_.histories[1].since().epoch(), "ep2");
  EXPECT_EQ(control_.histories[2].limit(), 2147483647);
  EXPECT_FALSE(control_.histories[2].reverse());
  EXPECT_FALSE(control_.histories[2].has_since());
}

TEST_F(CliTest, HistoryWithOnlyThePosition) {
  control_.history_response.set_epoch("ep1");
  control_.history_response.set_offset(0);
  EXPECT_EQ(Run({"history", "news", "--limit=0"}), kExitOk);
  EXPECT_EQ(out(), "epoch=ep1 offset=0\n");
}

TEST_F(CliTest, HistoryJsonEmbedsTheDocuments) {
  control_.history_response = MakeHistory();
  EXPECT_EQ(Run({"history", "news", "--json"}), kExitOk);
  EXPECT_EQ(out(),
            R"({"epoch":"ep1","offset":9,"publications":[{"offset":8,"data":{"text":"a b"}},)"
            R"({"offset":9,"data":{   "n": [1,   2] }}]})"
            "\n");

  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  EXPECT_EQ(parsed.fields().at("epoch").string_value(), "ep1");
  EXPECT_EQ(parsed.fields().at("offset").number_value(), 9);
  const google::protobuf::ListValue& publications = parsed.fields().at("publications").list_value();
  ASSERT_EQ(publications.values_size(), 2);
  const google::protobuf::Struct& second = publications.values(1).struct_value();
  EXPECT_EQ(second.fields().at("offset").number_value(), 9);
  EXPECT_EQ(second.fields().at("data").struct_value().fields().at("n").list_value().values_size(),
            2);
}

TEST_F(CliTest, HistoryJsonWhenEmptyAndEpochEscaped) {
  control_.history_response.set_epoch("a\"b\\c\x01");
  control_.history_response.set_offset(3);
  EXPECT_EQ(Run({"--json", "history", "news"}), kExitOk);
  EXPECT_EQ(out(), R"({"epoch":"a\"b\\c\u0001","offset":3,"publications":[]})"
                   "\n");
  google::protobuf::Struct parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out(), &parsed).ok()) << out();
  EXPECT_EQ(parsed.fields().at("epoch").string_value(), "a\"b\\c\x01");
}

TEST_F(CliTest, HistoryUsageErrors) {
  EXPECT_EQ(Run({"history"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("history takes CHANNEL, got 0 argument(s)"));
  EXPECT_EQ(Run({"history", "a", "b"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--since_offset=5"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--since_offset and --since_epoch must be given together"));
  EXPECT_EQ(Run({"history", "news", "--since_epoch=ep1"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--since_offset and --since_epoch must be given together"));
  EXPECT_EQ(Run({"history", "news", "--since_offset=5", "--since_epoch="}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--since_epoch must not be empty"));
  for (const char* offset : {"-1", "abc", "", " 5", "+5", "18446744073709551616"}) {
    EXPECT_EQ(
        Run({"history", "news", std::string("--since_offset=") + offset, "--since_epoch=ep1"}),
        kExitUsage)
        << offset;
    EXPECT_THAT(err(), HasSubstr("--since_offset must be an unsigned 64-bit integer"));
  }
  EXPECT_EQ(Run({"history", "news", "--limit=-2"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--limit=ten"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--limit=2147483648"}), kExitUsage);
  EXPECT_EQ(Run({"history", "news", "--reverse=maybe"}), kExitUsage);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_TRUE(connections_.empty());
  EXPECT_TRUE(control_.histories.empty());
}

TEST_F(CliTest, HistoryRpcFailureIsReported) {
  control_.status = grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "namespace has no history");
  EXPECT_EQ(Run({"history", "news"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: FAILED_PRECONDITION: namespace has no history\n");
  EXPECT_EQ(Run({"history", "news", "--json"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
}

TEST_F(CliTest, HistoryRemovePrintsOk) {
  EXPECT_EQ(Run({"--control=h:1", "history-remove", "news"}), kExitOk);
  EXPECT_EQ(out(), "ok\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.history_removes.size(), 1u);
  EXPECT_EQ(control_.history_removes[0].channel(), "news");
  ASSERT_EQ(connections_.size(), 1u);
  EXPECT_EQ(connections_[0].target, "h:1");
}

TEST_F(CliTest, HistoryRemoveUsageAndRpcErrors) {
  EXPECT_EQ(Run({"history-remove"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("history-remove takes CHANNEL, got 0 argument(s)"));
  EXPECT_EQ(Run({"history-remove", "a", "b"}), kExitUsage);
  EXPECT_TRUE(connections_.empty());

  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad channel name");
  EXPECT_EQ(Run({"history-remove", "bad channel"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad channel name\n");
}

}  // namespace
}  // namespace wirehub::ctl

#include "tools/bench/case_result.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CaseResultTest, JsonHasSetFieldsOnly) {
  CaseResult result;
  result.scenario = "fanout";
  result.case_name = "1->10k @ 10/s";
  result.server = "wirehub";
  result.clients = 10000;
  result.channels = 1;
  result.publish_rate = 10;
  result.delivered = 2000000;
  result.server_cpu_us_per_delivery = 4.25;
  std::string json = ToJsonLine(result);
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  EXPECT_THAT(json, HasSubstr(R"("scenario":"fanout")"));
  EXPECT_THAT(json, HasSubstr(R"("case":"1->10k @ 10/s")"));
  EXPECT_THAT(json, HasSubstr(R"("clients":10000)"));
  EXPECT_THAT(json, HasSubstr(R"("delivered":2000000)"));
  EXPECT_THAT(json, HasSubstr(R"("server_cpu_us_per_delivery":4.25)"));
  EXPECT_THAT(json, Not(HasSubstr("missing")));
  EXPECT_THAT(json, Not(HasSubstr("latency_us")));
  EXPECT_THAT(json, Not(HasSubstr("\n")));
}

TEST(CaseResultTest, LatencyInMicroseconds) {
  CaseResult result;
  result.scenario = "latency";
  LatencyHistogram histogram;
  for (int i = 0; i < 1000; ++i) histogram.Record(2'000'000);  // 2 ms
  result.latency = histogram;
  std::string json = ToJsonLine(result);
  // The histogram's buckets are within 0.78 % of the value.
  EXPECT_THAT(json, HasSubstr(R"("latency_us":{"p50":)"));
  EXPECT_THAT(json, HasSubstr(R"("count":1000})"));
  size_t at = json.find(R"("p50":)");
  double p50 = std::stod(json.substr(at + 6));
  EXPECT_NEAR(p50, 2000, 2000 * 0.008);
}

TEST(CaseResultTest, EscapesStringsAndListsProcesses) {
  CaseResult result;
  result.notes = "3 clients failed: \"bad\"\nnext";
  result.processes.push_back({"edge", 42, 1.5, 1 << 20});
  std::string json = ToJsonLine(result);
  EXPECT_THAT(json, HasSubstr(R"("notes":"3 clients failed: \"bad\"\nnext")"));
  EXPECT_THAT(
      json, HasSubstr(R"("processes":[{"name":"edge","pid":42,"cpu_s":1.5,"rss_bytes":1048576}])"));
}

TEST(CaseResultTest, SummaryNamesTheFigures) {
  CaseResult result;
  result.scenario = "idle";
  result.case_name = "15000 idle subscribers";
  result.server = "nchan";
  result.clients = 15000;
  result.connects_per_s = 12000;
  result.rss_per_client_bytes = 1800;
  std::string summary = ToSummary(result);
  EXPECT_THAT(summary, HasSubstr("[idle] 15000 idle subscribers on nchan"));
  EXPECT_THAT(summary, HasSubstr("12000 connects/s"));
  EXPECT_THAT(summary, HasSubstr("1800 B RSS/client"));
}

TEST(CaseResultTest, TokenFiguresOnlyWhenSet) {
  CaseResult result;
  result.scenario = "fanout";
  result.processes.push_back({"edge", 42, 1.5, 1 << 20});
  std::string json = ToJsonLine(result);
  EXPECT_THAT(json, Not(HasSubstr("first_token_us")));
  EXPECT_THAT(json, Not(HasSubstr("context_switches")));
  EXPECT_THAT(json, Not(HasSubstr("per_publication")));

  result.scenario = "tokens";
  result.processes[0].context_switches = 1234;
  result.publish_failed = 0;
  result.control_cpu_us_per_publication = 12.5;
  result.edge_context_switches_per_publication = 0.75;
  LatencyHistogram first_token;
  for (int i = 0; i < 100; ++i) first_token.Record(3'000'000);  // 3 ms
  result.first_token_latency = first_token;
  result.gap_jitter = LatencyHistogram();
  json = ToJsonLine(result);
  EXPECT_THAT(json, HasSubstr(R"("cpu_s":1.5,"rss_bytes":1048576,"context_switches":1234})"));
  EXPECT_THAT(json, HasSubstr(R"("publish_failed":0)"));
  EXPECT_THAT(json, HasSubstr(R"("control_cpu_us_per_publication":12.5)"));
  EXPECT_THAT(json, HasSubstr(R"("edge_context_switches_per_publication":0.75)"));
  EXPECT_THAT(json, HasSubstr(R"("first_token_us":{"p50":)"));
  EXPECT_THAT(json, HasSubstr(R"("count":100})"));
  EXPECT_THAT(json, HasSubstr(R"("gap_jitter_us":{"p50":0,"p99":0,"max":0,"count":0})"));
  EXPECT_THAT(json, Not(HasSubstr("receive_gap_us")));
}

TEST(CaseResultTest, TokenSummary) {
  CaseResult result;
  result.scenario = "tokens";
  result.case_name = "1000 conversations @ 30/s via multiplexed";
  result.server = "wirehub";
  result.published = 300000;
  result.accepted = 299990;
  result.publish_failed = 10;
  result.delivered = 599980;
  result.expected = 599980;
  result.late = 2;
  result.control_cpu_us_per_publication = 3.25;
  result.edge_cpu_us_per_publication = 8.5;
  LatencyHistogram first_token;
  first_token.Record(4'000'000);
  result.first_token_latency = first_token;
  result.max_publisher_lag_ms = 1.5;
  std::string summary = ToSummary(result);
  EXPECT_THAT(summary, HasSubstr("published 300000, accepted 299990, failed 10"));
  EXPECT_THAT(summary, HasSubstr("out of order 2"));
  EXPECT_THAT(summary, HasSubstr("control 3.25 us CPU"));
  EXPECT_THAT(summary, HasSubstr("first token p50 4.00 ms"));
  EXPECT_THAT(summary, HasSubstr("publisher max lag 1.5 ms"));
}

}  // namespace
}  // namespace wirehub::bench

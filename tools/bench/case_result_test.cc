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

}  // namespace
}  // namespace wirehub::bench

#include "tools/bench/redis_script.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::bench {
namespace {

TEST(RedisScriptTest, ReadsTheLastCsvRecordFromTheEnd) {
  // A custom command's name holds its arguments, quotes and newlines too.
  const std::string output =
      "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\","
      "\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n"
      "\"EVALSHA abc 3 k,\"x\n\ny\",\"89285.71\",\"0.527\",\"0.136\",\"0.487\",\"0.831\","
      "\"1.143\",\"3.047\"\n";
  absl::StatusOr<RedisBenchmarkFigures> figures = ParseRedisBenchmarkCsv(output);
  ASSERT_TRUE(figures.ok()) << figures.status();
  EXPECT_DOUBLE_EQ(figures->calls_per_s, 89285.71);
  EXPECT_DOUBLE_EQ(figures->p50_ms, 0.487);
  EXPECT_DOUBLE_EQ(figures->p99_ms, 1.143);
  EXPECT_FALSE(ParseRedisBenchmarkCsv("ERROR: connection refused\n").ok());
}

TEST(RedisScriptTest, ShapesArgumentsLikeControlsPublish) {
  std::vector<std::string> args = PublishScriptArgs("bench0", "runid", 100, 100);
  ASSERT_EQ(args.size(), 12u);
  EXPECT_EQ(args[0], "3");
  EXPECT_EQ(args[1], "wirehub:{bench0}:m");
  EXPECT_EQ(args[2], "wirehub:{bench0}:h");
  EXPECT_EQ(args[3], "wirehub:{bench0}:i:");
  EXPECT_EQ(args[4], "runid");
  EXPECT_EQ(args[6], "100");
  EXPECT_EQ(args[9], "0");  // no idempotency key
  EXPECT_EQ(args[10], "wirehub:{bench0}:p");
  edge::v1::Publication publication;
  ASSERT_TRUE(publication.ParseFromString(args[11]));
  EXPECT_EQ(publication.channel(), "bench0");
  EXPECT_EQ(publication.data().size(), 100u);
  EXPECT_GT(publication.accepted_unix_micros(), 0);
}

}  // namespace
}  // namespace wirehub::bench

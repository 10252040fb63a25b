#include "tools/bench/bench_payload.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;

TEST(BenchPayloadTest, WritesTheDocumentedFormatPaddedToSize) {
  std::string out;
  FormatBenchPayload(BenchPayload{.ts_ns = 123456789, .seq = 42}, 50, &out);
  EXPECT_EQ(out, "{\"ts\":123456789,\"seq\":42,\"pad\":\"" + std::string(16, 'x') + "\"}");
  EXPECT_EQ(out.size(), 50u);
  FormatBenchPayload(BenchPayload{.ts_ns = 1, .seq = 1}, 0, &out);
  EXPECT_EQ(out, "{\"ts\":1,\"seq\":1,\"pad\":\"\"}");
  EXPECT_EQ(MinBenchPayloadSize(BenchPayload{.ts_ns = 1, .seq = 1}), out.size());
}

TEST(BenchPayloadTest, DefaultSizeWithRealisticValues) {
  BenchPayload payload{.ts_ns = MonotonicNowNs(), .seq = 18446744073709551615u};
  std::string out;
  FormatBenchPayload(payload, kDefaultBenchPayloadBytes, &out);
  EXPECT_EQ(out.size(), kDefaultBenchPayloadBytes);
  size_t size = 0;
  absl::StatusOr<BenchPayload> parsed = ParseBenchPayload(out + ",\"offset\":1}", &size);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->ts_ns, payload.ts_ns);
  EXPECT_EQ(parsed->seq, payload.seq);
  EXPECT_EQ(size, out.size());
}

TEST(BenchPayloadTest, WriteRefusesASmallBuffer) {
  char out[40];
  EXPECT_EQ(
      WriteBenchPayload(BenchPayload{.ts_ns = 5, .seq = 5}, 41, out, sizeof(out)).status().code(),
      absl::StatusCode::kResourceExhausted);
  absl::StatusOr<size_t> written =
      WriteBenchPayload(BenchPayload{.ts_ns = 5, .seq = 5}, 40, out, sizeof(out));
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 40u);
}

TEST(BenchPayloadTest, ParseRefusesOtherData) {
  for (const char* bad :
       {"", "{}", "{\"seq\":1,\"ts\":2,\"pad\":\"\"}", "{\"ts\":-1,\"seq\":1,\"pad\":\"\"}",
        "{\"ts\":1,\"seq\":,\"pad\":\"\"}", "{\"ts\":1,\"seq\":1,\"pad\":\"xxx",
        "{\"ts\":1,\"seq\":1,\"pad\":\"xx\",\"more\":1}", "{\"ts\":99999999999999999999,\"seq\":1",
        "{\"ts\":9223372036854775808,\"seq\":1,\"pad\":\"\"}", "{\"round\":1}"}) {
    EXPECT_EQ(ParseBenchPayload(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParsePublicationPushTest, ReadsWhatTheEdgeSends) {
  // The shape of EncodePublicationPush in edge/client_protocol.cc.
  std::string data;
  FormatBenchPayload(BenchPayload{.ts_ns = 987654321012, .seq = 7}, 100, &data);
  std::string line =
      "{\"push\":{\"channel\":\"bench:0\",\"pub\":{\"data\":" + data + ",\"offset\":77}}}";
  absl::StatusOr<PublicationPush> push = ParsePublicationPush(line);
  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_EQ(push->channel, "bench:0");
  EXPECT_EQ(push->payload.ts_ns, 987654321012);
  EXPECT_EQ(push->payload.seq, 7u);
  EXPECT_EQ(push->offset, 77u);

  // With client info after the offset, and a channel with escaped quotes.
  line = "{\"push\":{\"channel\":\"a\\\\\\\"b\",\"pub\":{\"data\":" + data +
         ",\"offset\":3,\"info\":{\"user\":\"u\",\"client\":\"c\"}}}}";
  push = ParsePublicationPush(line);
  ASSERT_TRUE(push.ok()) << push.status();
  EXPECT_EQ(push->channel, "a\\\\\\\"b");
  EXPECT_EQ(push->offset, 3u);
}

TEST(ParsePublicationPushTest, TellsOtherLinesFromBrokenOnes) {
  for (const char* other : {"{\"id\":1,\"connect\":{\"client\":\"x\"}}", "{}",
                            "{\"push\":{\"channel\":\"c\",\"join\":{\"info\":{\"user\":\"u\"}}}}",
                            "{\"push\":{\"channel\":\"c\",\"unsubscribe\":{\"code\":2500}}}"}) {
    EXPECT_EQ(ParsePublicationPush(other).status().code(), absl::StatusCode::kNotFound) << other;
  }
  for (const char* broken :
       {"{\"push\":{\"channel\":\"c", "{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"x\":1}",
        "{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"ts\":1,\"seq\":2,\"pad\":\"\"}}}}",
        "{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"ts\":1,\"seq\":2,\"pad\":\"\"},"
        "\"offset\":}}}"}) {
    absl::StatusOr<PublicationPush> push = ParsePublicationPush(broken);
    EXPECT_EQ(push.status().code(), absl::StatusCode::kInvalidArgument) << broken;
  }
  EXPECT_THAT(ParsePublicationPush("{\"push\":{\"channel\":\"c\",\"pub\":{\"data\":{\"n\":1}}}}")
                  .status()
                  .message(),
              HasSubstr("not a bench payload"));
}

}  // namespace
}  // namespace wirehub::bench

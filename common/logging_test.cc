#include "common/logging.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"

namespace wirehub {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// 2026-12-06T11:22:33.456Z
const absl::Time kStart = absl::FromUnixMillis(1796556153456);
std::atomic<int64_t> fake_now_nanos{0};

absl::Time FakeNow() { return absl::FromUnixNanos(fake_now_nanos.load()); }

void AdvanceClock(absl::Duration by) { fake_now_nanos.fetch_add(absl::ToInt64Nanoseconds(by)); }

class CapturingSink : public LogSink {
 public:
  void Write(std::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_now_nanos.store(absl::ToUnixNanos(kStart));
    log_internal::SetClockForTesting(&FakeNow);
    previous_sink_ = SetLogSink(&sink_);
  }
  void TearDown() override {
    SetLogSink(previous_sink_);
    log_internal::SetClockForTesting(nullptr);
    SetLogFormat(LogFormat::kText);
    SetMinLogSeverity(LogSeverity::kInfo);
  }

  std::vector<std::string> Lines() { return sink_.lines(); }

  // The one line written, checked to be one valid JSON object.
  std::string OnlyJsonLine() {
    std::vector<std::string> lines = Lines();
    EXPECT_THAT(lines, SizeIs(1));
    if (lines.size() != 1) return "";
    std::string line = lines[0];
    EXPECT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    EXPECT_EQ(parser.parse(line).get(element), simdjson::SUCCESS) << line;
    EXPECT_TRUE(element.is_object()) << line;
    line.pop_back();
    return line;
  }

  CapturingSink sink_;
  LogSink* previous_sink_ = nullptr;
};

TEST_F(LoggingTest, TextKeepsTheClassicShape) {
  const int line = __LINE__ + 1;
  WH_LOG(WARNING) << "edge " << 7 << " detached";
  EXPECT_THAT(Lines(), ElementsAre("W 2026-12-06T11:22:33.456Z logging_test.cc:" +
                                   std::to_string(line) + "] edge 7 detached\n"));
}

TEST_F(LoggingTest, TextEventFieldsAreKeyValueQuotedWhenNeeded) {
  const int line = __LINE__ + 1;
  WH_EVENT(INFO, "drain_started")
          .Field("clients", 12)
          .Field("reason", "slow peer")
          .Field("quote", "say \"hi\"")
          .Field("empty", "")
          .Field("ok", true)
          .Field("ratio", 0.25)
          .Field("delay", absl::Seconds(5))
          .stream()
      << "waves begin";
  EXPECT_THAT(Lines(),
              ElementsAre("I 2026-12-06T11:22:33.456Z logging_test.cc:" + std::to_string(line) +
                          "] waves begin event=drain_started clients=12 "
                          "reason=\"slow peer\" quote=\"say \\\"hi\\\"\" empty=\"\" "
                          "ok=true ratio=0.25 delay=5s\n"));
}

TEST_F(LoggingTest, TextEventWithoutMessage) {
  WH_EVENT(ERROR, "link_lost").Field("edge", "e1");
  ASSERT_THAT(Lines(), SizeIs(1));
  EXPECT_THAT(Lines()[0], HasSubstr(".cc:"));
  EXPECT_THAT(Lines()[0], testing::EndsWith("] event=link_lost edge=e1\n"));
  EXPECT_EQ(Lines()[0][0], 'E');
}

TEST_F(LoggingTest, TextEscapesControlCharactersSoALineStaysALine) {
  WH_LOG(INFO) << "first\nI 2026-01-01T00:00:00.000Z forged.cc:1] second\x01\r\t";
  WH_EVENT(INFO, "x").Field("value", "a\nb");
  std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(
      lines[0],
      testing::EndsWith("] first\\nI 2026-01-01T00:00:00.000Z forged.cc:1] second\\x01\\r\\t\n"));
  EXPECT_THAT(lines[1], testing::EndsWith("] event=x value=\"a\\nb\"\n"));
}

TEST_F(LoggingTest, TrailingNewlinesOfTheMessageAreDropped) {
  WH_LOG(INFO) << "from a C library\n";
  EXPECT_THAT(Lines()[0], testing::EndsWith("] from a C library\n"));
}

TEST_F(LoggingTest, JsonLineHasTheCommonMembersThenTheFields) {
  SetLogFormat(LogFormat::kJson);
  const int line = __LINE__ + 1;
  WH_EVENT(INFO, "drain_started").Field("clients", 12).Field("waves", 4).stream() << "draining";
  EXPECT_EQ(OnlyJsonLine(),
            "{\"ts\":\"2026-12-06T11:22:33.456Z\",\"level\":\"info\","
            "\"src\":\"logging_test.cc:" +
                std::to_string(line) +
                "\",\"msg\":\"draining\",\"event\":\"drain_started\","
                "\"clients\":12,\"waves\":4}");
}

TEST_F(LoggingTest, JsonLevels) {
  SetLogFormat(LogFormat::kJson);
  SetMinLogSeverity(LogSeverity::kDebug);
  WH_LOG(DEBUG) << "d";
  WH_LOG(INFO) << "i";
  WH_LOG(WARNING) << "w";
  WH_LOG(ERROR) << "e";
  std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(4));
  EXPECT_THAT(lines[0], HasSubstr("\"level\":\"debug\""));
  EXPECT_THAT(lines[1], HasSubstr("\"level\":\"info\""));
  EXPECT_THAT(lines[2], HasSubstr("\"level\":\"warning\""));
  EXPECT_THAT(lines[3], HasSubstr("\"level\":\"error\""));
}

TEST_F(LoggingTest, JsonNumbersBoolsAndStrings) {
  SetLogFormat(LogFormat::kJson);
  WH_EVENT(INFO, "e")
      .Field("negative", -3)
      .Field("u64", std::numeric_limits<uint64_t>::max())
      .Field("byte", uint8_t{200})
      .Field("half", 0.5)
      .Field("big", 1234567.0)
      .Field("inf", std::numeric_limits<double>::infinity())
      .Field("nan", std::nan(""))
      .Field("yes", true)
      .Field("letter", 'x')
      .Field("text", std::string("t"))
      .Field("view", std::string_view("v"))
      .Field("duration", absl::Milliseconds(1500))
      .Field("forever", absl::InfiniteDuration());
  EXPECT_THAT(OnlyJsonLine(),
              testing::EndsWith("\"event\":\"e\",\"negative\":-3,\"u64\":18446744073709551615,"
                                "\"byte\":200,\"half\":0.5,\"big\":1234567,\"inf\":\"inf\","
                                "\"nan\":\"nan\",\"yes\":true,\"letter\":\"x\",\"text\":\"t\","
                                "\"view\":\"v\",\"duration\":1.5,\"forever\":\"inf\"}"));
}

TEST_F(LoggingTest, JsonEscapesQuotesBackslashesAndControlCharacters) {
  SetLogFormat(LogFormat::kJson);
  WH_EVENT(INFO, "e").Field("k", "a\"b\\c\x01\x1f\x7f").stream() << "line\nbreak\ttab\r";
  EXPECT_THAT(OnlyJsonLine(), HasSubstr("\"msg\":\"line\\nbreak\\ttab\",\"event\":\"e\","
                                        "\"k\":\"a\\\"b\\\\c\\u0001\\u001f\\u007f\"}"));
}

TEST_F(LoggingTest, JsonReplacesInvalidUtf8AndKeepsValidUtf8) {
  SetLogFormat(LogFormat::kJson);
  const std::string replacement = "\xef\xbf\xbd";
  // Valid: é, €, 😀. Invalid: a lone continuation byte, 0xff, an overlong
  // '/', a UTF-16 surrogate, a sequence cut short, a code point above U+10FFFF.
  WH_LOG(INFO) << "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x80|\xff|\xc0\xaf|\xed\xa0\x80|\xe2\x82|"
               << "\xf4\x90\x80\x80";
  const std::string r = replacement;
  EXPECT_THAT(OnlyJsonLine(),
              HasSubstr("\"msg\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|" + r + "|" + r + "|" + r +
                        r + "|" + r + r + r + "|" + r + r + "|" + r + r + r + r + "\""));
}

TEST_F(LoggingTest, JsonFieldsCannotTakeTheCommonMembers) {
  SetLogFormat(LogFormat::kJson);
  WH_EVENT(INFO, "e").Field("msg", "m").Field("level", 1).stream() << "text";
  EXPECT_THAT(OnlyJsonLine(), HasSubstr("\"msg\":\"text\",\"event\":\"e\",\"msg_\":\"m\","
                                        "\"level_\":1}"));
}

int evaluated = 0;
int Evaluate() { return ++evaluated; }

TEST_F(LoggingTest, BelowTheMinimumNothingIsWrittenOrEvaluated) {
  evaluated = 0;
  WH_LOG(DEBUG) << "off by default " << Evaluate();
  SetMinLogSeverity(LogSeverity::kWarning);
  WH_LOG(INFO) << "filtered " << Evaluate();
  WH_EVENT(INFO, "filtered").Field("n", Evaluate());
  WH_LOG(WARNING) << "kept " << Evaluate();
  WH_LOG(ERROR) << "kept";
  SetMinLogSeverity(LogSeverity::kError);
  WH_LOG(WARNING) << "filtered";
  EXPECT_EQ(evaluated, 1);
  std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], testing::EndsWith("] kept 1\n"));
  EXPECT_THAT(lines[1], testing::EndsWith("] kept\n"));
}

TEST_F(LoggingTest, DebugWhenAskedFor) {
  SetMinLogSeverity(LogSeverity::kDebug);
  WH_LOG(DEBUG) << "detail";
  ASSERT_THAT(Lines(), SizeIs(1));
  EXPECT_EQ(Lines()[0][0], 'D');
}

TEST_F(LoggingTest, MacrosNestInIfElse) {
  bool taken = false;
  if (taken)
    WH_LOG(INFO) << "not this";
  else
    WH_LOG(INFO) << "this";
  ASSERT_THAT(Lines(), SizeIs(1));
  EXPECT_THAT(Lines()[0], testing::EndsWith("] this\n"));
}

TEST_F(LoggingTest, EveryNSecWritesOncePerPeriodAndCountsTheRest) {
  evaluated = 0;
  auto storm = [](int calls) {
    for (int i = 0; i < calls; ++i) {
      WH_LOG_EVERY_N_SEC(WARNING, 10) << "accept failed " << Evaluate();
    }
  };
  storm(5);
  EXPECT_THAT(Lines(), SizeIs(1));
  EXPECT_EQ(evaluated, 1) << "a held-back line evaluates nothing after <<";
  AdvanceClock(absl::Seconds(9));
  storm(3);
  EXPECT_THAT(Lines(), SizeIs(1));
  AdvanceClock(absl::Seconds(1));
  storm(2);
  AdvanceClock(absl::Seconds(10));
  storm(1);
  std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(3));
  EXPECT_THAT(lines[0], testing::EndsWith("] accept failed 1\n"));
  EXPECT_THAT(lines[1], testing::EndsWith("] accept failed 2 (suppressed 7 similar)\n"));
  EXPECT_THAT(lines[2], testing::EndsWith("] accept failed 3 (suppressed 1 similar)\n"));
}

TEST_F(LoggingTest, EveryNSecCountsPerCallSite) {
  for (int i = 0; i < 3; ++i) {
    WH_LOG_EVERY_N_SEC(WARNING, 60) << "site a";
    WH_LOG_EVERY_N_SEC(WARNING, 60) << "site b";
  }
  EXPECT_THAT(Lines(), SizeIs(2));
}

TEST_F(LoggingTest, EveryNSecBelowTheMinimumTouchesNoLimiter) {
  auto site = [] { WH_LOG_EVERY_N_SEC(INFO, 60) << "info storm"; };
  SetMinLogSeverity(LogSeverity::kWarning);
  site();
  site();
  SetMinLogSeverity(LogSeverity::kInfo);
  site();
  ASSERT_THAT(Lines(), SizeIs(1));
  EXPECT_THAT(Lines()[0], testing::EndsWith("] info storm\n"));
}

TEST_F(LoggingTest, EventEveryNSecInJsonCarriesTheCount) {
  SetLogFormat(LogFormat::kJson);
  auto site = [] { WH_EVENT_EVERY_N_SEC(WARNING, "slow_client", 10).Field("queued", 42); };
  site();
  site();
  site();
  AdvanceClock(absl::Seconds(10));
  site();
  std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[0], HasSubstr("\"msg\":\"\",\"event\":\"slow_client\",\"queued\":42}"));
  EXPECT_THAT(lines[1],
              HasSubstr("\"msg\":\"\",\"suppressed\":2,\"event\":\"slow_client\",\"queued\":42}"));
}

TEST_F(LoggingTest, EveryNSecFromManyThreadsLetsOneThroughAndCountsEveryOther) {
  constexpr int kThreads = 8;
  constexpr int kCallsPerThread = 1000;
  auto site = [] { WH_LOG_EVERY_N_SEC(WARNING, 10) << "contended"; };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCallsPerThread; ++i) site();
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(Lines(), SizeIs(1));
  AdvanceClock(absl::Seconds(10));
  site();
  std::vector<std::string> lines = Lines();
  ASSERT_THAT(lines, SizeIs(2));
  EXPECT_THAT(lines[1],
              testing::EndsWith("] contended (suppressed " +
                                std::to_string(kThreads * kCallsPerThread - 1) + " similar)\n"));
}

TEST(LogRateLimiterTest, AcquireCountsWhatItHeldBack) {
  LogRateLimiter limiter;
  const absl::Duration period = absl::Seconds(10);
  EXPECT_EQ(limiter.Acquire(period, kStart), 0u);
  EXPECT_EQ(limiter.Acquire(period, kStart), std::nullopt);
  EXPECT_EQ(limiter.Acquire(period, kStart + absl::Seconds(9)), std::nullopt);
  EXPECT_EQ(limiter.Acquire(period, kStart + absl::Seconds(10)), 2u);
  EXPECT_EQ(limiter.Acquire(period, kStart + absl::Seconds(10)), std::nullopt);
  EXPECT_EQ(limiter.Acquire(period, kStart + absl::Hours(1)), 1u);
  EXPECT_EQ(limiter.Acquire(period, kStart + absl::Hours(2)), 0u);
}

TEST_F(LoggingTest, RateLimitedWithTheCallersLimiter) {
  LogRateLimiter peer_a;
  LogRateLimiter peer_b;
  auto fail = [](LogRateLimiter& peer, const char* name) {
    WH_LOG_RATE_LIMITED(WARNING, peer, absl::Seconds(30)) << "attach to " << name << " failed";
  };
  fail(peer_a, "a");
  fail(peer_b, "b");
  fail(peer_a, "a");
  fail(peer_a, "a");
  peer_a.Reset();  // a recovered: its next failure shows at once, alone
  fail(peer_a, "a");
  AdvanceClock(absl::Seconds(30));
  fail(peer_b, "b");
  EXPECT_THAT(Lines(), ElementsAre(testing::EndsWith("] attach to a failed\n"),
                                   testing::EndsWith("] attach to b failed\n"),
                                   testing::EndsWith("] attach to a failed\n"),
                                   testing::EndsWith("] attach to b failed\n")));
}

TEST(LogRateLimiterTest, ResetLetsTheNextCallThroughWithNothingHeldBack) {
  LogRateLimiter limiter;
  const absl::Duration period = absl::Seconds(10);
  EXPECT_EQ(limiter.Acquire(period, kStart), 0u);
  EXPECT_EQ(limiter.Acquire(period, kStart), std::nullopt);
  limiter.Reset();
  EXPECT_EQ(limiter.Acquire(period, kStart), 0u);
}

TEST(LogRateLimiterTest, ZeroPeriodLetsEverythingThrough) {
  LogRateLimiter limiter;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limiter.Acquire(absl::ZeroDuration(), kStart), 0u);
}

TEST(LoggingDeathTest, FatalWritesThenAborts) {
  EXPECT_DEATH(WH_CHECK(1 + 1 == 3) << "arithmetic", "check failed: 1 \\+ 1 == 3 arithmetic");
}

}  // namespace
}  // namespace wirehub

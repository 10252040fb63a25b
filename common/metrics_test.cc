#include "common/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsTest, CounterRendersWithHelpTypeAndLabels) {
  Registry registry;
  CounterFamily& commands = registry.AddCounter("wirehub_test_commands_total", "Commands answered.",
                                                {"method", "result"});
  commands.Get({"subscribe", "ok"}).Increment();
  commands.Get({"subscribe", "ok"}).Increment(2);
  commands.Get({"publish", "error"}).Increment();
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP wirehub_test_commands_total Commands answered.\n"
                              "# TYPE wirehub_test_commands_total counter\n"));
  EXPECT_THAT(text,
              HasSubstr("wirehub_test_commands_total{method=\"subscribe\",result=\"ok\"} 3\n"));
  EXPECT_THAT(text,
              HasSubstr("wirehub_test_commands_total{method=\"publish\",result=\"error\"} 1\n"));
}

TEST(MetricsTest, GetReturnsTheSameSeries) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("c_total", "c", {"a"});
  Counter& first = family.Get({"x"});
  Counter& second = family.Get(std::vector<std::string>{"x"});
  EXPECT_EQ(&first, &second);
  EXPECT_NE(&first, &family.Get({"y"}));
}

TEST(MetricsTest, UnlabelledGaugeAndRemove) {
  Registry registry;
  Gauge& up = registry.AddGauge("up_now", "Up.").Get({});
  up.Set(1);
  up.Add(2.5);
  up.Decrement();
  GaugeFamily& queue = registry.AddGauge("queue_depth", "Depth.", {"edge"});
  queue.Get({"e1"}).Set(7);
  queue.Get({"e2"}).Set(9);
  queue.Remove({"e1"});
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("\nup_now 2.5\n"));
  EXPECT_THAT(text, HasSubstr("queue_depth{edge=\"e2\"} 9\n"));
  EXPECT_THAT(text, Not(HasSubstr("e1")));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Registry registry;
  registry.AddCounter("esc_total", "Help with \\ and\nnewline.", {"namespace"})
      .Get({"a\"b\\c\nd"})
      .Increment();
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP esc_total Help with \\\\ and\\nnewline.\n"));
  EXPECT_THAT(text, HasSubstr("esc_total{namespace=\"a\\\"b\\\\c\\nd\"} 1\n"));
}

TEST(MetricsTest, LabelValuesThatAreNotUtf8AreReplaced) {
  Registry registry;
  CounterFamily& family = registry.AddCounter("utf_total", "u", {"edge"});
  family.Get({"\xff:x"}).Increment();
  family.Get({"caf\xc3\xa9"}).Increment();                // Well-formed: kept.
  family.Get({"\xe0\x80\x80 \xed\xa0\x80"}).Increment();  // Overlong, surrogate.
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("utf_total{edge=\"\xef\xbf\xbd:x\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("utf_total{edge=\"caf\xc3\xa9\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("utf_total{edge=\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                              "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"} 1\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndInclusive) {
  Registry registry;
  Histogram& latency = registry.AddHistogram("lat_seconds", "Latency.", {0.001, 0.01, 0.1}).Get({});
  latency.Observe(0.0005);
  latency.Observe(0.001);  // le is inclusive.
  latency.Observe(0.05);
  latency.Observe(3);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE lat_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.001\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.01\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"0.1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_sum 3.0515\n"));
  EXPECT_THAT(text, HasSubstr("lat_seconds_count 4\n"));
}

TEST(MetricsTest, HistogramWithLabelsPutsLeLast) {
  Registry registry;
  registry.AddHistogram("call_seconds", "Calls.", {1}, {"method"}).Get({"Publish"}).Observe(0.5);
  EXPECT_THAT(registry.Render(), HasSubstr("call_seconds_bucket{method=\"Publish\",le=\"1\"} 1\n"));
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

TEST(MetricsTest, CollectorsRunBeforeRender) {
  Registry registry;
  Gauge& size = registry.AddGauge("table_size", "Size.").Get({});
  int calls = 0;
  registry.AddCollector([&] { size.Set(++calls * 10); });
  EXPECT_THAT(registry.Render(), HasSubstr("table_size 10\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("table_size 20\n"));
}

TEST(MetricsTest, CountsFromManyThreadsAddUp) {
  Registry registry;
  Counter& counter = registry.AddCounter("n_total", "n").Get({});
  Histogram& histogram = registry.AddHistogram("h", "h", {1}).Get({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter.Increment();
        histogram.Observe(0.5);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter.value(), 40000u);
  EXPECT_EQ(histogram.count(), 40000u);
  EXPECT_DOUBLE_EQ(histogram.sum(), 20000);
}

TEST(MetricsTest, ProcessMetricsReadProc) {
  Registry registry;
  AddProcessMetrics(&registry, "wirehub-test", "1.2.3");
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_build_info{binary=\"wirehub-test\",version=\"1.2.3\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_resident_memory_bytes gauge\n"));
  EXPECT_THAT(text, Not(HasSubstr("process_resident_memory_bytes 0\n")));
  EXPECT_THAT(text, Not(HasSubstr("process_open_fds 0\n")));
  EXPECT_THAT(text, Not(HasSubstr("process_start_time_seconds 0\n")));
}

TEST(MetricsDeathTest, DuplicateNamesAndBadNamesCrash) {
  Registry registry;
  registry.AddCounter("dup_total", "d");
  EXPECT_DEATH(registry.AddGauge("dup_total", "d"), "registered twice");
  EXPECT_DEATH(registry.AddGauge("bad-name", "d"), "invalid metric name");
}

}  // namespace
}  // namespace wirehub::metrics

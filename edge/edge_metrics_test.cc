#include "edge/edge_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/metrics.h"

namespace wirehub::edge {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(EdgeMetricsTest, RegistersEveryEdgeFamily) {
  metrics::Registry registry;
  EdgeMetrics edge_metrics(&registry);
  std::string text = registry.Render();
  for (const char* family : {
           "wirehub_edge_connections gauge",
           "wirehub_edge_connects_total counter",
           "wirehub_edge_connection_refusals_total counter",
           "wirehub_edge_disconnects_total counter",
           "wirehub_edge_subscriptions gauge",
           "wirehub_edge_channels gauge",
           "wirehub_edge_commands_total counter",
           "wirehub_edge_deliveries_total counter",
           "wirehub_edge_written_bytes_total counter",
           "wirehub_edge_client_queue_bytes histogram",
           "wirehub_edge_slow_client_closes_total counter",
           "wirehub_edge_loop_turn_seconds histogram",
           "wirehub_edge_publish_latency_seconds histogram",
           "wirehub_edge_control_link_up gauge",
           "wirehub_edge_control_link_attaches_total counter",
           "wirehub_edge_gap_repairs_total counter",
           "wirehub_edge_gap_repair_publications histogram",
           "wirehub_edge_ready gauge",
           "wirehub_edge_draining gauge",
       }) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family));
  }
  // The label sets are there from the start, at 0, so rates work from the
  // first scrape.
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_connections{transport="websocket",protocol="json"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_commands_total{method="presence_stats",)"
                              R"(result="refused"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_connection_refusals_total{reason="draining"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_disconnects_total{code="3008"} 0)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_disconnects_total{code="other"} 0)"));
}

TEST(EdgeMetricsTest, CountsByLabel) {
  metrics::Registry registry;
  EdgeMetrics edge_metrics(&registry);
  edge_metrics.CountCommand(CommandMethod::kSubscribe, CommandOutcome::kOk);
  edge_metrics.CountCommand(CommandMethod::kSubscribe, CommandOutcome::kOk);
  edge_metrics.CountCommand(CommandMethod::kPublish, CommandOutcome::kRefused);
  edge_metrics.CountRefusal(RefusalReason::kPerAddressLimit);
  edge_metrics.connections.Increment();
  edge_metrics.deliveries.Increment(5);
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_commands_total{method="subscribe",result="ok"} 2)"));
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_commands_total{method="publish",result="refused"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_connection_refusals_total{reason="per_address_limit"} 1)"));
  EXPECT_THAT(text,
              HasSubstr(R"(wirehub_edge_connections{transport="websocket",protocol="json"} 1)"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_deliveries_total 5"));
}

TEST(EdgeMetricsTest, CloseCodesByNumberOthersAsOther) {
  metrics::Registry registry;
  EdgeMetrics edge_metrics(&registry);
  edge_metrics.CountDisconnect(3008);
  edge_metrics.CountDisconnect(3008);
  edge_metrics.CountDisconnect(3777);  // Not sent today: its series appears on first use.
  edge_metrics.CountDisconnect(1011);
  edge_metrics.CountDisconnect(4000);
  edge_metrics.CountDisconnect(2000);
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_disconnects_total{code="3008"} 2)"));
  EXPECT_THAT(text, HasSubstr("wirehub_edge_slow_client_closes_total 2"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_disconnects_total{code="3777"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_disconnects_total{code="1011"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(wirehub_edge_disconnects_total{code="other"} 2)"));
  EXPECT_THAT(text, Not(HasSubstr(R"(code="4000")")));
}

TEST(EdgeMetricsTest, PublishLatencyIsObservedWhenTheTurnWrote) {
  metrics::Registry registry;
  EdgeMetrics edge_metrics(&registry);
  absl::Time now = absl::Now();
  edge_metrics.PublicationQueued(absl::ToUnixMicros(now - absl::Milliseconds(3)));
  edge_metrics.PublicationQueued(0);  // Accept time unknown: not observed.
  edge_metrics.PublicationQueued(absl::ToUnixMicros(now + absl::Seconds(1)));  // Clock skew.
  EXPECT_EQ(edge_metrics.publish_latency_seconds.count(), 0u);
  edge_metrics.PublicationsWritten(now);
  EXPECT_EQ(edge_metrics.publish_latency_seconds.count(), 2u);
  EXPECT_NEAR(edge_metrics.publish_latency_seconds.sum(), 0.003, 1e-9);
  edge_metrics.PublicationsWritten(now);
  EXPECT_EQ(edge_metrics.publish_latency_seconds.count(), 2u);
}

TEST(EdgeMetricsTest, DiscardCountsNowhereVisible) {
  EdgeMetrics& discard = EdgeMetrics::Discard();
  EXPECT_EQ(&discard, &EdgeMetrics::Discard());
  discard.CountDisconnect(3999);
  discard.PublicationQueued(1);
  discard.PublicationsWritten(absl::Now());
  EXPECT_EQ(discard.publish_latency_seconds.count(), 0u);
}

}  // namespace
}  // namespace wirehub::edge

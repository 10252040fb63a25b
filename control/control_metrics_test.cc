#include "control/control_metrics.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "control/request_validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ControlMetricsTest, RegistersEveryControlFamily) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  const std::string text = registry.Render();
  for (const char* name : {
           "wirehub_control_publications_total",
           "wirehub_control_publication_refusals_total",
           "wirehub_control_publish_stream_items_total",
           "wirehub_control_api_calls_total",
           "wirehub_control_api_call_duration_seconds",
           "wirehub_control_edges",
           "wirehub_control_edge_queue_publications",
           "wirehub_control_edge_queue_bytes",
           "wirehub_control_slow_edge_detaches_total",
           "wirehub_control_edge_attaches_total",
           "wirehub_control_streams",
           "wirehub_control_history_publications",
           "wirehub_control_history_bytes",
           "wirehub_control_presence_entries",
           "wirehub_control_engine_up",
           "wirehub_control_engine_operation_duration_seconds",
           "wirehub_control_ready",
           "wirehub_control_draining",
           "wirehub_config_reloads_total",
           "wirehub_config_version",
       }) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("# TYPE ", name, " "))) << name;
  }
  // Hot series exist before the first event, so rate() sees them start.
  EXPECT_THAT(text, HasSubstr("wirehub_control_api_calls_total{method=\"Publish\",code=\"OK\"} 0"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_engine_up{engine=\"memory\"} 0"));
  EXPECT_THAT(text, HasSubstr("wirehub_config_version 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_config_reloads_total{result=\"error\"} 0"));
}

TEST(ControlMetricsTest, NamespaceSeriesAreMadeOnFirstUseAndShared) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  EXPECT_THAT(registry.Render(), Not(HasSubstr("namespace=\"news\"")));
  NamespaceSeries& news = metrics.Namespace("news");
  EXPECT_EQ(&metrics.Namespace("news"), &news);
  news.publications->Increment(3);
  news.Refused(RefusalReason::kNotJson);
  metrics.Namespace("").Refused(RefusalReason::kUnknownNamespace);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_control_publications_total{namespace=\"news\"} 3"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_publication_refusals_total{namespace=\"news\","
                              "reason=\"not_json\"} 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_publication_refusals_total{namespace=\"\","
                              "reason=\"unknown_namespace\"} 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_publication_refusals_total{namespace=\"news\","
                              "reason=\"payload_too_large\"} 0"));
}

TEST(ControlMetricsTest, MethodsAreTheControlServiceOnes) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  MethodSeries* publish = metrics.Method("/wirehub.control.v1.ControlService/Publish");
  ASSERT_NE(publish, nullptr);
  EXPECT_EQ(publish->name(), "Publish");
  EXPECT_NE(metrics.Method("/wirehub.control.v1.ControlService/PublishStream"), nullptr);
  EXPECT_EQ(metrics.Method("/grpc.health.v1.Health/Check"), nullptr);
  EXPECT_EQ(metrics.Method("/wirehub.edge.v1.EdgeLinkService/Attach"), nullptr);

  publish->Record(grpc::StatusCode::OK, absl::Milliseconds(2));
  publish->Record(grpc::StatusCode::UNAVAILABLE, absl::Milliseconds(1));
  publish->Record(grpc::StatusCode::UNAVAILABLE, absl::Milliseconds(1));
  // A stream's lifetime is not a latency.
  metrics.Method("/wirehub.control.v1.ControlService/PublishStream")
      ->Record(grpc::StatusCode::CANCELLED, -absl::Nanoseconds(1));
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_control_api_calls_total{method=\"Publish\",code=\"OK\"} 1"));
  EXPECT_THAT(
      text,
      HasSubstr("wirehub_control_api_calls_total{method=\"Publish\",code=\"UNAVAILABLE\"} 2"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_api_calls_total{method=\"PublishStream\","
                              "code=\"CANCELLED\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("wirehub_control_api_call_duration_seconds_count{method=\"Publish\"} 3"));
  EXPECT_THAT(
      text,
      HasSubstr("wirehub_control_api_call_duration_seconds_count{method=\"PublishStream\"} 0"));
}

TEST(ControlMetricsTest, EdgeQueueSeriesFollowTheAttachedEdges) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  metrics.SetEdgeQueues({{"edge-a", {3, 300}}, {"edge-b", {0, 0}}});
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_control_edge_queue_publications{edge=\"edge-a\"} 3"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_edge_queue_bytes{edge=\"edge-a\"} 300"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_edge_queue_bytes{edge=\"edge-b\"} 0"));
  // edge-a detached: its series go.
  metrics.SetEdgeQueues({{"edge-b", {1, 10}}});
  text = registry.Render();
  EXPECT_THAT(text, Not(HasSubstr("edge-a")));
  EXPECT_THAT(text, HasSubstr("wirehub_control_edge_queue_publications{edge=\"edge-b\"} 1"));
}

TEST(ControlMetricsTest, RefusalReasonsFollowTheValidatorsMessages) {
  EXPECT_EQ(RefusalReasonOf(ValidatePublicationData("[1,2]", 2)), RefusalReason::kPayloadTooLarge);
  EXPECT_EQ(RefusalReasonOf(ValidatePublicationData("nope", 100)), RefusalReason::kNotJson);
  EXPECT_EQ(RefusalReasonOf(ChannelKeyFor("", "bad channel").status()),
            RefusalReason::kInvalidArgument);
  EXPECT_EQ(RefusalReasonOf(
                absl::InvalidArgumentError("channel x:1 is in a namespace that is not configured")),
            RefusalReason::kUnknownNamespace);
  EXPECT_EQ(RefusalReasonOf(absl::PermissionDeniedError("key")), RefusalReason::kPermissionDenied);
  EXPECT_EQ(RefusalReasonOf(absl::UnauthenticatedError("key")), RefusalReason::kPermissionDenied);
  EXPECT_EQ(RefusalReasonOf(absl::UnavailableError("draining")), RefusalReason::kUnavailable);
  EXPECT_EQ(RefusalReasonOf(absl::ResourceExhaustedError("full")),
            RefusalReason::kResourceExhausted);
  EXPECT_EQ(RefusalReasonOf(absl::InternalError("?")), RefusalReason::kOther);
  EXPECT_EQ(RefusalReasonName(RefusalReason::kPayloadTooLarge), "payload_too_large");
}

}  // namespace
}  // namespace wirehub::control

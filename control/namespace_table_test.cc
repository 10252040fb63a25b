#include "control/namespace_table.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::HasSubstr;

config::v1::Config TwoNamespaces() {
  config::v1::Config config;
  config::v1::Namespace* news = config.add_namespaces();
  news->set_name("news");
  news->mutable_options()->set_history_size(10);
  config.add_namespaces()->set_name("chat");
  return config;
}

TEST(NamespaceTableTest, FindsConfiguredNamespacesAndRefusesOthers) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  NamespaceTable table(NamespaceRegistry(TwoNamespaces()), {"news", "chat"}, &metrics);
  const NamespaceTable::Namespace* news = table.Find("news:1");
  ASSERT_NE(news, nullptr);
  EXPECT_EQ(news->name, "news");
  EXPECT_EQ(news->options->history_size(), 10u);
  EXPECT_EQ(table.Find("news:2"), news);
  const NamespaceTable::Namespace* plain = table.Find("plain");
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->name, "");
  EXPECT_EQ(table.Find("other:1"), nullptr);
  EXPECT_EQ(table.Find(":x"), nullptr);
}

TEST(NamespaceTableTest, SeriesAreCachedPerNamespaceAndSharedAcrossVersions) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  NamespaceTable first(NamespaceRegistry(TwoNamespaces()), {"news", "chat"}, &metrics);
  NamespaceTable second(NamespaceRegistry(TwoNamespaces()), {"news"}, &metrics);
  const NamespaceSeries& series = first.SeriesOf(*first.Find("news:1"));
  EXPECT_EQ(&first.SeriesOf(*first.Find("news:9")), &series);
  // A reloaded table counts into the same series.
  EXPECT_EQ(&second.SeriesOf(*second.Find("news:1")), &series);
  // Not named up front: learned, with the same options.
  const NamespaceTable::Namespace* chat = second.Find("chat:1");
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(chat->name, "chat");
  series.publications->Increment();
  second.UnknownSeries().Refused(RefusalReason::kUnknownNamespace);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("wirehub_control_publications_total{namespace=\"news\"} 1"));
  EXPECT_THAT(text, HasSubstr("wirehub_control_publication_refusals_total{namespace=\"\","
                              "reason=\"unknown_namespace\"} 1"));
}

TEST(NamespaceTableTest, WithoutAConfigurationTheLabelsStayBounded) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  NamespaceTable table(NamespaceRegistry::Default(), {}, &metrics);
  for (size_t i = 0; i < NamespaceTable::kMaxLearned; ++i) {
    const NamespaceTable::Namespace* ns = table.Find(absl::StrCat("ns", i, ":x"));
    ASSERT_NE(ns, nullptr);
    EXPECT_EQ(ns->name, absl::StrCat("ns", i));
  }
  const NamespaceTable::Namespace* late = table.Find("late:x");
  ASSERT_NE(late, nullptr);
  EXPECT_EQ(late->name, "*");
  EXPECT_EQ(table.Find("later:x"), late);
  // Learned before the cap: still their own.
  EXPECT_EQ(table.Find("ns3:y")->name, "ns3");
}

TEST(NamespaceTableTest, NamesThatAreNotChannelNamesAreNeverLearned) {
  metrics::Registry registry;
  ControlMetrics metrics(&registry);
  NamespaceTable table(NamespaceRegistry::Default(), {}, &metrics);
  EXPECT_EQ(table.Find("\xff\xfe:x"), nullptr);
  EXPECT_EQ(table.Find("a b:x"), nullptr);
  // A bad channel in a well-named namespace still counts under it.
  const NamespaceTable::Namespace* news = table.Find("news:bad name");
  ASSERT_NE(news, nullptr);
  EXPECT_EQ(news->name, "news");
}

}  // namespace
}  // namespace wirehub::control

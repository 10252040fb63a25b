#include "common/namespace_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config_loader.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub {
namespace {

using ::wirehub::config::v1::Config;
using ::wirehub::config::v1::NamespaceOptions;

// A registry from a validated configuration: defaults keep 3 publications
// for 10s; "chat" keeps 100 for 60s with recovery; "a" keeps 7 for 1s;
// "typing" has no history.
NamespaceRegistry MakeRegistry() {
  absl::StatusOr<Config> config = ParseConfig(R"({
    "defaults": {"history_size": 3, "history_ttl": "10s"},
    "namespaces": [
      {"name": "chat",
       "options": {"history_size": 100, "history_ttl": "60s", "allow_recovery": true}},
      {"name": "a", "options": {"history_size": 7, "history_ttl": "1s"}},
      {"name": "typing"}
    ]})",
                                              "test.json");
  EXPECT_TRUE(config.ok()) << config.status();
  return NamespaceRegistry(config.value_or(Config()));
}

TEST(NamespaceRegistryTest, ChannelWithoutColonUsesDefaults) {
  const NamespaceRegistry registry = MakeRegistry();
  const NamespaceOptions* options = registry.Find("news");
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(options, &registry.defaults());
  EXPECT_EQ(options->history_size(), 3u);
  EXPECT_EQ(HistoryTtl(*options), absl::Seconds(10));
  EXPECT_EQ(registry.Find("user#42"), &registry.defaults());
}

TEST(NamespaceRegistryTest, NamedNamespace) {
  const NamespaceRegistry registry = MakeRegistry();
  EXPECT_FALSE(registry.accept_unknown_namespaces());
  EXPECT_EQ(registry.namespace_count(), 3u);
  const NamespaceOptions* chat = registry.Find("chat:42");
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(chat->history_size(), 100u);
  EXPECT_EQ(HistoryTtl(*chat), absl::Minutes(1));
  EXPECT_TRUE(chat->allow_recovery());
  // A namespace does not inherit from defaults.
  const NamespaceOptions* typing = registry.Find("typing:room-1");
  ASSERT_NE(typing, nullptr);
  EXPECT_EQ(typing->history_size(), 0u);
  EXPECT_EQ(HistoryTtl(*typing), absl::ZeroDuration());
  EXPECT_FALSE(typing->allow_recovery());
  // Empty rest after the colon still belongs to the namespace.
  EXPECT_EQ(registry.Find("chat:"), chat);
}

TEST(NamespaceRegistryTest, FirstColonSplits) {
  const NamespaceRegistry registry = MakeRegistry();
  const NamespaceOptions* options = registry.Find("a:b:c");
  ASSERT_NE(options, nullptr);
  EXPECT_EQ(options->history_size(), 7u);
  EXPECT_EQ(registry.Find("a:chat:1"), options);
  EXPECT_EQ(registry.Find("chat:a:1"), registry.Find("chat:1"));
}

TEST(NamespaceRegistryTest, UnknownNamespaceIsRefused) {
  const NamespaceRegistry registry = MakeRegistry();
  EXPECT_EQ(registry.Find("news:1"), nullptr);
  EXPECT_EQ(registry.Find("Chat:1"), nullptr);  // Names are case-sensitive.
  EXPECT_EQ(registry.Find("cha:1"), nullptr);
  EXPECT_EQ(registry.Find("chatx:1"), nullptr);
}

TEST(NamespaceRegistryTest, EmptyNamespaceIsRefused) {
  const NamespaceRegistry registry = MakeRegistry();
  EXPECT_EQ(registry.Find(":x"), nullptr);
  EXPECT_EQ(registry.Find(":"), nullptr);
  EXPECT_EQ(registry.Find(""), nullptr);
}

TEST(NamespaceRegistryTest, EmptyConfigAcceptsOnlyChannelsWithoutNamespace) {
  const NamespaceRegistry registry{Config()};
  EXPECT_FALSE(registry.accept_unknown_namespaces());
  EXPECT_NE(registry.Find("news"), nullptr);
  EXPECT_EQ(registry.Find("news:1"), nullptr);
}

TEST(NamespaceRegistryTest, DefaultAcceptsEveryNamespace) {
  const NamespaceRegistry registry = NamespaceRegistry::Default();
  EXPECT_TRUE(registry.accept_unknown_namespaces());
  EXPECT_EQ(registry.namespace_count(), 0u);
  for (const std::string channel : {"news", "news:1", "chat:42", "a:b:c", "x.y:z"}) {
    EXPECT_EQ(registry.Find(channel), &registry.defaults()) << channel;
  }
  EXPECT_EQ(registry.defaults().history_size(), 0u);
  EXPECT_FALSE(registry.defaults().allow_recovery());
  EXPECT_EQ(HistoryTtl(registry.defaults()), absl::ZeroDuration());
  // Even without a configuration file an empty namespace is refused.
  EXPECT_EQ(registry.Find(":x"), nullptr);
  EXPECT_EQ(registry.Find(""), nullptr);
}

TEST(NamespaceRegistryTest, DefaultConstructedEqualsDefault) {
  const NamespaceRegistry registry;
  EXPECT_TRUE(registry.accept_unknown_namespaces());
  EXPECT_EQ(registry.Find("anything:1"), &registry.defaults());
}

TEST(NamespaceRegistryTest, DuplicateNameKeepsFirst) {
  Config config;  // Not validated on purpose.
  wirehub::config::v1::Namespace* first = config.add_namespaces();
  first->set_name("dup");
  first->mutable_options()->set_history_size(1);
  wirehub::config::v1::Namespace* second = config.add_namespaces();
  second->set_name("dup");
  second->mutable_options()->set_history_size(2);
  const NamespaceRegistry registry(config);
  ASSERT_NE(registry.Find("dup:1"), nullptr);
  EXPECT_EQ(registry.Find("dup:1")->history_size(), 1u);
}

TEST(NamespaceRegistryTest, MovedRegistryStillFinds) {
  NamespaceRegistry original = MakeRegistry();
  const NamespaceRegistry moved = std::move(original);
  ASSERT_NE(moved.Find("chat:1"), nullptr);
  EXPECT_EQ(moved.Find("chat:1")->history_size(), 100u);
  EXPECT_EQ(moved.Find("news"), &moved.defaults());
}

TEST(NamespaceRegistryTest, FindSharedMatchesFind) {
  const NamespaceRegistry registry = MakeRegistry();
  for (std::string_view channel : {"news", "chat:1", "a:b:c", "typing:x", "nope:1", ":x", ""}) {
    EXPECT_EQ(registry.FindShared(channel).get(), registry.Find(channel)) << channel;
  }
  const NamespaceRegistry open = NamespaceRegistry::Default();
  EXPECT_EQ(open.FindShared("anything:1").get(), &open.defaults());
}

TEST(NamespaceRegistryTest, SharedOptionsOutliveTheRegistry) {
  std::shared_ptr<const NamespaceOptions> chat;
  {
    NamespaceRegistry registry = MakeRegistry();
    chat = registry.FindShared("chat:1");
    // A reload replaces the registry the options came from.
    registry = NamespaceRegistry(Config());
    EXPECT_EQ(registry.Find("chat:1"), nullptr);
  }
  ASSERT_NE(chat, nullptr);
  EXPECT_EQ(chat->history_size(), 100u);
  EXPECT_TRUE(chat->allow_recovery());
}

TEST(NamespaceRegistryTest, CopiesShareTheOptions) {
  const NamespaceRegistry registry = MakeRegistry();
  const NamespaceRegistry copy = registry;  // NOLINT(performance-unnecessary-copy-initialization)
  EXPECT_EQ(copy.Find("chat:1"), registry.Find("chat:1"));
  EXPECT_EQ(&copy.defaults(), &registry.defaults());
}

TEST(NamespaceOfTest, SplitsAtFirstColon) {
  absl::StatusOr<std::string_view> name = NamespaceRegistry::NamespaceOf("a:b:c");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "a");
  name = NamespaceRegistry::NamespaceOf("conversation:42");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(*name, "conversation");
}

TEST(NamespaceOfTest, NoColonMeansDefaults) {
  absl::StatusOr<std::string_view> name = NamespaceRegistry::NamespaceOf("news");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_TRUE(name->empty());
}

TEST(NamespaceOfTest, EmptyNamespaceOrChannelIsInvalid) {
  EXPECT_EQ(NamespaceRegistry::NamespaceOf(":x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NamespaceRegistry::NamespaceOf("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HistoryTtlTest, ConvertsSubSecond) {
  NamespaceOptions options;
  options.mutable_history_ttl()->set_seconds(1);
  options.mutable_history_ttl()->set_nanos(250000000);
  EXPECT_EQ(HistoryTtl(options), absl::Milliseconds(1250));
}

}  // namespace
}  // namespace wirehub

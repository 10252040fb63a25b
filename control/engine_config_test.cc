#include "control/engine_config.h"

#include <cstdlib>
#include <string>

#include "common/config_loader.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

absl::StatusOr<EngineConfig> FromJson(const std::string& json) {
  absl::StatusOr<config::v1::Config> config = ParseConfig(json, "test.json");
  if (!config.ok()) return config.status();
  return EngineConfigFrom(*config, "test.json");
}

TEST(EngineConfigTest, MemoryIsTheDefault) {
  absl::StatusOr<EngineConfig> engine = FromJson("{}");
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(engine->type, EngineConfig::Type::kMemory);
  EXPECT_EQ(engine->Describe(), "memory");
  EXPECT_EQ(NewStreamStore(*engine), nullptr);
}

TEST(EngineConfigTest, RedisWithDefaultsAndEverySetting) {
  absl::StatusOr<EngineConfig> defaults = FromJson(R"({"engine": {"type": "redis"}})");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->type, EngineConfig::Type::kRedis);
  EXPECT_EQ(defaults->redis.connection.host, "127.0.0.1");
  EXPECT_EQ(defaults->redis.connection.port, 6379);
  EXPECT_EQ(defaults->redis.key_prefix, "wirehub");
  EXPECT_EQ(defaults->redis.stream_ttl, absl::Hours(24));

  setenv("WIREHUB_TEST_REDIS_PASSWORD", "s3cret", 1);
  absl::StatusOr<EngineConfig> full = FromJson(R"({"engine": {"type": "redis", "redis": {
      "address": "[::1]:6380", "username": "wh", "password": "${WIREHUB_TEST_REDIS_PASSWORD}",
      "db": 2, "key_prefix": "prod.eu-1", "connect_timeout": "0.5s", "command_timeout": "2s",
      "stream_ttl": "3600s"}}})");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->redis.connection.host, "::1");
  EXPECT_EQ(full->redis.connection.port, 6380);
  EXPECT_EQ(full->redis.connection.username, "wh");
  EXPECT_EQ(full->redis.connection.password, "s3cret");
  EXPECT_EQ(full->redis.connection.db, 2);
  EXPECT_EQ(full->redis.connection.connect_timeout, absl::Milliseconds(500));
  EXPECT_EQ(full->redis.connection.command_timeout, absl::Seconds(2));
  EXPECT_EQ(full->redis.stream_ttl, absl::Hours(1));
  EXPECT_EQ(full->Describe(), "redis ::1:6380 prefix prod.eu-1");
  EXPECT_EQ(full->Describe().find("s3cret"), std::string::npos);
}

TEST(EngineConfigTest, RefusesWhatCannotWork) {
  for (const char* json : {
           R"({"engine": {"type": "postgres"}})",
           R"({"engine": {"redis": {"address": "h:1"}}})",
           R"({"engine": {"type": "redis", "redis": {"address": "nohost"}}})",
           R"({"engine": {"type": "redis", "redis": {"address": "h:70000"}}})",
           R"({"engine": {"type": "redis", "redis": {"address": "a:b:1"}}})",
           R"({"engine": {"type": "redis", "redis": {"key_prefix": "a{b}"}}})",
           R"({"engine": {"type": "redis", "redis": {"db": -1}}})",
           R"({"engine": {"type": "redis", "redis": {"username": "u"}}})",
           R"({"engine": {"type": "redis", "redis": {"command_timeout": "0s"}}})",
       }) {
    absl::StatusOr<EngineConfig> engine = FromJson(json);
    EXPECT_TRUE(absl::IsInvalidArgument(engine.status())) << json << ": " << engine.status();
    EXPECT_NE(engine.status().message().find("test.json: engine."), std::string::npos) << json;
  }
  unsetenv("WIREHUB_TEST_REDIS_UNSET");
  EXPECT_TRUE(absl::IsFailedPrecondition(
      FromJson(
          R"({"engine": {"type": "redis", "redis": {"password": "${WIREHUB_TEST_REDIS_UNSET}"}}})")
          .status()));
}

}  // namespace
}  // namespace wirehub::control

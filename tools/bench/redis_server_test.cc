#include "tools/bench/redis_server.h"

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

TEST(RedisServerTest, EncodesACommandAsAnArrayOfBulkStrings) {
  EXPECT_EQ(EncodeRedisCommand({"SET", "k", ""}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
}

TEST(RedisServerTest, FindsAnInfoField) {
  const std::string info = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\nrun:x\r\n";
  EXPECT_EQ(InfoField(info, "run_id"), "abc123");
  EXPECT_EQ(InfoField(info, "run"), "x");
  EXPECT_EQ(InfoField(info, "missing"), "");
}

TEST(RedisServerTest, RefusesAnUnknownFsyncPolicy) {
  RedisServerOptions options;
  options.work_dir = "/nonexistent";
  options.appendfsync = "sometimes";
  absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start(options);
  if (access(options.binary.c_str(), X_OK) != 0) GTEST_SKIP() << "redis-server is not installed";
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RedisServerTest, StartsAnswersAndStops) {
  RedisServerOptions options;
  if (access(options.binary.c_str(), X_OK) != 0) GTEST_SKIP() << "redis-server is not installed";
  char pattern[] = "/tmp/redis-server-test-XXXXXX";
  ASSERT_NE(mkdtemp(pattern), nullptr);
  options.work_dir = pattern;
  {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ((*server)->persistence(), "off");
    absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Connect((*server)->port());
    ASSERT_TRUE(client.ok()) << client.status();
    EXPECT_EQ(*(*client)->Call({"SET", "k", "v"}), "OK");
    EXPECT_EQ(*(*client)->Call({"GET", "k"}), "v");
    EXPECT_EQ(*(*client)->Call({"INCR", "n"}), "1");
    EXPECT_EQ(*(*client)->Call({"GET", "nothing"}), "");
    EXPECT_EQ(*(*client)->Call({"RPUSH", "l", "a", "b"}), "2");
    EXPECT_EQ(*(*client)->Call({"LRANGE", "l", "0", "-1"}), "a\nb");
    EXPECT_EQ((*client)->Call({"NOSUCHCOMMAND"}).status().code(),
              absl::StatusCode::kFailedPrecondition);
    EXPECT_FALSE(InfoField(*(*client)->Call({"INFO", "server"}), "run_id").empty());
  }
  std::filesystem::remove_all(pattern);
}

}  // namespace
}  // namespace wirehub::bench

#include "tools/bench/server_process.h"

#include <signal.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/bench/child_process.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;

TEST(ParseReadyPortTest, FindsThePortAfterThePrefix) {
  EXPECT_EQ(ParseReadyPort("wirehub-control: grpc listening on 127.0.0.1:7100",
                           "wirehub-control: grpc listening on"),
            7100);
  EXPECT_EQ(ParseReadyPort("wirehub-edge: websocket listening on "
                           "ws://127.0.0.1:43211/connection/websocket",
                           "wirehub-edge: websocket listening on"),
            43211);
  EXPECT_EQ(ParseReadyPort("other line 127.0.0.1:80", "wirehub-edge:"), 0);
  EXPECT_EQ(ParseReadyPort("wirehub-edge: no port here", "wirehub-edge:"), 0);
  EXPECT_EQ(ParseReadyPort("wirehub-edge: 127.0.0.1:99999", "wirehub-edge:"), 0);
}

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(ServerProcessTest, WaitsForTheReadyLineAndStops) {
  std::string log = TempPath("ready.log");
  absl::StatusOr<std::unique_ptr<ServerProcess>> process = ServerProcess::Start(
      "fake", "/bin/sh",
      {"-c",
       "echo starting >&2; echo noise; echo 'fake: listening on 127.0.0.1:4321'; exec sleep 30"},
      "fake: listening on", log, absl::Seconds(10));
  ASSERT_TRUE(process.ok()) << process.status();
  EXPECT_EQ((*process)->port(), 4321);
  pid_t pid = (*process)->pid();
  EXPECT_EQ(kill(pid, 0), 0);
  (*process)->Stop();
  EXPECT_NE(kill(pid, 0), 0);  // Reaped: the pid is gone.
  EXPECT_THAT(FileTail(log), HasSubstr("starting"));
}

TEST(ServerProcessTest, WaitForLineReadsPastTheReadyLine) {
  // wirehub-control with its edge link prints two lines, in this order.
  std::string log = TempPath("two-lines.log");
  absl::StatusOr<std::unique_ptr<ServerProcess>> process =
      ServerProcess::Start("fake", "/bin/sh",
                           {"-c",
                            "echo 'fake: grpc listening on 127.0.0.1:4321'; echo noise; "
                            "echo 'fake: edge link listening on 127.0.0.1:4322'; exec sleep 30"},
                           "fake: grpc listening on", log, absl::Seconds(10));
  ASSERT_TRUE(process.ok()) << process.status();
  EXPECT_EQ((*process)->port(), 4321);
  absl::StatusOr<int> edge_link =
      (*process)->WaitForLine("fake: edge link listening on", absl::Seconds(10));
  ASSERT_TRUE(edge_link.ok()) << edge_link.status();
  EXPECT_EQ(*edge_link, 4322);
  EXPECT_EQ((*process)->ready_line(), "fake: grpc listening on 127.0.0.1:4321");
  absl::StatusOr<int> absent = (*process)->WaitForLine("fake: other", absl::Milliseconds(200));
  EXPECT_TRUE(absl::IsUnavailable(absent.status())) << absent.status();
}

TEST(ServerProcessTest, HelpMentionsFindsAFlag) {
  absl::StatusOr<bool> yes = HelpMentions("/bin/echo", "--help");
  ASSERT_TRUE(yes.ok()) << yes.status();
  EXPECT_TRUE(*yes);
  absl::StatusOr<bool> no = HelpMentions("/bin/echo", "--edge_listen");
  ASSERT_TRUE(no.ok()) << no.status();
  EXPECT_FALSE(*no);
}

TEST(ServerProcessTest, ExitBeforeReadyIsUnavailableWithTheLog) {
  std::string log = TempPath("exit.log");
  absl::StatusOr<std::unique_ptr<ServerProcess>> process =
      ServerProcess::Start("fake", "/bin/sh", {"-c", "echo 'cannot bind' >&2; exit 3"},
                           "fake: listening on", log, absl::Seconds(10));
  ASSERT_FALSE(process.ok());
  EXPECT_TRUE(absl::IsUnavailable(process.status())) << process.status();
  EXPECT_THAT(std::string(process.status().message()), HasSubstr("cannot bind"));
}

TEST(ServerProcessTest, SilenceIsBoundedByTheTimeout) {
  std::string log = TempPath("silent.log");
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ServerProcess>> process =
      ServerProcess::Start("fake", "/bin/sh", {"-c", "exec sleep 30"}, "fake: listening on", log,
                           absl::Milliseconds(300));
  EXPECT_TRUE(absl::IsUnavailable(process.status())) << process.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST(ServerProcessTest, MissingBinaryFails) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> process = ServerProcess::Start(
      "fake", "/nonexistent/binary", {}, "x", TempPath("missing.log"), absl::Seconds(1));
  EXPECT_FALSE(process.ok());
}

}  // namespace
}  // namespace wirehub::bench

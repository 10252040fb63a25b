#include "common/directory_watcher.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace wirehub {
namespace {

namespace fs = std::filesystem;

class DirectoryWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("directory_watcher_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "v1");
    fs::create_directories(dir_ / "v2");
    std::ofstream(dir_ / "v1" / "tls.crt") << "one";
    std::ofstream(dir_ / "v2" / "tls.crt") << "two";
    fs::create_directory_symlink("v1", dir_ / "..data");
    fs::create_symlink("..data/tls.crt", dir_ / "tls.crt");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

// Waits (bounded) for the counter to reach `at_least`.
bool WaitFor(const std::atomic<int>& counter, int at_least) {
  for (int i = 0; i < 200 && counter.load() < at_least; ++i) usleep(10000);
  return counter.load() >= at_least;
}

TEST_F(DirectoryWatcherTest, SeesASymlinkSwapLikeKubernetes) {
  std::atomic<int> changes{0};
  auto watcher = DirectoryWatcher::Start({(dir_ / "tls.crt").string()}, absl::Milliseconds(20),
                                         [&changes] { ++changes; });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  // Kubernetes' atomic writer: a new symlink, renamed over "..data".
  fs::create_directory_symlink("v2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  ASSERT_TRUE(WaitFor(changes, 1));
  std::ifstream in(dir_ / "tls.crt");
  std::string content;
  in >> content;
  EXPECT_EQ(content, "two");
}

TEST_F(DirectoryWatcherTest, SettlesABurstIntoOneCall) {
  std::atomic<int> changes{0};
  auto watcher = DirectoryWatcher::Start({(dir_ / "v1" / "tls.crt").string()},
                                         absl::Milliseconds(200), [&changes] { ++changes; });
  ASSERT_TRUE(watcher.ok()) << watcher.status();
  for (int i = 0; i < 5; ++i) std::ofstream(dir_ / "v1" / "tls.crt") << i;
  ASSERT_TRUE(WaitFor(changes, 1));
  usleep(300000);
  EXPECT_EQ(changes.load(), 1);
}

TEST_F(DirectoryWatcherTest, MissingDirectoryIsAnError) {
  auto watcher = DirectoryWatcher::Start({(dir_ / "nope" / "tls.crt").string()},
                                         absl::Milliseconds(20), [] {});
  EXPECT_FALSE(watcher.ok());
}

TEST_F(DirectoryWatcherTest, StopsPromptly) {
  auto watcher = DirectoryWatcher::Start({(dir_ / "tls.crt").string()}, absl::Seconds(100), [] {});
  ASSERT_TRUE(watcher.ok());
  watcher->reset();  // Joins; the test's timeout catches a hang.
}

}  // namespace
}  // namespace wirehub

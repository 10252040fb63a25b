#include "common/file_util.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace wirehub {
namespace {

std::string WriteTemp(const std::string& contents) {
  char path[] = "/tmp/wirehub_file_util_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << contents;
  return path;
}

TEST(ReadFileBoundedTest, ReadsWholeFile) {
  std::string path = WriteTemp("hello\n");
  absl::StatusOr<std::string> read = ReadFileBounded(path, 100, "test file");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "hello\n");
  unlink(path.c_str());
}

TEST(ReadFileBoundedTest, MissingFileIsNotFoundNamingPath) {
  absl::StatusOr<std::string> read = ReadFileBounded("/nonexistent/wirehub", 100, "test file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(read.status().message().find("/nonexistent/wirehub"), absl::string_view::npos);
}

TEST(ReadFileBoundedTest, OversizedFileIsResourceExhaustedWithoutContent) {
  std::string path = WriteTemp(std::string(200, 's'));
  absl::StatusOr<std::string> read = ReadFileBounded(path, 100, "test file");
  EXPECT_EQ(read.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(read.status().message().find("sss"), absl::string_view::npos);
  unlink(path.c_str());
}

}  // namespace
}  // namespace wirehub

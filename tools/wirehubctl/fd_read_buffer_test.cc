#include "tools/wirehubctl/fd_read_buffer.h"

#include <fcntl.h>
#include <unistd.h>

#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/line_reader.h"

namespace wirehub::ctl {
namespace {

using ::testing::Optional;

// Both ends of a pipe, closed at the end of the test.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(pipe2(fds_, O_CLOEXEC), 0); }
  ~Pipe() {
    close(fds_[0]);
    CloseWriter();
  }
  int reader() const { return fds_[0]; }
  void Write(std::string_view data) {
    ASSERT_EQ(write(fds_[1], data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  void CloseWriter() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

TEST(FdReadBufferTest, ReportsWhatThePipeHolds) {
  Pipe pipe;
  FdReadBuffer buffer(pipe.reader(), 4);
  EXPECT_EQ(buffer.in_avail(), 0);
  pipe.Write("hello\n");
  EXPECT_EQ(buffer.in_avail(), 6);
  EXPECT_EQ(buffer.sbumpc(), 'h');
  // Three more in the buffer (it holds 4); in_avail() says so without
  // asking the kernel for the two still in the pipe.
  EXPECT_EQ(buffer.in_avail(), 3);
  char rest[5];
  EXPECT_EQ(buffer.sgetn(rest, 5), 5);
  EXPECT_EQ(std::string(rest, 5), "ello\n");
  EXPECT_EQ(buffer.in_avail(), 0);
  pipe.CloseWriter();
  EXPECT_EQ(buffer.sgetc(), std::char_traits<char>::eof());
  EXPECT_EQ(buffer.in_avail(), -1);
}

TEST(FdReadBufferTest, LineReaderTakesWhatIsReadyAndWaitsForTheRest) {
  Pipe pipe;
  FdReadBuffer buffer(pipe.reader());
  LineReader lines(&buffer);
  pipe.Write("a 1\nb 2\nc");
  EXPECT_THAT(lines.Next(), Optional(std::string_view("a 1")));
  EXPECT_THAT(lines.NextReady(), Optional(std::string_view("b 2")));
  // A test that hangs here would mean NextReady() waited on "c".
  EXPECT_EQ(lines.NextReady(), std::nullopt);
  pipe.Write(" 3\n");
  EXPECT_THAT(lines.NextReady(), Optional(std::string_view("c 3")));
  pipe.Write("d");
  pipe.CloseWriter();
  EXPECT_THAT(lines.Next(), Optional(std::string_view("d")));
  EXPECT_EQ(lines.Next(), std::nullopt);
}

TEST(FdReadBufferTest, ReadsARegularFile) {
  std::string path = ::testing::TempDir() + "/fd_read_buffer_test.txt";
  {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "x 1\ny 2\n", 8), 8);
    close(fd);
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  FdReadBuffer buffer(fd);
  LineReader lines(&buffer);
  EXPECT_THAT(lines.Next(), Optional(std::string_view("x 1")));
  // A file's bytes are all ready.
  EXPECT_THAT(lines.NextReady(), Optional(std::string_view("y 2")));
  EXPECT_EQ(lines.NextReady(), std::nullopt);
  EXPECT_EQ(lines.Next(), std::nullopt);
  close(fd);
}

}  // namespace
}  // namespace wirehub::ctl

#include "tools/wirehubctl/line_reader.h"

#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/cli_test_fixture.h"

namespace wirehub::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;

std::vector<std::string> AllLines(LineReader& lines) {
  std::vector<std::string> all;
  while (std::optional<std::string_view> line = lines.Next()) all.emplace_back(*line);
  return all;
}

TEST(LineReaderTest, SplitsAtNewlines) {
  std::istringstream in("a\n\nb c\r\nlast");
  LineReader lines(in.rdbuf());
  EXPECT_THAT(AllLines(lines), ElementsAre("a", "", "b c\r", "last"));
  EXPECT_EQ(lines.Next(), std::nullopt);
  EXPECT_EQ(lines.NextReady(), std::nullopt);
}

TEST(LineReaderTest, EmptyInputHasNoLines) {
  std::istringstream in("");
  LineReader lines(in.rdbuf());
  EXPECT_EQ(lines.NextReady(), std::nullopt);
  EXPECT_EQ(lines.Next(), std::nullopt);
}

TEST(LineReaderTest, BufferedLinesAreReady) {
  std::istringstream in("a\nb\n");
  LineReader lines(in.rdbuf());
  EXPECT_THAT(lines.NextReady(), Optional(std::string_view("a")));
  EXPECT_THAT(lines.NextReady(), Optional(std::string_view("b")));
  EXPECT_EQ(lines.NextReady(), std::nullopt);
}

TEST(LineReaderTest, NextReadyNeitherWaitsNorTakesAPartialLine) {
  ChunkedInput in({"a\nb", "c\n", "d\n"});
  LineReader lines(&in);
  // Nothing has been written yet as far as the reader knows.
  EXPECT_EQ(lines.NextReady(), std::nullopt);
  EXPECT_EQ(in.taken(), 0u);
  EXPECT_THAT(lines.Next(), Optional(std::string_view("a")));
  EXPECT_EQ(in.taken(), 1u);
  // "b" may be the start of a longer line: not ready, and not waited for.
  EXPECT_EQ(lines.NextReady(), std::nullopt);
  EXPECT_EQ(in.taken(), 1u);
  EXPECT_THAT(lines.Next(), Optional(std::string_view("bc")));
  EXPECT_EQ(in.taken(), 2u);
  EXPECT_EQ(lines.NextReady(), std::nullopt);
  EXPECT_THAT(lines.Next(), Optional(std::string_view("d")));
  EXPECT_EQ(lines.Next(), std::nullopt);
  EXPECT_EQ(in.taken(), 3u);
}

TEST(LineReaderTest, LongLinesAcrossManyChunks) {
  const std::string long_line(3 * LineReader::kChunkBytes + 17, 'x');
  std::vector<std::string> chunks;
  const std::string input = "short\n" + long_line + "\nafter\n";
  for (size_t i = 0; i < input.size(); i += 1000) chunks.push_back(input.substr(i, 1000));
  ChunkedInput in(chunks);
  LineReader lines(&in);
  EXPECT_THAT(AllLines(lines), ElementsAre("short", long_line, "after"));
}

TEST(LineReaderTest, ManyLinesInOneBufferAreAllReady) {
  std::string input;
  for (int i = 0; i < 100000; ++i) input += std::to_string(i) + "\n";
  std::istringstream in(input);
  LineReader lines(in.rdbuf());
  ASSERT_THAT(lines.Next(), Optional(std::string_view("0")));
  int ready = 0;
  while (std::optional<std::string_view> line = lines.NextReady()) {
    ASSERT_EQ(*line, std::to_string(++ready));
  }
  EXPECT_EQ(ready, 99999);
}

}  // namespace
}  // namespace wirehub::ctl

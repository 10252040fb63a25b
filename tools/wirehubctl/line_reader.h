// LineReader: the lines of a std::streambuf, each either waited for or taken
// only when it is already there, so a caller can gather what a producer has
// written without blocking on a line it is still writing.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_LINE_READER_H_
#define WIREHUB_TOOLS_WIREHUBCTL_LINE_READER_H_

#include <cstddef>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>

namespace wirehub::ctl {

// LineReader splits the input of a streambuf it borrows into lines (without
// their "\n"; a last line without one counts once the input ends). It reads
// in chunks of what in_avail() reports, so a line is "ready" when the
// streambuf has already buffered it or says it can be read without waiting.
// Do not read the streambuf elsewhere while a LineReader uses it.
//
// Thread-compatible.
//
// Example:
//   LineReader lines(std::cin.rdbuf());
//   while (std::optional<std::string_view> first = lines.Next()) {
//     Handle(*first);
//     while (std::optional<std::string_view> more = lines.NextReady()) Handle(*more);
//     Flush();
//   }
class LineReader {
 public:
  // Most bytes taken from the streambuf at once.
  static constexpr size_t kChunkBytes = 64 * 1024;

  explicit LineReader(std::streambuf* in) : in_(in) {}
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // Next()
  //
  // The next line, waiting for input as long as it takes; nullopt at the end
  // of the input. The view lives until the next call.
  std::optional<std::string_view> Next() { return NextLine(/*wait=*/true); }

  // NextReady()
  //
  // The next line if all of it can be had without waiting; nullopt when it
  // cannot (a partial line or nothing is ready) or the input has ended.
  std::optional<std::string_view> NextReady() { return NextLine(/*wait=*/false); }

 private:
  std::optional<std::string_view> NextLine(bool wait);
  // Takes more input from `in_` into `buffer_`; with `wait`, waits for at
  // least one byte (or the end). Returns whether anything changed.
  bool Fill(bool wait);

  std::streambuf* const in_;
  // buffer_[start_, size()) is unconsumed input: whole lines, then at most a
  // partial one. No "\n" lies in [start_, scanned_).
  std::string buffer_;
  size_t start_ = 0;
  size_t scanned_ = 0;
  bool at_end_ = false;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_LINE_READER_H_

#include "tools/wirehubctl/line_reader.h"

#include <algorithm>
#include <ios>
#include <optional>
#include <string>
#include <string_view>

namespace wirehub::ctl {

std::optional<std::string_view> LineReader::NextLine(bool wait) {
  while (true) {
    const size_t newline = buffer_.find('\n', std::max(start_, scanned_));
    if (newline != std::string::npos) {
      std::string_view line(buffer_.data() + start_, newline - start_);
      start_ = newline + 1;
      scanned_ = start_;
      return line;
    }
    scanned_ = buffer_.size();
    if (at_end_) {
      if (start_ == buffer_.size()) return std::nullopt;
      std::string_view line(buffer_.data() + start_, buffer_.size() - start_);
      start_ = scanned_ = buffer_.size();
      return line;
    }
    if (!Fill(wait)) return std::nullopt;
  }
}

bool LineReader::Fill(bool wait) {
  // Only a partial line is left: dropping what was consumed moves at most
  // that one line, and keeps the buffer from growing with the input.
  buffer_.erase(0, start_);
  scanned_ -= start_;
  start_ = 0;
  std::streamsize ready = in_->in_avail();
  if (ready < 0) {
    at_end_ = true;
    return true;
  }
  if (ready == 0) {
    if (!wait) return false;
    // Nothing is known to be ready: wait for one byte. A streambuf that
    // buffers reports the rest of its read at the next in_avail(); one that
    // does not (std::cin synchronized with stdio) is read a byte at a time.
    const std::streambuf::int_type c = in_->sbumpc();
    if (std::streambuf::traits_type::eq_int_type(c, std::streambuf::traits_type::eof())) {
      at_end_ = true;
    } else {
      buffer_.push_back(std::streambuf::traits_type::to_char_type(c));
    }
    return true;
  }
  const size_t want = static_cast<size_t>(std::min<std::streamsize>(ready, kChunkBytes));
  const size_t old_size = buffer_.size();
  buffer_.resize(old_size + want);
  // At most what in_avail() promised: this does not wait.
  const std::streamsize got =
      in_->sgetn(buffer_.data() + old_size, static_cast<std::streamsize>(want));
  buffer_.resize(old_size + static_cast<size_t>(std::max<std::streamsize>(got, 0)));
  if (got <= 0) at_end_ = true;
  return true;
}

}  // namespace wirehub::ctl

// FdReadBuffer: a read-only std::streambuf over a file descriptor that reads
// in large chunks and can tell how much input is ready without waiting, so
// publish-stream can batch the lines a pipe already holds.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_FD_READ_BUFFER_H_
#define WIREHUB_TOOLS_WIREHUBCTL_FD_READ_BUFFER_H_

#include <cstddef>
#include <memory>
#include <streambuf>

namespace wirehub::ctl {

// FdReadBuffer reads a file descriptor it does not own. in_avail() is what
// is buffered, else what the kernel holds for the descriptor (FIONREAD: a
// pipe's, a socket's or a terminal's unread bytes; for a regular file, the
// bytes left); reading that many never waits. std::cin cannot say this: while
// synchronized with stdio it buffers nothing and reports 0.
//
// Thread-compatible.
class FdReadBuffer : public std::streambuf {
 public:
  static constexpr size_t kDefaultCapacity = 64 * 1024;

  explicit FdReadBuffer(int fd, size_t capacity = kDefaultCapacity);
  FdReadBuffer(const FdReadBuffer&) = delete;
  FdReadBuffer& operator=(const FdReadBuffer&) = delete;

 protected:
  int_type underflow() override;
  std::streamsize showmanyc() override;

 private:
  const int fd_;
  const size_t capacity_;
  std::unique_ptr<char[]> buffer_;
  // Set once read() returned 0 or failed: underflow() then fails at once.
  bool at_end_ = false;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_FD_READ_BUFFER_H_

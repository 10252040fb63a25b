#include "tools/wirehubctl/fd_read_buffer.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace wirehub::ctl {

FdReadBuffer::FdReadBuffer(int fd, size_t capacity)
    : fd_(fd), capacity_(std::max<size_t>(capacity, 1)), buffer_(new char[capacity_]) {
  setg(buffer_.get(), buffer_.get(), buffer_.get());
}

FdReadBuffer::int_type FdReadBuffer::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  if (at_end_) return traits_type::eof();
  ssize_t got;
  do {
    got = read(fd_, buffer_.get(), capacity_);
  } while (got < 0 && errno == EINTR);
  // A read error ends the input as end of file does: the caller has no
  // better answer to give than "no more lines".
  if (got <= 0) {
    at_end_ = true;
    setg(buffer_.get(), buffer_.get(), buffer_.get());
    return traits_type::eof();
  }
  setg(buffer_.get(), buffer_.get(), buffer_.get() + got);
  return traits_type::to_int_type(*gptr());
}

std::streamsize FdReadBuffer::showmanyc() {
  // Called by in_avail() only when nothing is buffered.
  if (at_end_) return -1;
  int ready = 0;
  if (ioctl(fd_, FIONREAD, &ready) != 0 || ready < 0) return 0;
  return ready;
}

}  // namespace wirehub::ctl

#include "tools/wirehubctl/socket_bio.h"

#include <openssl/bio.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>

#include "common/logging.h"

namespace wirehub::ctl {
namespace {

int SocketOf(BIO* bio) { return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio))); }

int SocketWrite(BIO* bio, const char* data, int size) {
  BIO_clear_retry_flags(bio);
  while (true) {
    ssize_t n = send(SocketOf(bio), data, static_cast<size_t>(size), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
    return -1;  // errno says why, for SSL_ERROR_SYSCALL.
  }
}

int SocketRead(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  while (true) {
    ssize_t n = recv(SocketOf(bio), data, static_cast<size_t>(size), 0);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
    return -1;
  }
}

long SocketCtrl(BIO* bio, int command, long number, void* pointer) {
  // Nothing is buffered here, so a flush is always done; every other control
  // (kTLS, datagram options, ...) is unsupported, which OpenSSL reads as off.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

const BIO_METHOD* SocketMethod() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* created =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wirehubctl socket");
    WH_CHECK(created != nullptr) << "BIO_meth_new failed";
    WH_CHECK(BIO_meth_set_write(created, SocketWrite) == 1 &&
             BIO_meth_set_read(created, SocketRead) == 1 &&
             BIO_meth_set_ctrl(created, SocketCtrl) == 1);
    return created;
  }();
  return method;
}

}  // namespace

BIO* NewSocketBio(int fd) {
  BIO* bio = BIO_new(SocketMethod());
  if (bio == nullptr) return nullptr;
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  return bio;
}

}  // namespace wirehub::ctl

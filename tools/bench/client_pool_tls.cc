// ClientPool's wss path: SSL_connect() until done, then SSL_read() and
// SSL_write() with WANT_READ / WANT_WRITE turned into epoll interest.
#include <errno.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/client_pool_conn.h"
#include "tools/bench/tls_client_context.h"

namespace wirehub::bench {

using client_pool_internal::kReadBufferBytes;

void ClientPool::ContinueTlsHandshake(Conn& conn) {
  int result = SSL_connect(conn.ssl.get());
  if (result == 1) {
    if (!tls_description_set_.load(std::memory_order_relaxed)) {
      tls_description_ = TlsDescription(conn.ssl.get());
      tls_description_set_.store(true, std::memory_order_release);
    }
    StartUpgrade(conn);
    return;
  }
  int error = SSL_get_error(conn.ssl.get(), result);
  bool want_write;
  if (error == SSL_ERROR_WANT_READ) {
    want_write = false;
  } else if (error == SSL_ERROR_WANT_WRITE) {
    want_write = true;
  } else {
    Fail(conn, absl::StrCat("tls handshake: ", TlsErrorText(conn.ssl.get(), error)));
    return;
  }
  // EPOLLIN stays registered; EPOLLOUT only while OpenSSL waits to write.
  if (want_write != conn.want_write) {
    conn.want_write = want_write;
    UpdateInterest(conn);
  }
}

// OpenSSL's rule for a write that returned WANT_WRITE: retry with the same
// bytes, at least as many. conn.out only grows at its end between retries
// and SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows its address to change.
void ClientPool::TlsSend(Conn& conn, std::string_view bytes) {
  if (conn.out.empty()) {
    while (!bytes.empty()) {
      int n = SSL_write(conn.ssl.get(), bytes.data(),
                        static_cast<int>(std::min<size_t>(bytes.size(), INT_MAX)));
      if (n <= 0) {
        int error = SSL_get_error(conn.ssl.get(), n);
        if (error != SSL_ERROR_WANT_WRITE && error != SSL_ERROR_WANT_READ) {
          Fail(conn, absl::StrCat("tls write: ", TlsErrorText(conn.ssl.get(), error)));
          return;
        }
        break;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    if (bytes.empty()) return;
  }
  conn.out.append(bytes.data(), bytes.size());
  if (!conn.want_write) {
    conn.want_write = true;
    UpdateInterest(conn);
  }
}

void ClientPool::TlsOnWritable(Conn& conn) {
  size_t written = 0;
  while (written < conn.out.size()) {
    int n = SSL_write(conn.ssl.get(), conn.out.data() + written,
                      static_cast<int>(std::min<size_t>(conn.out.size() - written, INT_MAX)));
    if (n <= 0) {
      int error = SSL_get_error(conn.ssl.get(), n);
      if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) break;
      Fail(conn, absl::StrCat("tls write: ", TlsErrorText(conn.ssl.get(), error)));
      return;
    }
    written += static_cast<size_t>(n);
  }
  conn.out.erase(0, written);
  if (!conn.out.empty()) return;
  conn.want_write = false;
  UpdateInterest(conn);
}

void ClientPool::TlsOnReadable(Conn& conn) {
  size_t carried = conn.in.size();
  if (carried + 4096 > read_buffer_.size()) read_buffer_.resize(carried + kReadBufferBytes);
  std::memcpy(read_buffer_.data(), conn.in.data(), carried);
  size_t size = carried;
  std::string failure;
  // Records OpenSSL already read ahead are invisible to epoll: read until
  // its buffer is empty (or ours is full).
  while (size < read_buffer_.size()) {
    int n = SSL_read(conn.ssl.get(), read_buffer_.data() + size,
                     static_cast<int>(std::min<size_t>(read_buffer_.size() - size, INT_MAX)));
    if (n > 0) {
      size += static_cast<size_t>(n);
      if (SSL_has_pending(conn.ssl.get()) == 0) break;
      continue;
    }
    int error = SSL_get_error(conn.ssl.get(), n);
    if (error == SSL_ERROR_WANT_READ) break;
    if (error == SSL_ERROR_WANT_WRITE) {
      // A post-handshake message wants out; EPOLLOUT until the socket
      // takes it (the next SSL call sends it).
      if (!conn.want_write) {
        conn.want_write = true;
        UpdateInterest(conn);
      }
      break;
    }
    failure = error == SSL_ERROR_ZERO_RETURN ||
                      (error == SSL_ERROR_SYSCALL && errno == 0 && ERR_peek_error() == 0)
                  ? std::string("server closed the connection")
                  : absl::StrCat("tls read: ", TlsErrorText(conn.ssl.get(), error));
    break;
  }
  if (size > carried) {
    conn.in.clear();
    ProcessInput(conn, read_buffer_.data(), size);
  }
  if (!failure.empty() && conn.fd >= 0) Fail(conn, failure);
}
}  // namespace wirehub::bench

// An OpenSSL BIO over a socket that never raises SIGPIPE.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_SOCKET_BIO_H_
#define WIREHUB_TOOLS_WIREHUBCTL_SOCKET_BIO_H_

#include <openssl/bio.h>

namespace wirehub::ctl {

// NewSocketBio()
//
// A BIO that reads and writes the socket `fd` (which it does not own, and
// which may be non-blocking: EAGAIN becomes a retry) and sends with
// MSG_NOSIGNAL. OpenSSL's own socket BIO calls write(), so a peer that went
// away would kill the process with SIGPIPE, and wirehubctl keeps SIGPIPE's
// default action for stdout (`wirehubctl tail | head` must end). Free with
// BIO_free(), or hand it to SSL_set_bio().
BIO* NewSocketBio(int fd);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_SOCKET_BIO_H_

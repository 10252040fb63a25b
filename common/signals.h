// Process signal set-up shared by the server binaries.
#ifndef WIREHUB_COMMON_SIGNALS_H_
#define WIREHUB_COMMON_SIGNALS_H_

#include <csignal>

namespace wirehub {

// BlockTerminationSignals()
//
// Blocks SIGINT and SIGTERM in the calling thread (and so in every thread
// it starts afterwards) and ignores SIGPIPE. Call it first in main(), before
// gRPC or libuv start threads; then take the returned set with sigwait() on
// one thread.
sigset_t BlockTerminationSignals();

}  // namespace wirehub

#endif  // WIREHUB_COMMON_SIGNALS_H_

#include "common/signals.h"

#include <pthread.h>

#include "common/logging.h"

namespace wirehub {

sigset_t BlockServerSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

int WaitForStopSignal(const sigset_t& signals, absl::FunctionRef<void()> on_hangup) {
  for (;;) {
    int signal_number = 0;
    // sigwait() fails only for a set holding no valid signal.
    WH_CHECK(sigwait(&signals, &signal_number) == 0);
    if (signal_number != SIGHUP) return signal_number;
    on_hangup();
  }
}

}  // namespace wirehub

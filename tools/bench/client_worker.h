// The child's side of a ClientGroup: `wirehub-bench clients`, a generator
// process holding some of a case's clients past what one process may hold
// open.
#ifndef WIREHUB_TOOLS_BENCH_CLIENT_WORKER_H_
#define WIREHUB_TOOLS_BENCH_CLIENT_WORKER_H_

#include <string>
#include <vector>

namespace wirehub::bench {

// RunClientWorkerCommand()
//
// `wirehub-bench clients ...`: the child's side of a ClientGroup, with the
// spec and its first worker in `args` (the arguments after "clients",
// WorkerArgs()) and the token secret as the first line of stdin. It reports
// its counters on stdout every 50 ms and obeys commands on stdin:
// "resume_slow", "finish <n> <last_seq...>" (answered with its totals) and
// "stop"; it stops when stdin closes (worker_pipe.h). Returns the exit code.
int RunClientWorkerCommand(const std::vector<std::string>& args);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_CLIENT_WORKER_H_

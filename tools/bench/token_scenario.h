// The tokens scenario (issue 15): what the product looks like. N
// conversations, each a channel with 1-3 subscribers, each fed a reply
// token by token by a backend, through each way of publishing
// (TokenApi); per case the tokens' fate, control's and the edges' cost per
// publication, the time to first token and the jitter between tokens.
#ifndef WIREHUB_TOOLS_BENCH_TOKEN_SCENARIO_H_
#define WIREHUB_TOOLS_BENCH_TOKEN_SCENARIO_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/token_publisher.h"

namespace wirehub::bench {

// Conversation i has kSubscribersPerConversation[i % 3] subscribers: 2 on
// average.
inline const std::vector<size_t> kSubscribersPerConversation = {1, 2, 3};

// TokenCaseSpec is one measured case of token streams.
struct TokenCaseSpec {
  std::string scenario = "tokens";
  std::string name;
  TokenApi api = TokenApi::kMultiplexed;
  size_t conversations = 1000;
  double token_rate = 30;
  uint64_t reply_tokens = 100;
  absl::Duration duration = absl::Seconds(10);
  size_t payload_bytes = 40;
  // kMultiplexed: PublishStreams.
  size_t streams = 4;
  // Generator layout; client_processes is at least what the clients'
  // count needs (ClientProcessesFor()).
  size_t client_processes = 1;
  size_t client_threads = 1;
  // Anything lost, duplicated, out of order or refused fails the case
  // (smoke).
  bool strict = false;
};

// TokenCases()
//
// The cases of `wirehub-bench tokens` (smoke: the small ones `wirehub-bench
// smoke` runs) for `options`: one per entry of options.apis (default
// stream, multiplexed, unary). InvalidArgument for an unknown api.
absl::StatusOr<std::vector<TokenCaseSpec>> TokenCases(const BenchOptions& options, bool smoke);

// ClientsPerProcess()
//
// How many client connections one process may hold: the open-files limit
// (RLIMIT_NOFILE) less a reserve for everything else it has open.
size_t ClientsPerProcess();

// ClientProcessesFor()
//
// Processes (generator processes, or edges) for `clients` connections at
// `per_process` each, at least `asked`.
size_t ClientProcessesFor(size_t clients, size_t per_process, size_t asked);

// RunTokenScenario()
//
// Runs `cases` against wirehub (once per transport in options.wirehub_tls),
// one server for all of them, with as many edges as the largest case needs
// (at least options.edges), printing a summary per case and appending its
// JSON line. Other servers are skipped with a message. Errors when the
// server cannot start or a case fails (a strict one: anything not
// delivered exactly once and in order).
absl::Status RunTokenScenario(const BenchOptions& options, const std::vector<TokenCaseSpec>& cases);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_TOKEN_SCENARIO_H_

// The command line of wirehub-fault-publisher, the load tool of the fault
// tests (tests/integration/redis_faults.test.mjs): which controls to publish
// through, on which channels, how fast, for how long, and how long a
// publication may be retried.
#ifndef WIREHUB_TOOLS_TESTING_FAULT_PUBLISHER_OPTIONS_H_
#define WIREHUB_TOOLS_TESTING_FAULT_PUBLISHER_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub::faults {

// FaultPublisherOptions is what one run publishes and how.
// Thread-compatible.
struct FaultPublisherOptions {
  // API addresses (HOST:PORT) of the control replicas, in retry order.
  std::vector<std::string> controls;
  // Channels the publications go to, in turn: publication `seq` (from 1)
  // goes to channels[(seq - 1) % channels.size()].
  std::vector<std::string> channels;
  // Publications per second, over all channels and controls.
  double rate = 0;
  // How long new publications are made: rate × duration of them in all.
  absl::Duration duration = absl::ZeroDuration();
  // A publication that has not got a position this long after its first
  // attempt is given up (its retries stop).
  absl::Duration deadline = absl::Seconds(30);
  // Idempotency keys are "<key_prefix>-<seq>".
  std::string key_prefix;
  // Most publications made and not yet answered (or given up) at once.
  int max_in_flight = 1000;
  // Most publications in one PublishStream request (its `items`).
  int batch = 32;
  // A request not answered within this is taken as lost: its stream is
  // cancelled and its publications retried elsewhere.
  absl::Duration answer_timeout = absl::Seconds(5);

  // Total()
  //
  // How many publications the run makes: rate × duration, rounded.
  int64_t Total() const;
};

// ParseFaultPublisherArgs()
//
// Reads `args` (argv without the program name), each "--name=value":
// --controls, --channels and --rate and --duration are required; --deadline,
// --key_prefix (default "fault"), --max_in_flight, --batch and
// --answer_timeout are optional. Durations are seconds (a number, "2.5") or
// absl durations ("500ms"). Unknown flags, positionals and bad values are
// errors naming the flag.
absl::StatusOr<FaultPublisherOptions> ParseFaultPublisherArgs(const std::vector<std::string>& args);

// kFaultPublisherUsage is printed with a usage error.
extern const char kFaultPublisherUsage[];

}  // namespace wirehub::faults

#endif  // WIREHUB_TOOLS_TESTING_FAULT_PUBLISHER_OPTIONS_H_

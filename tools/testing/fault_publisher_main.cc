// wirehub-fault-publisher: publishes at a steady rate through every given
// control replica, retrying failures with the same idempotency key on the
// next, and prints what every publication got as one JSON object. Exits 0
// when every publication got a position, 1 when some did not, 2 on a usage
// error. See fault_publisher.h.
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/testing/fault_publisher.h"
#include "tools/testing/fault_publisher_options.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  absl::StatusOr<wirehub::faults::FaultPublisherOptions> options =
      wirehub::faults::ParseFaultPublisherArgs(args);
  if (!options.ok()) {
    std::cerr << "wirehub-fault-publisher: " << options.status().message() << "\n"
              << wirehub::faults::kFaultPublisherUsage << "\n";
    return 2;
  }
  const wirehub::faults::FaultSummary summary = wirehub::faults::RunFaultPublisher(*options);
  std::cout << summary.ToJson() << "\n";
  return summary.AllPublished() ? 0 : 1;
}

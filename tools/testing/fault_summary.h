// What one run of wirehub-fault-publisher achieved: the position each
// publication got and after how many attempts, the publications given up,
// and the failures seen on the way, printed as one JSON object.
#ifndef WIREHUB_TOOLS_TESTING_FAULT_SUMMARY_H_
#define WIREHUB_TOOLS_TESTING_FAULT_SUMMARY_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace wirehub::faults {

// FaultSummary collects a run's outcomes.
// Thread-compatible.
//
// Example:
//   FaultSummary summary({"chat:f0"}, 2);
//   summary.RecordFailure("UNAVAILABLE", absl::Milliseconds(1000));
//   summary.RecordPosition(1, 0, /*offset=*/1, "e1", /*attempts=*/2, /*replayed=*/true);
//   summary.RecordGivenUp(2, 0, /*attempts=*/5);
//   std::cout << summary.ToJson() << "\n";  // summary.AllPublished() is false
class FaultSummary {
 public:
  FaultSummary(std::vector<std::string> channels, int64_t total);

  // RecordPosition()
  //
  // Publication `seq` on channels[channel] got `offset` in `epoch` on its
  // `attempts`-th attempt. `replayed`: an earlier attempt may have published
  // it (its outcome was unknown), so this position may be the idempotent
  // answer to that one.
  void RecordPosition(int64_t seq, size_t channel, uint64_t offset, const std::string& epoch,
                      int attempts, bool replayed);

  // RecordGivenUp()
  //
  // Publication `seq` got no position before the deadline.
  void RecordGivenUp(int64_t seq, size_t channel, int attempts);

  // RecordFailure()
  //
  // One attempt failed with the gRPC code named `code` (or a stream that
  // broke, named by its status), `latency` after it was sent.
  void RecordFailure(const std::string& code, absl::Duration latency);

  // AllPublished()
  //
  // Whether every one of the run's publications got a position.
  bool AllPublished() const;

  // ToJson()
  //
  // One line of JSON:
  //   {"ok":BOOL,"total":N,"published":N,"given_up":[SEQ...],"attempts":N,
  //    "retried":N,"failures":{"CODE":{"count":N,"max_ms":N}...},
  //    "channels":{"CH":{"epochs":["E"...],
  //                      "publications":[[SEQ,OFFSET,EPOCH_INDEX,ATTEMPTS,REPLAYED]...]}...}}
  // publications in seq order, EPOCH_INDEX indexing the channel's "epochs",
  // REPLAYED 0 or 1.
  std::string ToJson() const;

 private:
  struct Position {
    int64_t seq;
    uint64_t offset;
    size_t epoch_index;
    int attempts;
    bool replayed;
  };
  struct ChannelOutcome {
    std::vector<std::string> epochs;
    std::vector<Position> positions;
  };
  struct Failures {
    int64_t count = 0;
    absl::Duration max_latency = absl::ZeroDuration();
  };

  std::vector<std::string> channels_;
  int64_t total_;
  std::vector<ChannelOutcome> outcomes_;  // Indexed like channels_.
  std::vector<int64_t> given_up_;
  int64_t attempts_ = 0;
  int64_t retried_ = 0;  // Publications that took more than one attempt.
  std::map<std::string, Failures> failures_;
};

}  // namespace wirehub::faults

#endif  // WIREHUB_TOOLS_TESTING_FAULT_SUMMARY_H_

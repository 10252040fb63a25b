#include "tools/testing/fault_summary.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json_writer.h"

namespace wirehub::faults {

FaultSummary::FaultSummary(std::vector<std::string> channels, int64_t total)
    : channels_(std::move(channels)), total_(total), outcomes_(channels_.size()) {}

void FaultSummary::RecordPosition(int64_t seq, size_t channel, uint64_t offset,
                                  const std::string& epoch, int attempts, bool replayed) {
  ChannelOutcome& outcome = outcomes_.at(channel);
  auto it = std::find(outcome.epochs.begin(), outcome.epochs.end(), epoch);
  const size_t epoch_index = static_cast<size_t>(it - outcome.epochs.begin());
  if (it == outcome.epochs.end()) outcome.epochs.push_back(epoch);
  outcome.positions.push_back({seq, offset, epoch_index, attempts, replayed});
  attempts_ += attempts;
  if (attempts > 1) ++retried_;
}

void FaultSummary::RecordGivenUp(int64_t seq, size_t channel, int attempts) {
  (void)outcomes_.at(channel);
  given_up_.push_back(seq);
  attempts_ += attempts;
  if (attempts > 1) ++retried_;
}

void FaultSummary::RecordFailure(const std::string& code, absl::Duration latency) {
  Failures& failures = failures_[code];
  ++failures.count;
  failures.max_latency = std::max(failures.max_latency, latency);
}

bool FaultSummary::AllPublished() const {
  int64_t published = 0;
  for (const ChannelOutcome& outcome : outcomes_) {
    published += static_cast<int64_t>(outcome.positions.size());
  }
  return given_up_.empty() && published == total_;
}

std::string FaultSummary::ToJson() const {
  int64_t published = 0;
  for (const ChannelOutcome& outcome : outcomes_) {
    published += static_cast<int64_t>(outcome.positions.size());
  }
  std::string out =
      absl::StrCat("{\"ok\":", AllPublished() ? "true" : "false", ",\"total\":", total_,
                   ",\"published\":", published, ",\"given_up\":[");
  std::vector<int64_t> given_up = given_up_;
  std::sort(given_up.begin(), given_up.end());
  for (size_t i = 0; i < given_up.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", given_up[i]);
  }
  absl::StrAppend(&out, "],\"attempts\":", attempts_, ",\"retried\":", retried_, ",\"failures\":{");
  bool first = true;
  for (const auto& [code, failures] : failures_) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(code, &out);
    absl::StrAppend(&out, ":{\"count\":", failures.count,
                    ",\"max_ms\":", absl::ToInt64Milliseconds(failures.max_latency), "}");
  }
  out += "},\"channels\":{";
  for (size_t c = 0; c < channels_.size(); ++c) {
    if (c > 0) out += ',';
    AppendJsonString(channels_[c], &out);
    out += ":{\"epochs\":[";
    const ChannelOutcome& outcome = outcomes_[c];
    for (size_t e = 0; e < outcome.epochs.size(); ++e) {
      if (e > 0) out += ',';
      AppendJsonString(outcome.epochs[e], &out);
    }
    out += "],\"publications\":[";
    std::vector<Position> positions = outcome.positions;
    std::sort(positions.begin(), positions.end(),
              [](const Position& a, const Position& b) { return a.seq < b.seq; });
    for (size_t i = 0; i < positions.size(); ++i) {
      const Position& p = positions[i];
      absl::StrAppend(&out, i == 0 ? "" : ",", "[", p.seq, ",", p.offset, ",", p.epoch_index, ",",
                      p.attempts, ",", p.replayed ? 1 : 0, "]");
    }
    out += "]}";
  }
  out += "}}";
  return out;
}

}  // namespace wirehub::faults

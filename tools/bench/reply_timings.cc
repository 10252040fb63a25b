#include "tools/bench/reply_timings.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"

namespace wirehub::bench {

void ReplyTimings::Record(uint64_t reply_tokens, ReplyCursor* cursor, uint64_t seq, int64_t sent_ns,
                          int64_t received_ns) {
  if (reply_tokens == 0 || seq == 0) return;
  if ((seq - 1) % reply_tokens == 0) {
    first_token_.Record(received_ns - sent_ns);
  } else if (cursor->seq != 0 && seq == cursor->seq + 1) {
    // Only a gap between neighbours of one reply: across a lost or late
    // token it would span two send intervals.
    const int64_t receive_gap = received_ns - cursor->received_ns;
    receive_gap_.Record(receive_gap);
    gap_jitter_.Record(receive_gap - (sent_ns - cursor->sent_ns));
  }
  cursor->seq = seq;
  cursor->sent_ns = sent_ns;
  cursor->received_ns = received_ns;
}

void ReplyTimings::Merge(const ReplyTimings& other) {
  first_token_.Merge(other.first_token_);
  gap_jitter_.Merge(other.gap_jitter_);
  receive_gap_.Merge(other.receive_gap_);
}

std::string ReplyTimings::Encode() const {
  return absl::StrCat(first_token_.Encode(), "|", gap_jitter_.Encode(), "|", receive_gap_.Encode());
}

absl::StatusOr<ReplyTimings> ReplyTimings::Decode(std::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(text), '|');
  if (parts.size() != 3) {
    return absl::InvalidArgumentError("reply timings: expected three histograms");
  }
  ReplyTimings timings;
  LatencyHistogram* histograms[] = {&timings.first_token_, &timings.gap_jitter_,
                                    &timings.receive_gap_};
  for (size_t i = 0; i < parts.size(); ++i) {
    absl::StatusOr<LatencyHistogram> histogram = LatencyHistogram::Decode(AsStd(parts[i]));
    if (!histogram.ok()) return histogram.status();
    *histograms[i] = *std::move(histogram);
  }
  return timings;
}

}  // namespace wirehub::bench

// ReplyTimings: how a reply streamed token by token (an LLM answer) looks to
// one subscriber: how long its first token took, and how evenly the others
// followed it.
#ifndef WIREHUB_TOOLS_BENCH_REPLY_TIMINGS_H_
#define WIREHUB_TOOLS_BENCH_REPLY_TIMINGS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tools/bench/latency_histogram.h"

namespace wirehub::bench {

// ReplyCursor is what a subscriber remembers of the last token it received.
struct ReplyCursor {
  uint64_t seq = 0;  // 0: none yet
  int64_t sent_ns = 0;
  int64_t received_ns = 0;
};

// ReplyTimings counts, over the subscribers of one thread, the time to the
// first token of every reply and the gaps between consecutive tokens.
// Thread-compatible: one thread records into its own; Merge() the others'
// once they are done.
//
// A channel's publications are numbered 1, 2, 3, ... (the bench payload's
// seq) and every `reply_tokens` of them are one reply: seq 1,
// reply_tokens + 1, 2 * reply_tokens + 1, ... start one.
//
// Example:
//   ReplyTimings timings;
//   timings.Record(100, &conn.cursor, payload.seq, payload.ts_ns, now_ns);
class ReplyTimings {
 public:
  // Record()
  //
  // Counts token `seq`, sent at `sent_ns` and received at `received_ns`,
  // on the subscriber whose cursor is `*cursor`, then moves the cursor to
  // it. The first token of a reply counts its latency as time to first
  // token. A token that directly follows the previous one of the same
  // reply (seq one higher) counts its receive gap, and the receive gap
  // minus the send gap as jitter: the delay the gateway added to this
  // token beyond the one it added to the previous one. A token that caught
  // up (negative jitter) counts as 0. Nothing is counted when
  // `reply_tokens` is 0.
  void Record(uint64_t reply_tokens, ReplyCursor* cursor, uint64_t seq, int64_t sent_ns,
              int64_t received_ns);

  // Merge()
  //
  // Adds what `other` counted.
  void Merge(const ReplyTimings& other);

  const LatencyHistogram& first_token() const { return first_token_; }
  const LatencyHistogram& gap_jitter() const { return gap_jitter_; }
  const LatencyHistogram& receive_gap() const { return receive_gap_; }

  // Encode(), Decode()
  //
  // The three histograms on one line (LatencyHistogram::Encode(), joined by
  // '|'), for a generator process's report to its parent, and back.
  // Decode() gives InvalidArgument for anything Encode() cannot have
  // written.
  std::string Encode() const;
  static absl::StatusOr<ReplyTimings> Decode(std::string_view text);

 private:
  LatencyHistogram first_token_;
  LatencyHistogram gap_jitter_;
  LatencyHistogram receive_gap_;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_REPLY_TIMINGS_H_

// The tokens a TokenPublisher sends, and AckCounter: what became of them
// (accepted, refused, lost) and how long control took to answer them.
#ifndef WIREHUB_TOOLS_BENCH_TOKEN_ACKS_H_
#define WIREHUB_TOOLS_BENCH_TOKEN_ACKS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "tools/bench/latency_histogram.h"

namespace wirehub::bench {

// One token of one conversation, as the pacing thread produced it.
struct Token {
  uint32_t conversation = 0;
  uint64_t seq = 0;
  int64_t sent_ns = 0;  // the tick that sent it: the payload's "ts"
};

// AckCounter counts every token's fate once: accepted or refused by
// control's answer, or lost with the stream or call that carried it (or
// never sent). settled() reaching the tokens sent means nothing is pending.
// Thread-safe.
class AckCounter {
 public:
  void Accepted(uint64_t n) { accepted_.fetch_add(n, std::memory_order_relaxed); }
  void Refused(uint64_t n, std::string_view why);
  void Lost(uint64_t n, std::string_view why);

  // NoteError()
  //
  // Keeps `why` as the first error unless there is one: for an error that
  // settles no token (a stream's final status).
  void NoteError(std::string_view why);

  // Answered()
  //
  // Records how long control took, until `now_ns`, to answer the tokens
  // sent at the `n` oldest times in `*sent_ns` (which it pops), or at
  // `sent_ns`.
  void Answered(std::deque<int64_t>* sent_ns, size_t n, int64_t now_ns);
  void Answered(int64_t sent_ns, int64_t now_ns);

  uint64_t accepted() const { return accepted_.load(std::memory_order_relaxed); }
  // Accepted, refused and lost.
  uint64_t settled() const;
  std::string first_error() const;
  LatencyHistogram answers() const;

 private:
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> lost_{0};
  // Set once first_error_ is; spares the lock for every later failure.
  std::atomic<bool> error_set_{false};
  mutable absl::Mutex mu_;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
  mutable absl::Mutex answers_mu_;
  LatencyHistogram answers_ ABSL_GUARDED_BY(answers_mu_);
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_TOKEN_ACKS_H_

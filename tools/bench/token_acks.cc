#include "tools/bench/token_acks.h"

namespace wirehub::bench {

void AckCounter::Refused(uint64_t n, std::string_view why) {
  refused_.fetch_add(n, std::memory_order_relaxed);
  NoteError(why);
}

void AckCounter::Lost(uint64_t n, std::string_view why) {
  lost_.fetch_add(n, std::memory_order_relaxed);
  NoteError(why);
}

void AckCounter::NoteError(std::string_view why) {
  if (error_set_.load(std::memory_order_acquire)) return;
  absl::MutexLock lock(&mu_);
  if (first_error_.empty()) first_error_ = std::string(why);
  error_set_.store(true, std::memory_order_release);
}

void AckCounter::Answered(std::deque<int64_t>* sent_ns, size_t n, int64_t now_ns) {
  absl::MutexLock lock(&answers_mu_);
  for (size_t i = 0; i < n && !sent_ns->empty(); ++i) {
    answers_.Record(now_ns - sent_ns->front());
    sent_ns->pop_front();
  }
}

void AckCounter::Answered(int64_t sent_ns, int64_t now_ns) {
  absl::MutexLock lock(&answers_mu_);
  answers_.Record(now_ns - sent_ns);
}

uint64_t AckCounter::settled() const {
  return accepted() + refused_.load(std::memory_order_relaxed) +
         lost_.load(std::memory_order_relaxed);
}

std::string AckCounter::first_error() const {
  absl::MutexLock lock(&mu_);
  return first_error_;
}

LatencyHistogram AckCounter::answers() const {
  absl::MutexLock lock(&answers_mu_);
  return answers_;
}

}  // namespace wirehub::bench

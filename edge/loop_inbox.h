// LoopInbox: the one way other threads hand work to the edge loop.
#ifndef WIREHUB_EDGE_LOOP_INBOX_H_
#define WIREHUB_EDGE_LOOP_INBOX_H_

#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace wirehub::edge {

// LoopInbox queues closures for the loop thread and wakes it once per batch.
// Thread-safe: Post() from any thread; Drain() on the loop thread only.
class LoopInbox {
 public:
  // `wake` interrupts the loop's wait (lws_cancel_service); it is called
  // only when the inbox goes from empty to non-empty.
  explicit LoopInbox(std::function<void()> wake) : wake_(std::move(wake)) {}

  void Post(std::function<void()> task) {
    bool was_empty;
    {
      absl::MutexLock lock(&mu_);
      was_empty = tasks_.empty();
      tasks_.push_back(std::move(task));
    }
    if (was_empty) wake_();
  }

  // Runs every task posted so far, in order. Tasks posted while draining
  // wake the loop again and run on the next drain.
  void Drain() {
    {
      absl::MutexLock lock(&mu_);
      draining_.swap(tasks_);
    }
    for (auto& task : draining_) task();
    draining_.clear();
  }

 private:
  const std::function<void()> wake_;
  absl::Mutex mu_;
  std::vector<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  // Loop thread only.
  std::vector<std::function<void()>> draining_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_LOOP_INBOX_H_

// PublishStreamReactor: the server side of ControlService.PublishStream.
#ifndef WIREHUB_CONTROL_PUBLISH_STREAM_REACTOR_H_
#define WIREHUB_CONTROL_PUBLISH_STREAM_REACTOR_H_

#include <cstddef>
#include <deque>
#include <functional>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::control {

class ControlServiceImpl;

// PublishStreamReactor publishes each request as it is read (a batch
// request: each of its items, in order) and writes the responses in request
// order, one per request. Reading runs ahead of writing by at most
// `kMaxUnsent` responses; past that it stops reading until writes drain, so
// a fast producer is held back by HTTP/2 flow control instead of growing
// memory here.
// Thread-safe: gRPC may run OnReadDone and OnWriteDone concurrently.
class PublishStreamReactor
    : public grpc::ServerBidiReactor<v1::PublishStreamRequest, v1::PublishStreamResponse> {
 public:
  static constexpr size_t kMaxUnsent = 256;
  // Items one batch request may carry.
  static constexpr int kMaxBatchItems = 1024;

  // Publishes one request and answers through `done`, exactly once, on any
  // thread (ControlServiceImpl::PublishOne, or a check in front of it).
  using PublishFn = std::function<void(const v1::PublishStreamRequest& request,
                                       std::function<void(v1::PublishStreamResponse)> done)>;

  explicit PublishStreamReactor(ControlServiceImpl* service);
  explicit PublishStreamReactor(PublishFn publish);

 private:
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override { delete this; }
  void OnCancel() override {}

  // Starts the next write if none is in flight; resumes reading if it was
  // paused and there is room; finishes when reading ended and all is sent.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_);

  struct Slot;
  // Publishes the items of the batch request in request_ into `slot`.
  void PublishBatch(Slot* slot);
  // Stores the answer to item `index` of `slot` (-1: a single request);
  // returns true when that completed the slot.
  bool Fill(Slot* slot, int index, v1::PublishStreamResponse response) ABSL_LOCKS_EXCLUDED(mu_);

  const PublishFn publish_;
  // Owned by the read side: one read in flight at a time.
  v1::PublishStreamRequest request_;

  absl::Mutex mu_;
  // Responses in request order; a publish still in progress holds its
  // place (pending > 0), so nothing after it is written before it. A deque
  // keeps a slot's address while others are pushed and popped, so answers
  // find theirs by pointer.
  struct Slot {
    // Answers still to come: 1 for a single request, the item count of a
    // batch.
    int pending = 0;
    v1::PublishStreamResponse response;
  };
  std::deque<Slot> unsent_ ABSL_GUARDED_BY(mu_);
  // The client is gone: answers are dropped as they complete.
  bool discard_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool read_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  // The response being written; touched only by the write in flight.
  v1::PublishStreamResponse writing_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_PUBLISH_STREAM_REACTOR_H_

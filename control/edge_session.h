// EdgeSession: control's end of one edge's Attach stream.
#ifndef WIREHUB_CONTROL_EDGE_SESSION_H_
#define WIREHUB_CONTROL_EDGE_SESSION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::control {

class CommandRouter;
class EdgeHub;

// Limits of one edge's outbound queue.
struct EdgeSessionOptions {
  // Publications waiting to be written before the edge counts as too slow.
  size_t max_queued_publications = 200000;
  // Bytes of publication data waiting before the edge counts as too slow.
  size_t max_queued_bytes = 128 << 20;
  // Upper bounds of one ControlMessage batch.
  size_t max_batch_publications = 1024;
  size_t max_batch_bytes = 1 << 20;
};

// Thread-safe: gRPC threads (reads, write completions) and EdgeHub callers.
//
// EdgeSession is a gRPC callback reactor for one Attach stream. Reads run on
// gRPC threads; publishers enqueue from any thread through EdgeHub. One write
// is in flight at a time; what is queued meanwhile (publications, join/leave
// events, interest acks, server API commands) is batched into the next one,
// in queue order. Deletes itself in OnDone() after unregistering from the
// hub.
class EdgeSession
    : public grpc::ServerBidiReactor<edge::v1::EdgeMessage, edge::v1::ControlMessage> {
 public:
  // `router` receives the edge's CommandResults.
  EdgeSession(EdgeHub* hub, CommandRouter* router, grpc::CallbackServerContext* context,
              const EdgeSessionOptions& options);
  ~EdgeSession() override;

  // Enqueue() / EnqueueCommand() / EnqueueAck()
  //
  // Called by EdgeHub with its lock held; they never start a write, because
  // gRPC may run OnWriteDone (and from it OnDone) inline in StartWrite, which
  // would re-enter the hub. When `*kick` (or EnqueueAck's result) comes back
  // true the caller must call Kick() after releasing the hub lock; until
  // then the session cannot finish (a write is marked in flight), so the
  // pointer stays valid.
  // Enqueue() and EnqueueCommand() return false when the queue bound is
  // exceeded; the session has then dropped its queue and will end the stream
  // with RESOURCE_EXHAUSTED once the write in flight completes. A session
  // already finishing accepts and drops everything (returns true).
  bool Enqueue(std::shared_ptr<const edge::v1::Publication> publication, bool* kick);
  bool EnqueueCommand(std::shared_ptr<const edge::v1::EdgeCommand> command, bool* kick);
  bool EnqueueAck(uint64_t seq);

  // Kick() starts the write prepared by Enqueue/EnqueueAck. No lock held.
  void Kick() { StartPreparedWrite(); }

  // PrepareFinish()
  //
  // Called by EdgeHub with its lock held to end the stream with `status`
  // (queued items are dropped). Like Enqueue it never calls into gRPC: when
  // it returns true the caller must call FinishPrepared() after releasing
  // the hub lock, and until then the session cannot be deleted (Finish is
  // marked called, so nothing else finishes it). When it returns false the
  // write in flight finishes the stream, or it was already finished.
  bool PrepareFinish(const grpc::Status& status);
  void FinishPrepared();

  // When the edge last sent anything on the stream.
  absl::Time last_read() const { return absl::FromUnixNanos(last_read_unix_nanos_.load()); }

  const std::string& peer() const { return peer_; }

  // The outbound queue's depth as of its last change (for metrics; any
  // thread, no lock).
  size_t queued_items() const { return queued_items_.load(std::memory_order_relaxed); }
  size_t queued_bytes() const { return queued_bytes_gauge_.load(std::memory_order_relaxed); }

 private:
  // One queued item: exactly one of the three is set.
  struct Item {
    std::shared_ptr<const edge::v1::Publication> publication;
    std::shared_ptr<const edge::v1::EdgeCommand> command;
    uint64_t ack = 0;
    size_t bytes = 0;
  };

  // Queues a publication or command unless over the bound; see Enqueue().
  bool EnqueueItem(Item item, bool* kick);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // Moves queued items into out_ and marks a write in flight; returns false
  // when there is nothing to write or a write is already in flight.
  bool PrepareWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Builds the message of the prepared batch and starts writing it.
  void StartPreparedWrite();
  // Takes the publications lent to out_ back out of it, so its destruction
  // or Clear() never frees what the shared pointers own.
  void ReturnLent();
  // Ends the stream with `status` now or after the write in flight.
  void RequestFinish(const grpc::Status& status);
  // Mirrors the queue's depth into the atomics metrics read.
  void PublishDepthLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queued_items_.store(queue_.size(), std::memory_order_relaxed);
    queued_bytes_gauge_.store(queued_bytes_, std::memory_order_relaxed);
  }

  EdgeHub* const hub_;
  CommandRouter* const router_;
  const EdgeSessionOptions options_;
  const std::string peer_;
  std::atomic<int64_t> last_read_unix_nanos_;
  std::atomic<size_t> queued_items_{0};
  std::atomic<size_t> queued_bytes_gauge_{0};

  // Owned by the read side: only one read is in flight.
  edge::v1::EdgeMessage in_;
  bool attached_ = false;

  absl::Mutex mu_;
  std::deque<Item> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
  // Written only by whoever set write_in_flight_; read by gRPC until
  // OnWriteDone.
  // The items of the write in flight, moved out of queue_ under mu_ and
  // copied into out_ outside it (writer only, see StartPreparedWrite).
  std::vector<Item> batch_;
  // out_'s publications are not copies: they point at the shared, immutable
  // publications held in lent_ (every edge and the history share one), and
  // are taken back out in OnWriteDone(), before anything frees them. gRPC
  // only reads (serializes) the message, which is safe to do concurrently
  // with the other edges' sessions.
  edge::v1::ControlMessage out_;
  std::vector<std::shared_ptr<const edge::v1::Publication>> lent_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_EDGE_SESSION_H_

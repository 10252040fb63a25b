#include "control/edge_session.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/logging.h"
#include "control/command_router.h"
#include "control/edge_hub.h"

namespace wirehub::control {
namespace {

// Bytes a publication holds in the queue: its data and channel, or for a
// join/leave event the client it names.
size_t PublicationBytes(const edge::v1::Publication& publication) {
  size_t bytes = publication.data().size() + publication.channel().size();
  if (publication.has_join()) bytes += publication.join().ByteSizeLong();
  if (publication.has_leave()) bytes += publication.leave().ByteSizeLong();
  if (publication.has_info()) bytes += publication.info().ByteSizeLong();
  return bytes;
}

}  // namespace

EdgeSession::EdgeSession(EdgeHub* hub, CommandRouter* router, grpc::CallbackServerContext* context,
                         const EdgeSessionOptions& options)
    : hub_(hub),
      router_(router),
      options_(options),
      peer_(context->peer()),
      last_read_unix_nanos_(absl::ToUnixNanos(absl::Now())) {
  StartRead(&in_);
}

bool EdgeSession::Enqueue(std::shared_ptr<const edge::v1::Publication> publication, bool* kick) {
  Item item;
  item.bytes = PublicationBytes(*publication);
  item.publication = std::move(publication);
  return EnqueueItem(std::move(item), kick);
}

bool EdgeSession::EnqueueCommand(std::shared_ptr<const edge::v1::EdgeCommand> command, bool* kick) {
  Item item;
  item.bytes = command->ByteSizeLong();
  item.command = std::move(command);
  return EnqueueItem(std::move(item), kick);
}

bool EdgeSession::EnqueueItem(Item item, bool* kick) {
  *kick = false;
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return true;
    const size_t bytes = item.bytes;
    if (queue_.size() >= options_.max_queued_publications ||
        queued_bytes_ + bytes > options_.max_queued_bytes) {
      // The queue is non-empty, so a write is in flight and OnWriteDone
      // finishes the stream; Finish() must not run here under the hub lock.
      queue_.clear();
      queued_bytes_ = 0;
      finish_requested_ = true;
      finish_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "edge outbound queue overflow: edge too slow");
      PublishDepthLocked();
      return false;
    }
    queued_bytes_ += bytes;
    queue_.push_back(std::move(item));
    *kick = PrepareWriteLocked();
    PublishDepthLocked();
  }
  return true;
}

bool EdgeSession::EnqueueAck(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (finish_requested_) return false;
  Item item;
  item.ack = seq;
  queue_.push_back(std::move(item));
  const bool kick = PrepareWriteLocked();
  PublishDepthLocked();
  return kick;
}

bool EdgeSession::PrepareWriteLocked() {
  if (write_in_flight_ || finish_requested_ || queue_.empty()) return false;
  batch_.clear();
  size_t batch_bytes = 0;
  size_t batched = 0;
  bool has_commands = false;
  // The edge applies a message's publications, then its interest_ack, then
  // its commands. A batch therefore only ever grows in that order: an ack
  // or a publication queued after a command waits for the next message, and
  // an ack ends the batch (publications after it must reach the edge after
  // the edge has seen the ack). Only pointers move here, under the lock the
  // publish path takes; the message is built in StartPreparedWrite().
  while (!queue_.empty()) {
    Item& item = queue_.front();
    if (batched >= options_.max_batch_publications ||
        (batch_bytes > 0 && batch_bytes + item.bytes > options_.max_batch_bytes)) {
      break;
    }
    if (item.command != nullptr) {
      has_commands = true;
    } else if (has_commands) {
      break;
    } else if (item.publication == nullptr) {
      batch_.push_back(std::move(item));
      queue_.pop_front();
      break;
    }
    ++batched;
    batch_bytes += item.bytes;
    queued_bytes_ -= item.bytes;
    batch_.push_back(std::move(item));
    queue_.pop_front();
  }
  write_in_flight_ = true;
  return true;
}

void EdgeSession::StartPreparedWrite() {
  // Only the thread whose PrepareWriteLocked() returned true gets here, and
  // nothing else touches batch_ or out_ until the write is done.
  ReturnLent();
  out_.Clear();
  for (Item& item : batch_) {
    if (item.command != nullptr) {
      *out_.add_commands() = *item.command;
    } else if (item.publication != nullptr) {
      // Lent, not copied (see out_): the field never owns it.
      out_.mutable_publications()->UnsafeArenaAddAllocated(
          const_cast<edge::v1::Publication*>(item.publication.get()));
      lent_.push_back(std::move(item.publication));
    } else {
      out_.set_interest_ack(item.ack);
    }
  }
  batch_.clear();
  StartWrite(&out_);
}

bool EdgeSession::PrepareFinish(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  if (!finish_requested_) {
    finish_requested_ = true;
    finish_status_ = status;
    queue_.clear();
    queued_bytes_ = 0;
    PublishDepthLocked();
  }
  if (write_in_flight_ || finish_called_) return false;
  finish_called_ = true;
  return true;
}

void EdgeSession::FinishPrepared() {
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    status = finish_status_;
  }
  Finish(status);
}

void EdgeSession::RequestFinish(const grpc::Status& status) {
  if (PrepareFinish(status)) FinishPrepared();
}

void EdgeSession::OnReadDone(bool ok) {
  if (!ok) {
    hub_->RemoveSession(this);
    RequestFinish(grpc::Status::OK);
    return;
  }
  last_read_unix_nanos_.store(absl::ToUnixNanos(absl::Now()));
  if (!attached_) {
    if (!in_.has_hello()) {
      RequestFinish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "the first message on Attach must be hello"));
      return;
    }
    attached_ = true;
    hub_->AttachSession(this, in_.hello(), peer_);
  } else if (in_.has_interest()) {
    hub_->ApplyInterest(this, in_.interest());
  } else if (in_.has_stats()) {
    hub_->UpdateStats(this, in_.stats());
  } else if (in_.has_result()) {
    // May complete a server API call inline; no lock is held here.
    router_->OnResult(this, std::move(*in_.mutable_result()));
  } else if (in_.has_hello()) {
    RequestFinish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                               "hello sent twice on one Attach stream"));
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return;
  }
  StartRead(&in_);
}

EdgeSession::~EdgeSession() { ReturnLent(); }

void EdgeSession::ReturnLent() {
  if (lent_.empty()) return;
  out_.mutable_publications()->UnsafeArenaExtractSubrange(0, out_.publications_size(), nullptr);
  lent_.clear();
}

void EdgeSession::OnWriteDone(bool ok) {
  // gRPC is done with out_; the writer role passes on below.
  ReturnLent();
  bool start_write = false;
  bool finish = false;
  grpc::Status final_status;
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok && !finish_requested_) {
      finish_requested_ = true;
      finish_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to edge failed");
      queue_.clear();
      queued_bytes_ = 0;
    }
    if (finish_requested_) {
      if (!finish_called_) {
        finish_called_ = true;
        finish = true;
        final_status = finish_status_;
      }
    } else {
      start_write = PrepareWriteLocked();
    }
    PublishDepthLocked();
  }
  if (finish) {
    if (final_status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      WH_LOG(WARNING) << "detaching slow edge " << peer_ << ": " << final_status.error_message();
    }
    hub_->RemoveSession(this);
    Finish(final_status);
  } else if (start_write) {
    StartPreparedWrite();
  }
}

void EdgeSession::OnCancel() {
  hub_->RemoveSession(this);
  RequestFinish(grpc::Status(grpc::StatusCode::CANCELLED, "attach cancelled"));
}

void EdgeSession::OnDone() {
  hub_->RemoveSession(this);
  delete this;
}

}  // namespace wirehub::control

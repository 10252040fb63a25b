#include "control/edge_session.h"

#include <utility>

#include "common/logging.h"
#include "control/edge_hub.h"

namespace wirehub::control {

EdgeSession::EdgeSession(EdgeHub* hub, grpc::CallbackServerContext* context,
                         const EdgeSessionOptions& options)
    : hub_(hub), options_(options), peer_(context->peer()) {
  StartRead(&in_);
}

bool EdgeSession::Enqueue(std::shared_ptr<const edge::v1::Publication> publication, bool* kick) {
  *kick = false;
  {
    absl::MutexLock lock(&mu_);
    if (finish_requested_) return true;
    size_t bytes = publication->data().size() + publication->channel().size();
    if (queue_.size() >= options_.max_queued_publications ||
        queued_bytes_ + bytes > options_.max_queued_bytes) {
      // The queue is non-empty, so a write is in flight and OnWriteDone
      // finishes the stream; Finish() must not run here under the hub lock.
      queue_.clear();
      queued_bytes_ = 0;
      finish_requested_ = true;
      finish_status_ = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "edge outbound queue overflow: edge too slow");
      return false;
    }
    queued_bytes_ += bytes;
    queue_.push_back(Item{std::move(publication), 0});
    *kick = PrepareWriteLocked();
  }
  return true;
}

bool EdgeSession::EnqueueAck(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  if (finish_requested_) return false;
  queue_.push_back(Item{nullptr, seq});
  return PrepareWriteLocked();
}

bool EdgeSession::PrepareWriteLocked() {
  if (write_in_flight_ || finish_requested_ || queue_.empty()) return false;
  out_.Clear();
  size_t batch_bytes = 0;
  while (!queue_.empty()) {
    Item& item = queue_.front();
    if (item.publication == nullptr) {
      // An ack ends the batch: publications queued after it must reach the
      // edge after the edge has seen the ack.
      out_.set_interest_ack(item.ack);
      queue_.pop_front();
      break;
    }
    if (out_.publications_size() >= static_cast<int>(options_.max_batch_publications) ||
        (batch_bytes > 0 &&
         batch_bytes + item.publication->data().size() > options_.max_batch_bytes)) {
      break;
    }
    size_t bytes = item.publication->data().size() + item.publication->channel().size();
    batch_bytes += bytes;
    queued_bytes_ -= bytes;
    *out_.add_publications() = *item.publication;
    queue_.pop_front();
  }
  write_in_flight_ = true;
  return true;
}

void EdgeSession::RequestFinish(const grpc::Status& status) {
  grpc::Status final_status;
  {
    absl::MutexLock lock(&mu_);
    if (!finish_requested_) {
      finish_requested_ = true;
      finish_status_ = status;
      queue_.clear();
      queued_bytes_ = 0;
    }
    if (write_in_flight_ || finish_called_) return;
    finish_called_ = true;
    final_status = finish_status_;
  }
  Finish(final_status);
}

void EdgeSession::OnReadDone(bool ok) {
  if (!ok) {
    hub_->RemoveSession(this);
    RequestFinish(grpc::Status::OK);
    return;
  }
  if (!attached_) {
    if (!in_.has_hello()) {
      RequestFinish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "the first message on Attach must be hello"));
      return;
    }
    attached_ = true;
    if (hub_->AttachSession(this, in_.hello(), peer_)) Kick();
  } else if (in_.has_interest()) {
    if (hub_->ApplyInterest(this, in_.interest())) Kick();
  } else if (in_.has_stats()) {
    hub_->UpdateStats(this, in_.stats());
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

void EdgeSession::OnWriteDone(bool ok) {
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
  }
  if (finish) {
    if (final_status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      WH_LOG(WARNING) << "detaching slow edge " << peer_ << ": " << final_status.error_message();
    }
    hub_->RemoveSession(this);
    Finish(final_status);
  } else if (start_write) {
    StartWrite(&out_);
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

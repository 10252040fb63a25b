#include "control/publish_stream_reactor.h"

#include <utility>

#include "control/control_service.h"

namespace wirehub::control {

PublishStreamReactor::PublishStreamReactor(ControlServiceImpl* service)
    : PublishStreamReactor([service](const v1::PublishStreamRequest& request,
                                     std::function<void(v1::PublishStreamResponse)> done) {
        service->PublishOne(request, std::move(done));
      }) {}

PublishStreamReactor::PublishStreamReactor(PublishFn publish) : publish_(std::move(publish)) {
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = true;
  }
  StartRead(&request_);
}

void PublishStreamReactor::OnReadDone(bool ok) {
  if (!ok) {
    {
      absl::MutexLock lock(&mu_);
      read_in_flight_ = false;
      reads_done_ = true;
    }
    Pump();
    return;
  }
  // Publishing starts here, on the read side, so requests are published in
  // stream order; each answer fills the place reserved for it.
  uint64_t ticket;
  {
    absl::MutexLock lock(&mu_);
    ticket = next_ticket_++;
    unsent_.push_back(Slot{ticket, false, {}});
  }
  publish_(request_, [this, ticket](v1::PublishStreamResponse response) {
    {
      absl::MutexLock lock(&mu_);
      for (Slot& slot : unsent_) {
        if (slot.ticket != ticket) continue;
        slot.ready = true;
        slot.response = std::move(response);
        break;
      }
    }
    Pump();
  });
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
  }
  Pump();
}

void PublishStreamReactor::OnWriteDone(bool ok) {
  {
    absl::MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {
      // The client is gone; stop reading and finish once nothing is pending.
      reads_done_ = true;
      // Places of publishes still in progress stay until they complete:
      // the reactor must outlive their callbacks.
      discard_ = true;
      final_status_ = grpc::Status(grpc::StatusCode::CANCELLED, "write failed");
    }
  }
  Pump();
}

void PublishStreamReactor::Pump() {
  bool start_write = false;
  bool start_read = false;
  bool finish = false;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (discard_) {
      while (!unsent_.empty() && unsent_.front().ready) unsent_.pop_front();
    } else if (!write_in_flight_ && !unsent_.empty() && unsent_.front().ready) {
      writing_ = std::move(unsent_.front().response);
      unsent_.pop_front();
      write_in_flight_ = true;
      start_write = true;
    }
    if (!reads_done_ && !read_in_flight_ && unsent_.size() < kMaxUnsent) {
      read_in_flight_ = true;
      start_read = true;
    }
    if (reads_done_ && !read_in_flight_ && !write_in_flight_ && unsent_.empty()) {
      finished_ = true;
      finish = true;
      status = final_status_;
    }
  }
  if (start_write) StartWrite(&writing_);
  if (start_read) StartRead(&request_);
  if (finish) Finish(status);
}

}  // namespace wirehub::control

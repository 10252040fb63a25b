#include "control/publish_stream_reactor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "control/control_service.h"

namespace wirehub::control {
namespace {

// Why a batch request cannot be published; empty when it can.
std::string BatchError(const v1::PublishStreamRequest& request) {
  if (request.items_size() > PublishStreamReactor::kMaxBatchItems) {
    return absl::StrCat("a batch carries at most ", PublishStreamReactor::kMaxBatchItems,
                        " items, got ", request.items_size());
  }
  if (!request.channel().empty() || !request.data().empty() || !request.idempotency_key().empty() ||
      request.request_id() != 0 || !request.tenant().empty()) {
    return "a batch request's own fields must be unset: each item carries its publication";
  }
  for (const v1::PublishStreamRequest& item : request.items()) {
    if (item.items_size() > 0) return "a batch item cannot carry items of its own";
  }
  return "";
}

}  // namespace

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
  Slot* slot;
  {
    absl::MutexLock lock(&mu_);
    unsent_.emplace_back();
    slot = &unsent_.back();
    slot->pending = request_.items_size() > 0 ? request_.items_size() : 1;
  }
  if (request_.items_size() > 0) {
    PublishBatch(slot);
  } else {
    publish_(request_, [this, slot](v1::PublishStreamResponse response) {
      if (Fill(slot, -1, std::move(response))) Pump();
    });
  }
  {
    absl::MutexLock lock(&mu_);
    read_in_flight_ = false;
  }
  Pump();
}

void PublishStreamReactor::PublishBatch(Slot* slot) {
  const std::string error = BatchError(request_);
  if (!error.empty()) {
    absl::MutexLock lock(&mu_);
    slot->response.set_error_code(static_cast<int32_t>(grpc::StatusCode::INVALID_ARGUMENT));
    slot->response.set_error_message(error);
    slot->pending = 0;
    return;
  }
  {
    // Answers may come on other threads before the loop ends: the results
    // exist before the first item is published.
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < request_.items_size(); ++i) slot->response.add_results();
  }
  for (int i = 0; i < request_.items_size(); ++i) {
    publish_(request_.items(i), [this, slot, i](v1::PublishStreamResponse response) {
      if (Fill(slot, i, std::move(response))) Pump();
    });
  }
}

bool PublishStreamReactor::Fill(Slot* slot, int index, v1::PublishStreamResponse response) {
  absl::MutexLock lock(&mu_);
  if (index < 0) {
    slot->response = std::move(response);
  } else {
    *slot->response.mutable_results(index) = std::move(response);
  }
  return --slot->pending == 0;
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
      while (!unsent_.empty() && unsent_.front().pending == 0) unsent_.pop_front();
    } else if (!write_in_flight_ && !unsent_.empty() && unsent_.front().pending == 0) {
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

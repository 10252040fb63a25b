// Positioning: one subscriber of a channel with history learning where the
// stream stands, and recovering what it missed.
#ifndef WIREHUB_EDGE_POSITIONING_H_
#define WIREHUB_EDGE_POSITIONING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "edge/stream_tracker.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::edge {

// What a subscribe asks about its position.
struct PositionRequest {
  bool recover = false;
  std::string epoch;
  uint64_t offset = 0;
};

struct PositioningLimits {
  bool allow_recovery = false;
  // Most publications one recovery may return (recovery_max_publications).
  uint64_t max_publications = 1000;
  // Most bytes of recovered data: a reply larger than the client's queue
  // could never be sent.
  size_t max_recovered_bytes = 512 * 1024;
  // Live publications held meanwhile; past it the subscriber is too slow.
  size_t max_held_bytes = 1 << 20;
};

// Positioning asks control first for the stream's position only (never the
// history), then, for a recovery that can succeed, for the publications
// after the client's offset in pages, up to that position. Live
// publications arriving meanwhile are held and merged by offset afterwards,
// so whatever is newer than the position reaches the subscriber once.
// Pure logic: the caller does the fetching.
// Thread: edge loop only.
class Positioning {
 public:
  Positioning(PositionRequest request, PositioningLimits limits)
      : request_(std::move(request)), limits_(limits) {}

  // A history request selecting what to ask next (channel and tenant are
  // the caller's): the position first, then pages after the client's offset.
  void FillRequest(control::v1::HistoryRequest* request, uint32_t page_bytes) const;

  enum class Next { kFetch, kDone, kFailed };
  // The answer to the request FillRequest() described. kFailed: control
  // could not tell the position (the subscribe fails, temporarily).
  Next OnAnswer(absl::StatusOr<control::v1::HistoryResponse> answer);

  // A live publication arriving before the answer; false when the held
  // publications exceed their bound. One of another epoch than the answer
  // tells (control restarted meanwhile) is dropped by TakeNewer(): the
  // channel's next live publication resets its subscribers.
  bool Hold(uint64_t offset, SharedPublication push) {
    return Hold(offset, std::string(), std::move(push));
  }
  bool Hold(uint64_t offset, std::string epoch, SharedPublication push);

  // The outcome, once OnAnswer() said kDone.
  const std::string& epoch() const { return epoch_; }
  uint64_t top() const { return top_; }
  bool recovering() const { return recovering_; }
  bool recovered() const { return recovered_; }
  // Recovered publications, oldest first, up to top().
  const std::vector<control::v1::HistoryPublication>& publications() const { return publications_; }
  // Held live publications newer than top(), in offset order, each once.
  std::vector<StreamItem> TakeNewer();
  const absl::Status& failure() const { return failure_; }

 private:
  Next Finish(bool recovered);

  const PositionRequest request_;
  const PositioningLimits limits_;
  bool have_position_ = false;
  std::string epoch_;
  uint64_t top_ = 0;
  bool recovering_ = false;
  bool recovered_ = false;
  // Offset after which the next page starts.
  uint64_t next_after_ = 0;
  size_t recovered_bytes_ = 0;
  std::vector<control::v1::HistoryPublication> publications_;
  struct HeldItem {
    StreamItem item;
    std::string epoch;  // Empty: not known, taken as the answer's.
  };
  std::vector<HeldItem> held_;
  size_t held_bytes_ = 0;
  absl::Status failure_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_POSITIONING_H_

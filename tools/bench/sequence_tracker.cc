#include "tools/bench/sequence_tracker.h"

namespace wirehub::bench {

SequenceTracker::SequenceTracker(size_t num_streams, uint64_t first_seq)
    : first_seq_(first_seq), streams_(num_streams, Stream{.next = first_seq}) {}

bool SequenceTracker::Seen(const Stream& stream, uint64_t seq) const {
  uint64_t bit = seq % kWindow;
  return (stream.seen[bit / 64] >> (bit % 64)) & 1;
}

void SequenceTracker::MarkSeen(Stream& stream, uint64_t seq, bool value) {
  uint64_t bit = seq % kWindow;
  uint64_t mask = uint64_t{1} << (bit % 64);
  if (value) {
    stream.seen[bit / 64] |= mask;
  } else {
    stream.seen[bit / 64] &= ~mask;
  }
}

void SequenceTracker::SkipTo(Stream& stream, uint64_t seq) {
  // Numbers skipped are missing until they turn up. Their window bits must
  // read "not seen", including bits left over from a lap ago.
  uint64_t skipped = seq - stream.next;
  stream.counts.missing += skipped;
  if (skipped >= kWindow) {
    for (uint64_t& word : stream.seen) word = 0;
  } else {
    for (uint64_t n = stream.next; n < seq; ++n) MarkSeen(stream, n, false);
  }
}

void SequenceTracker::Observe(size_t stream_index, uint64_t seq) {
  Stream& stream = streams_[stream_index];
  ++stream.counts.received;
  if (seq >= stream.next) {
    SkipTo(stream, seq);
    MarkSeen(stream, seq, true);
    stream.next = seq + 1;
    return;
  }
  // Invariant: a number in [max(first_seq_, next - kWindow), next) whose bit
  // is clear was counted missing.
  if (seq < first_seq_ || stream.next - seq > kWindow || Seen(stream, seq)) {
    ++stream.counts.duplicated;
    return;
  }
  // A number counted missing has arrived after all.
  MarkSeen(stream, seq, true);
  --stream.counts.missing;
  ++stream.counts.late;
}

void SequenceTracker::Finish(size_t stream_index, uint64_t last_seq) {
  Stream& stream = streams_[stream_index];
  if (last_seq + 1 > stream.next) {
    SkipTo(stream, last_seq + 1);
    stream.next = last_seq + 1;
  }
}

SequenceTracker::Counts SequenceTracker::totals() const {
  Counts sum;
  for (const Stream& stream : streams_) {
    sum.received += stream.counts.received;
    sum.missing += stream.counts.missing;
    sum.duplicated += stream.counts.duplicated;
    sum.late += stream.counts.late;
  }
  return sum;
}

}  // namespace wirehub::bench

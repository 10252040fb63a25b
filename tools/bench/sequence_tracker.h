// Loss and duplicate accounting for the load generator: each subscriber
// stream checks the per-channel sequence numbers the publisher wrote.
#ifndef WIREHUB_TOOLS_BENCH_SEQUENCE_TRACKER_H_
#define WIREHUB_TOOLS_BENCH_SEQUENCE_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wirehub::bench {

// SequenceTracker follows many streams of sequence numbers, one per
// (subscriber connection, channel) the caller numbers 0..n-1, each expected
// to run first_seq, first_seq + 1, ... A number past the next expected one
// counts the skipped ones as missing; a number already seen counts as a
// duplicate; a number that was counted missing and arrives late within the
// last kWindow numbers is no longer missing and counts as late (reordered).
// A number older than the window, or below first_seq, is counted as a
// duplicate: it cannot be told apart from one, and wirehub delivers a
// channel in order anyway.
// Thread-compatible: a thread tracks its own connections.
//
// Example:
//   SequenceTracker tracker(num_connections);
//   tracker.Observe(connection_index, push.payload.seq);
//   ...
//   tracker.Finish(connection_index, last_seq_published);
//   printf("missing %llu\n", tracker.totals().missing);
class SequenceTracker {
 public:
  // How far back (in sequence numbers) late arrivals are recognized.
  static constexpr uint64_t kWindow = 512;

  struct Counts {
    // Numbers received, duplicates and late ones included.
    uint64_t received = 0;
    // Numbers never received (so far).
    uint64_t missing = 0;
    // Numbers received more than once (each extra copy counts once).
    uint64_t duplicated = 0;
    // Numbers received after a higher one.
    uint64_t late = 0;
  };

  explicit SequenceTracker(size_t num_streams, uint64_t first_seq = 1);

  // Observe()
  //
  // Counts sequence number `seq` received on stream `stream`.
  void Observe(size_t stream, uint64_t seq);

  // Finish()
  //
  // Declares that `last_seq` was the stream's last number sent: numbers up
  // to it that never arrived count as missing. Call once per stream after
  // the run.
  void Finish(size_t stream, uint64_t last_seq);

  // counts(), totals()
  //
  // One stream's counts, and the sum over all streams.
  const Counts& counts(size_t stream) const { return streams_[stream].counts; }
  Counts totals() const;

  size_t num_streams() const { return streams_.size(); }

 private:
  static constexpr size_t kWords = kWindow / 64;

  struct Stream {
    // The next number expected: everything below was received or counted
    // missing.
    uint64_t next;
    // Bit (n % kWindow) is set when number n, for n in
    // [next - kWindow, next), was received.
    uint64_t seen[kWords] = {};
    Counts counts;
  };

  // Counts [stream.next, seq) as missing and clears their window bits.
  void SkipTo(Stream& stream, uint64_t seq);
  bool Seen(const Stream& stream, uint64_t seq) const;
  void MarkSeen(Stream& stream, uint64_t seq, bool value);

  uint64_t first_seq_;
  std::vector<Stream> streams_;
};

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_SEQUENCE_TRACKER_H_

// The payload the load generator publishes and its subscribers parse:
//   {"ts":<send time, ns of CLOCK_MONOTONIC>,"seq":<per-channel sequence>,"pad":"xxx"}
// padded to a chosen size, and a scan that finds it in a wirehub
// publication push without a full JSON parse.
#ifndef WIREHUB_TOOLS_BENCH_BENCH_PAYLOAD_H_
#define WIREHUB_TOOLS_BENCH_BENCH_PAYLOAD_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace wirehub::bench {

// Default size of a payload, as issue #5's scenarios ask (~100 bytes).
inline constexpr size_t kDefaultBenchPayloadBytes = 100;

// BenchPayload is what one publication carries.
struct BenchPayload {
  // Send time in nanoseconds of CLOCK_MONOTONIC (MonotonicNowNs()); the
  // publisher and subscribers run on one machine, so they share the clock.
  int64_t ts_ns = 0;
  // Per-channel sequence number, 1 for a channel's first publication.
  uint64_t seq = 0;
};

// MonotonicNowNs()
//
// CLOCK_MONOTONIC in nanoseconds.
int64_t MonotonicNowNs();

// MinBenchPayloadSize()
//
// The size of `payload` with an empty pad: the smallest WriteBenchPayload()
// can write.
size_t MinBenchPayloadSize(const BenchPayload& payload);

// WriteBenchPayload()
//
// Writes `payload` as JSON, padded with 'x' to `size` bytes (or
// MinBenchPayloadSize() when that is larger), to the start of `out` and
// returns its size. ResourceExhausted when `out_size` is too small.
absl::StatusOr<size_t> WriteBenchPayload(const BenchPayload& payload, size_t size, char* out,
                                         size_t out_size);

// FormatBenchPayload()
//
// WriteBenchPayload() into `*out`, replacing its contents; allocates only
// when `*out` has never held a payload that large.
void FormatBenchPayload(const BenchPayload& payload, size_t size, std::string* out);

// ParseBenchPayload()
//
// Reads the payload at the start of `data` (exactly as WriteBenchPayload()
// wrote it: "ts" then "seq" then "pad") and returns it, with
// `*size` set to the payload's length when not null. Bytes after the
// closing brace are ignored, so `data` may be the rest of a larger message.
// InvalidArgument when `data` does not start with a bench payload.
absl::StatusOr<BenchPayload> ParseBenchPayload(std::string_view data, size_t* size = nullptr);

// PublicationPush is a wirehub publication push carrying a bench payload.
struct PublicationPush {
  // The channel as it appears in the JSON, escapes not undone (bench
  // channel names need none).
  std::string_view channel;
  BenchPayload payload;
  // The offset wirehub assigned to the publication.
  uint64_t offset = 0;
};

// ParsePublicationPush()
//
// Reads one line of the edge's client protocol (a frame may hold several,
// separated by '\n'). For a publication push,
//   {"push":{"channel":"c","pub":{"data":{"ts":..,"seq":..,"pad":".."},"offset":N...
// returns its channel, payload and offset, scanning the line with memchr
// and fixed prefixes instead of a JSON parse.
//
// Errors: NotFound for a line that is not a publication push (a reply,
// join, leave, unsubscribe, ...), InvalidArgument for a publication push
// whose data is not a bench payload or which is cut short.
absl::StatusOr<PublicationPush> ParsePublicationPush(std::string_view line);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_BENCH_PAYLOAD_H_

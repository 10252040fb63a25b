#include "tools/bench/selftest.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/websocket_frame.h"
#include "tools/bench/bench_payload.h"

namespace wirehub::bench {
namespace {

constexpr int64_t kSyntheticStartNs = 1'000'000'000;

// Latency message `index` is given, in nanoseconds.
int64_t SyntheticLatencyNs(uint64_t index) { return static_cast<int64_t>(index % 1000 + 1) * 1000; }

// Appends an unmasked server frame holding `payload`, as the edge sends it.
void AppendServerFrame(std::string_view payload, std::string* out) {
  // A text frame without a mask cannot be refused.
  WH_CHECK(AppendWebSocketFrame(WebSocketOpcode::kText, true, payload, std::nullopt, out).ok());
}

}  // namespace

absl::StatusOr<SelftestResult> RunSelftest(const SelftestOptions& options) {
  if (options.lines_per_frame == 0) return absl::InvalidArgumentError("lines_per_frame is 0");
  // Build the byte stream one connection would receive. The receive time
  // of each line is its send time plus its synthetic latency; the parse loop
  // looks it up by sequence number.
  std::string stream;
  std::string payload;
  std::string frame_text;
  size_t lines_in_frame = 0;
  uint64_t offset = 0;
  auto add_line = [&](uint64_t seq) {
    FormatBenchPayload(
        BenchPayload{.ts_ns = kSyntheticStartNs + static_cast<int64_t>(seq) * 1000, .seq = seq},
        options.payload_bytes, &payload);
    if (lines_in_frame > 0) frame_text.push_back('\n');
    absl::StrAppend(&frame_text, "{\"push\":{\"channel\":\"selftest\",\"pub\":{\"data\":", payload,
                    ",\"offset\":", ++offset, "}}}");
    if (++lines_in_frame == options.lines_per_frame) {
      AppendServerFrame(frame_text, &stream);
      frame_text.clear();
      lines_in_frame = 0;
    }
  };
  for (uint64_t seq = 1; seq <= options.messages; ++seq) {
    if (options.drop_every != 0 && seq % options.drop_every == 0) continue;
    add_line(seq);
    if (options.duplicate_every != 0 && seq % options.duplicate_every == 0) add_line(seq);
  }
  if (lines_in_frame > 0) AppendServerFrame(frame_text, &stream);

  SelftestResult result;
  SequenceTracker tracker(1);
  WebSocketFrameDecoder decoder;
  std::string_view rest = stream;
  const int64_t start = MonotonicNowNs();
  while (!rest.empty()) {
    WebSocketFrame frame;
    absl::StatusOr<size_t> used = decoder.Decode(rest, &frame);
    if (!used.ok()) return used.status();
    if (*used == 0) return absl::InternalError("selftest stream ends inside a frame");
    ++result.frames;
    std::string_view lines = frame.payload;
    while (!lines.empty()) {
      size_t newline = lines.find('\n');
      std::string_view line = lines.substr(0, newline);
      lines.remove_prefix(newline == std::string_view::npos ? lines.size() : newline + 1);
      absl::StatusOr<PublicationPush> push = ParsePublicationPush(line);
      if (!push.ok()) return push.status();
      ++result.lines;
      tracker.Observe(0, push->payload.seq);
      const int64_t received_ns = push->payload.ts_ns + SyntheticLatencyNs(push->payload.seq);
      result.latency.Record(received_ns - push->payload.ts_ns);
    }
    rest.remove_prefix(*used);
  }
  const int64_t elapsed = MonotonicNowNs() - start;
  tracker.Finish(0, options.messages);
  result.counts = tracker.counts(0);
  result.ns_per_line =
      result.lines == 0 ? 0 : static_cast<double>(elapsed) / static_cast<double>(result.lines);
  return result;
}

std::string FormatSelftestResult(const SelftestOptions& options, const SelftestResult& result) {
  const LatencyHistogram& h = result.latency;
  return absl::StrFormat(
      "selftest: %d publications of %d bytes, %d push lines per frame (synthetic, no network)\n"
      "  frames %d  lines %d  received %d  missing %d  duplicated %d  late %d\n"
      "  synthetic latency µs: p50 %.1f  p90 %.1f  p99 %.1f  p999 %.1f  max %.1f"
      "  (expected ≈ 500, 900, 990, 999, 1000)\n"
      "  generator receive path: %.0f ns per line (parse + track + record, this machine)\n",
      options.messages, options.payload_bytes, options.lines_per_frame, result.frames, result.lines,
      result.counts.received, result.counts.missing, result.counts.duplicated, result.counts.late,
      h.Percentile(50) / 1e3, h.Percentile(90) / 1e3, h.Percentile(99) / 1e3,
      h.Percentile(99.9) / 1e3, h.Max() / 1e3, result.ns_per_line);
}

}  // namespace wirehub::bench

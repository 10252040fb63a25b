#include "tools/bench/bench_payload.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace wirehub::bench {
namespace {

constexpr std::string_view kTsPrefix = "{\"ts\":";
constexpr std::string_view kSeqPrefix = ",\"seq\":";
constexpr std::string_view kPadPrefix = ",\"pad\":\"";
constexpr std::string_view kPadSuffix = "\"}";
constexpr std::string_view kPushPrefix = "{\"push\":{\"channel\":\"";
constexpr std::string_view kPubPrefix = ",\"pub\":{\"data\":";
constexpr std::string_view kOffsetPrefix = ",\"offset\":";
// Digits of the largest uint64_t / int64_t.
constexpr size_t kMaxDigits = 20;

bool ConsumePrefix(std::string_view* text, std::string_view prefix) {
  if (text->substr(0, prefix.size()) != prefix) return false;
  text->remove_prefix(prefix.size());
  return true;
}

// Reads the decimal digits at the start of `*text` into `*value`; false when
// there are none or they overflow.
bool ConsumeUint(std::string_view* text, uint64_t* value) {
  const char* end = text->data() + text->size();
  std::from_chars_result result = std::from_chars(text->data(), end, *value);
  if (result.ec != std::errc() || result.ptr == text->data()) return false;
  // from_chars accepts no sign, so a leading '-' already failed above.
  text->remove_prefix(static_cast<size_t>(result.ptr - text->data()));
  return true;
}

size_t DecimalDigits(uint64_t value) {
  size_t digits = 1;
  while (value >= 10) {
    value /= 10;
    ++digits;
  }
  return digits;
}

}  // namespace

int64_t MonotonicNowNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

size_t MinBenchPayloadSize(const BenchPayload& payload) {
  uint64_t ts = payload.ts_ns < 0 ? 0 : static_cast<uint64_t>(payload.ts_ns);
  return kTsPrefix.size() + DecimalDigits(ts) + kSeqPrefix.size() + DecimalDigits(payload.seq) +
         kPadPrefix.size() + kPadSuffix.size();
}

absl::StatusOr<size_t> WriteBenchPayload(const BenchPayload& payload, size_t size, char* out,
                                         size_t out_size) {
  const size_t min_size = MinBenchPayloadSize(payload);
  if (size < min_size) size = min_size;
  if (out_size < size) {
    return absl::ResourceExhaustedError(
        absl::StrCat("bench payload needs ", size, " bytes, buffer has ", out_size));
  }
  uint64_t ts = payload.ts_ns < 0 ? 0 : static_cast<uint64_t>(payload.ts_ns);
  char* p = out;
  char* end = out + out_size;
  std::memcpy(p, kTsPrefix.data(), kTsPrefix.size());
  p = std::to_chars(p + kTsPrefix.size(), end, ts).ptr;
  std::memcpy(p, kSeqPrefix.data(), kSeqPrefix.size());
  p = std::to_chars(p + kSeqPrefix.size(), end, payload.seq).ptr;
  std::memcpy(p, kPadPrefix.data(), kPadPrefix.size());
  p += kPadPrefix.size();
  const size_t pad = size - min_size;
  std::memset(p, 'x', pad);
  p += pad;
  std::memcpy(p, kPadSuffix.data(), kPadSuffix.size());
  p += kPadSuffix.size();
  return static_cast<size_t>(p - out);
}

void FormatBenchPayload(const BenchPayload& payload, size_t size, std::string* out) {
  const size_t total = std::max(size, MinBenchPayloadSize(payload));
  out->resize(total);
  // Cannot fail: the buffer has exactly the size needed.
  (void)WriteBenchPayload(payload, size, out->data(), out->size());
}

absl::StatusOr<BenchPayload> ParseBenchPayload(std::string_view data, size_t* size) {
  std::string_view rest = data;
  BenchPayload payload;
  uint64_t ts = 0;
  if (!ConsumePrefix(&rest, kTsPrefix) || !ConsumeUint(&rest, &ts) ||
      ts > static_cast<uint64_t>(INT64_MAX) || !ConsumePrefix(&rest, kSeqPrefix) ||
      !ConsumeUint(&rest, &payload.seq) || !ConsumePrefix(&rest, kPadPrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a bench payload: ",
                     absl::string_view(data.data(), std::min<size_t>(data.size(), 60))));
  }
  payload.ts_ns = static_cast<int64_t>(ts);
  // The pad holds only 'x', so its closing quote is the first one.
  const void* quote = std::memchr(rest.data(), '"', rest.size());
  if (quote == nullptr) return absl::InvalidArgumentError("bench payload cut short in its pad");
  rest.remove_prefix(static_cast<size_t>(static_cast<const char*>(quote) - rest.data()));
  if (!ConsumePrefix(&rest, kPadSuffix)) {
    return absl::InvalidArgumentError("bench payload does not end after its pad");
  }
  if (size != nullptr) *size = data.size() - rest.size();
  return payload;
}

absl::StatusOr<PublicationPush> ParsePublicationPush(std::string_view line) {
  std::string_view rest = line;
  if (!ConsumePrefix(&rest, kPushPrefix)) {
    return absl::NotFoundError("not a push");
  }
  // The channel name ends at the first quote that is not escaped.
  size_t i = 0;
  for (;;) {
    const void* found = std::memchr(rest.data() + i, '"', rest.size() - i);
    if (found == nullptr) return absl::InvalidArgumentError("push cut short in its channel");
    i = static_cast<size_t>(static_cast<const char*>(found) - rest.data());
    size_t backslashes = 0;
    while (backslashes < i && rest[i - 1 - backslashes] == '\\') ++backslashes;
    if (backslashes % 2 == 0) break;
    ++i;
  }
  PublicationPush push;
  push.channel = rest.substr(0, i);
  rest.remove_prefix(i + 1);
  if (!ConsumePrefix(&rest, kPubPrefix)) {
    return absl::NotFoundError("push without a publication");
  }
  size_t payload_size = 0;
  absl::StatusOr<BenchPayload> payload = ParseBenchPayload(rest, &payload_size);
  if (!payload.ok()) return payload.status();
  push.payload = *payload;
  rest.remove_prefix(payload_size);
  if (!ConsumePrefix(&rest, kOffsetPrefix) || !ConsumeUint(&rest, &push.offset)) {
    return absl::InvalidArgumentError("publication push without an offset after its data");
  }
  return push;
}

}  // namespace wirehub::bench

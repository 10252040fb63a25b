#include "tools/bench/worker_pipe.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/absl_compat.h"

namespace wirehub::bench {
namespace {

// A comma-separated list of positive numbers; false on anything else.
template <typename Number>
bool ParseList(absl::string_view value, std::vector<Number>* out) {
  out->clear();
  for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty())) {
    Number number = 0;
    if (!absl::SimpleAtoi(part, &number) || number <= 0) return false;
    out->push_back(number);
  }
  return true;
}

}  // namespace

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool LineReader::Next(std::string* line) {
  while (true) {
    size_t newline = buffer_.find('\n', scanned_);
    if (newline != std::string::npos) {
      line->assign(buffer_, 0, newline);
      buffer_.erase(0, newline + 1);
      scanned_ = 0;
      return true;
    }
    scanned_ = buffer_.size();
    char chunk[65536];
    ssize_t n = read(fd_, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

std::vector<absl::string_view> SplitFields(std::string_view line) {
  return absl::StrSplit(AsAbsl(line), ' ', absl::SkipEmpty());
}

std::string FinishCommand(const std::vector<uint64_t>& last_seq) {
  return absl::StrCat("finish ", last_seq.size(), " ", absl::StrJoin(last_seq, " "), "\n");
}

absl::StatusOr<std::vector<uint64_t>> ParseFinishCommand(
    const std::vector<absl::string_view>& fields) {
  size_t n = 0;
  if (fields.size() < 2 || fields[0] != "finish" || !absl::SimpleAtoi(fields[1], &n) ||
      fields.size() != n + 2) {
    return absl::InvalidArgumentError("finish: expected a count and that many sequence numbers");
  }
  std::vector<uint64_t> last_seq(n);
  for (size_t i = 0; i < n; ++i) {
    if (!absl::SimpleAtoi(fields[i + 2], &last_seq[i])) {
      return absl::InvalidArgumentError("finish: bad sequence number");
    }
  }
  return last_seq;
}

std::string EncodeTotals(const ClientGroupTotals& totals) {
  return absl::StrCat(totals.counts.received, " ", totals.counts.missing, " ",
                      totals.counts.duplicated, " ", totals.counts.late, "|",
                      totals.latency.Encode(), "|", totals.timings.Encode());
}

absl::StatusOr<ClientGroupTotals> DecodeTotals(std::string_view text) {
  // The timings hold '|' themselves: split off the first two parts only.
  std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(text), absl::MaxSplits('|', 2));
  std::vector<absl::string_view> counts =
      parts.empty() ? std::vector<absl::string_view>() : SplitFields(AsStd(parts[0]));
  ClientGroupTotals totals;
  if (parts.size() != 3 || counts.size() != 4 ||
      !absl::SimpleAtoi(counts[0], &totals.counts.received) ||
      !absl::SimpleAtoi(counts[1], &totals.counts.missing) ||
      !absl::SimpleAtoi(counts[2], &totals.counts.duplicated) ||
      !absl::SimpleAtoi(counts[3], &totals.counts.late)) {
    return absl::InvalidArgumentError("bad result line from a client process");
  }
  absl::StatusOr<LatencyHistogram> latency = LatencyHistogram::Decode(AsStd(parts[1]));
  if (!latency.ok()) return latency.status();
  absl::StatusOr<ReplyTimings> timings = ReplyTimings::Decode(AsStd(parts[2]));
  if (!timings.ok()) return timings.status();
  totals.latency = *std::move(latency);
  totals.timings = *std::move(timings);
  return totals;
}

void AddTotals(const ClientGroupTotals& part, ClientGroupTotals* sum) {
  sum->latency.Merge(part.latency);
  sum->timings.Merge(part.timings);
  sum->counts.received += part.counts.received;
  sum->counts.missing += part.counts.missing;
  sum->counts.duplicated += part.counts.duplicated;
  sum->counts.late += part.counts.late;
}

std::vector<std::string> WorkerArgs(const ClientGroupSpec& spec, size_t process) {
  return {
      absl::StrCat("--protocol=", static_cast<int>(spec.protocol)),
      absl::StrCat("--wire=", AsAbsl(WireFormatName(spec.wire))),
      absl::StrCat("--host=", spec.host),
      absl::StrCat("--ports=", absl::StrJoin(spec.ports, ",")),
      absl::StrCat("--sources=", absl::StrJoin(spec.source_addresses, ",")),
      absl::StrCat("--resource=", spec.resource),
      absl::StrCat("--clients=", spec.clients),
      absl::StrCat("--channels=", spec.channels),
      absl::StrCat("--channel_subscribers=", absl::StrJoin(spec.channel_subscribers, ",")),
      absl::StrCat("--reply_tokens=", spec.reply_tokens),
      absl::StrCat("--slow_every=", spec.slow_every),
      absl::StrCat("--threads=", spec.threads),
      absl::StrCat("--processes=", spec.processes),
      absl::StrCat("--process=", process),
      absl::StrCat("--issued=", absl::ToUnixSeconds(spec.token_issued_at)),
      absl::StrCat("--expires=", absl::ToUnixSeconds(spec.token_expires_at)),
      absl::StrCat("--tls_ca_file=", spec.tls_ca_file),
  };
}

absl::Status ParseWorkerArgs(const std::vector<std::string>& args, ClientGroupSpec* spec,
                             size_t* process) {
  *process = 0;
  int64_t issued = 0;
  int64_t expires = 0;
  for (const std::string& arg : args) {
    std::pair<absl::string_view, absl::string_view> flag =
        absl::StrSplit(arg, absl::MaxSplits('=', 1));
    absl::string_view name = flag.first;
    absl::string_view value = flag.second;
    int protocol = 0;
    bool ok = true;
    if (name == "--protocol" && absl::SimpleAtoi(value, &protocol) && protocol >= 0 &&
        protocol <= static_cast<int>(ClientProtocol::kNats)) {
      spec->protocol = static_cast<ClientProtocol>(protocol);
    } else if (name == "--wire") {
      ok = ParseWireFormat(AsStd(value), &spec->wire);
    } else if (name == "--host") {
      spec->host = std::string(value);
    } else if (name == "--ports") {
      ok = ParseList(value, &spec->ports) &&
           std::all_of(spec->ports.begin(), spec->ports.end(), [](int p) { return p < 65536; });
    } else if (name == "--sources") {
      spec->source_addresses = absl::StrSplit(value, ',', absl::SkipEmpty());
    } else if (name == "--resource") {
      spec->resource = std::string(value);
    } else if (name == "--clients") {
      ok = absl::SimpleAtoi(value, &spec->clients);
    } else if (name == "--channels") {
      ok = absl::SimpleAtoi(value, &spec->channels) && spec->channels > 0;
    } else if (name == "--channel_subscribers") {
      ok = ParseList(value, &spec->channel_subscribers);
    } else if (name == "--reply_tokens") {
      ok = absl::SimpleAtoi(value, &spec->reply_tokens);
    } else if (name == "--slow_every") {
      ok = absl::SimpleAtoi(value, &spec->slow_every);
    } else if (name == "--threads") {
      ok = absl::SimpleAtoi(value, &spec->threads) && spec->threads > 0;
    } else if (name == "--processes") {
      ok = absl::SimpleAtoi(value, &spec->processes) && spec->processes > 0;
    } else if (name == "--process") {
      ok = absl::SimpleAtoi(value, process);
    } else if (name == "--issued") {
      ok = absl::SimpleAtoi(value, &issued);
    } else if (name == "--expires") {
      ok = absl::SimpleAtoi(value, &expires);
    } else if (name == "--tls_ca_file") {
      spec->tls_ca_file = std::string(value);
    } else {
      ok = false;
    }
    if (!ok) return absl::InvalidArgumentError(absl::StrCat("bad flag ", arg));
  }
  if (*process >= spec->processes || spec->source_addresses.empty() || spec->ports.empty()) {
    return absl::InvalidArgumentError("needs --ports, and --process below --processes");
  }
  spec->token_issued_at = absl::FromUnixSeconds(issued);
  spec->token_expires_at = absl::FromUnixSeconds(expires);
  return absl::OkStatus();
}

}  // namespace wirehub::bench

#include "tools/wirehubctl/publish_commands.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <istream>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/line_reader.h"
#include "tools/wirehubctl/output.h"
#include "tools/wirehubctl/subcommand_support.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

namespace v1 = ::wirehub::control::v1;

namespace {

// Most publications in one batch request: control's limit.
constexpr int64_t kMaxBatchItems = 1024;
// Most bytes of channels and data in one batch request, far below control's
// 4 MiB message limit. A single line may exceed it; it then goes alone.
constexpr size_t kMaxBatchBytes = 256 * 1024;

// What publish-stream's two callbacks share. They run on different threads
// (the stream's writer and its reader), so everything here, and writing to
// the output streams, is guarded by `mu`.
struct PublishStreamState {
  std::mutex mu;
  uint64_t malformed = 0;  // Lines reported and not sent.
  uint64_t sent = 0;       // Publications handed to the stream.
  uint64_t answered = 0;   // Publications answered.
  uint64_t failed = 0;     // Answers with an error, and batches answered wrongly.
  // The request_ids of each request sent and not yet answered, oldest first
  // (one for a plain request, one per item for a batch): responses come in
  // request order, and a batch refused whole names none of its items.
  std::deque<std::vector<uint64_t>> unanswered;
};

// PublishStreamInput turns publish-stream's input into requests: a line,
// waited for, then every further whole line that is ready without waiting,
// up to --max_batch lines and kMaxBatchBytes, as one batch.
//
// Thread: the stream's writer only (it reports to `state` under its lock).
class PublishStreamInput {
 public:
  PublishStreamInput(std::streambuf* in, std::string tenant, int64_t max_batch,
                     PublishStreamState* state, std::ostream* err)
      : lines_(in), tenant_(std::move(tenant)), max_batch_(max_batch), state_(state), err_(err) {}

  // The next request; nullopt at the end of the input.
  std::optional<ControlClient::StreamRequest> Next() {
    std::optional<v1::PublishStreamRequest> first =
        carried_.has_value() ? std::exchange(carried_, std::nullopt) : NextPublication(true);
    if (!first.has_value()) return std::nullopt;
    std::vector<uint64_t> ids = {first->request_id()};
    size_t bytes = Size(*first);
    v1::PublishStreamRequest batch;
    // One more is read even when the batch is full, so `more_ready` can say
    // whether a request follows at once.
    while (std::optional<v1::PublishStreamRequest> item = NextPublication(false)) {
      if (static_cast<int64_t>(ids.size()) >= max_batch_ || bytes + Size(*item) > kMaxBatchBytes) {
        carried_ = std::move(item);
        break;
      }
      if (batch.items_size() == 0) batch.mutable_items()->Add(*std::move(first));
      ids.push_back(item->request_id());
      bytes += Size(*item);
      batch.mutable_items()->Add(*std::move(item));
    }
    ControlClient::StreamRequest next;
    // A lone line stays a plain request, as before batches existed.
    next.request = batch.items_size() == 0 ? *std::move(first) : std::move(batch);
    next.more_ready = carried_.has_value();
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->sent += ids.size();
    state_->unanswered.push_back(std::move(ids));
    return next;
  }

 private:
  static size_t Size(const v1::PublishStreamRequest& item) {
    return item.channel().size() + item.data().size();
  }

  // The next line that is a publication, as a batch item; blank lines are
  // skipped and malformed ones reported. Waits for input only with `wait`.
  std::optional<v1::PublishStreamRequest> NextPublication(bool wait) {
    while (std::optional<std::string_view> text = wait ? lines_.Next() : lines_.NextReady()) {
      PublishStreamLine parsed = ParsePublishStreamLine(*text);
      if (parsed.kind == PublishStreamLine::Kind::kBlank) continue;
      const uint64_t number = ++lines_seen_;
      if (parsed.kind == PublishStreamLine::Kind::kMalformed) {
        std::lock_guard<std::mutex> lock(state_->mu);
        ++state_->malformed;
        *err_ << "line " << number << ": expected CHANNEL JSON" << std::endl;
        continue;
      }
      v1::PublishStreamRequest item;
      item.set_channel(std::move(parsed.channel));
      item.set_data(std::move(parsed.data));
      item.set_request_id(number);
      item.set_tenant(tenant_);
      return item;
    }
    return std::nullopt;
  }

  LineReader lines_;
  const std::string tenant_;
  const int64_t max_batch_;
  PublishStreamState* const state_;
  std::ostream* const err_;
  uint64_t lines_seen_ = 0;  // Non-blank lines so far: the last request_id.
  // Read ahead by Next(): the first publication of the next request.
  std::optional<v1::PublishStreamRequest> carried_;
};

// Prints one publication's answer as a line; returns whether it failed.
bool PrintStreamAnswer(const v1::PublishStreamResponse& answer, std::ostream& out) {
  out << answer.request_id();
  if (answer.error_code() == 0) {
    out << " offset=" << answer.offset() << " epoch=" << answer.epoch() << "\n";
    return false;
  }
  out << " error=" << GrpcCodeName(answer.error_code());
  if (!answer.error_message().empty()) out << " " << answer.error_message();
  out << "\n";
  return true;
}

// Untie `in` from its output stream for the life of this object, so reading
// it on one thread does not flush that stream while another writes to it.
class ScopedUntie {
 public:
  explicit ScopedUntie(std::istream& in) : in_(in), tie_(in.tie(nullptr)) {}
  ScopedUntie(const ScopedUntie&) = delete;
  ScopedUntie& operator=(const ScopedUntie&) = delete;
  ~ScopedUntie() { in_.tie(tie_); }

 private:
  std::istream& in_;
  std::ostream* tie_;
};

}  // namespace

int RunPublish(const CommandLine& line, const CliContext& context) {
  if (line.positionals.size() != 2) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("publish takes CHANNEL and JSON, got ", line.positionals.size(),
                                   " argument(s)"));
  }
  absl::StatusOr<std::optional<int64_t>> repeat_flag = IntFlag(line, "repeat", 1, 100'000'000);
  if (!repeat_flag.ok()) {
    return UsageError(context, line.subcommand, std::string(repeat_flag.status().message()));
  }
  int64_t repeat = repeat_flag->value_or(1);
  if (repeat > 1 && line.Flag("idempotency_key") != nullptr) {
    return UsageError(context, line.subcommand,
                      "--repeat with --idempotency_key would publish only once");
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::PublishRequest request;
  request.set_channel(line.positionals[0]);
  request.set_data(line.positionals[1]);
  request.set_tenant(StringFlag(line, "tenant"));
  if (const std::string* key = line.Flag("idempotency_key")) request.set_idempotency_key(*key);
  v1::PublishResponse response;
  absl::Time start = context.now();
  for (int64_t i = 0; i < repeat; ++i) {
    grpc::Status status = client->Publish(request, &response);
    if (!status.ok()) return RpcError(context, status);
  }
  absl::Duration elapsed = context.now() - start;
  *context.out << "offset=" << response.offset() << " epoch=" << response.epoch() << "\n";
  if (repeat > 1) {
    double seconds = absl::ToDoubleSeconds(elapsed);
    *context.err << repeat << " publishes in " << absl::StrFormat("%.3f", seconds) << " s ("
                 << absl::StrFormat("%.0f", seconds > 0 ? repeat / seconds : 0.0) << "/s)\n";
  }
  return kExitOk;
}

int RunPublishStream(const CommandLine& line, const CliContext& context) {
  if (!line.positionals.empty()) {
    return UsageError(context, line.subcommand,
                      absl::StrCat("unexpected argument '", line.positionals[0],
                                   "' (publish-stream reads CHANNEL JSON lines from stdin)"));
  }
  absl::StatusOr<std::optional<int64_t>> max_batch = IntFlag(line, "max_batch", 1, kMaxBatchItems);
  if (!max_batch.ok()) {
    return UsageError(context, line.subcommand, std::string(max_batch.status().message()));
  }
  if (context.in == nullptr) {
    *context.err << "error: no input to read\n";
    return kExitFailure;
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  PublishStreamState state;
  ScopedUntie untie(*context.in);
  PublishStreamInput input(context.in->rdbuf(), StringFlag(line, "tenant"),
                           max_batch->value_or(kMaxBatchItems), &state, context.err);
  auto on_response = [&context, &state](const v1::PublishStreamResponse& response) {
    std::lock_guard<std::mutex> lock(state.mu);
    std::vector<uint64_t> ids;
    if (!state.unanswered.empty()) {
      ids = std::move(state.unanswered.front());
      state.unanswered.pop_front();
    }
    std::ostream& out = *context.out;
    if (ids.empty()) {
      // More responses than requests: whatever this answers was not asked.
      PrintStreamAnswer(response, out);
      ++state.failed;
    } else if (ids.size() == 1) {
      ++state.answered;
      if (PrintStreamAnswer(response, out)) ++state.failed;
    } else if (response.results_size() == 0 && response.error_code() != 0) {
      // The batch was refused whole: nothing in it was published.
      for (uint64_t id : ids) {
        v1::PublishStreamResponse refused;
        refused.set_request_id(id);
        refused.set_error_code(response.error_code());
        refused.set_error_message(response.error_message());
        PrintStreamAnswer(refused, out);
      }
      state.answered += ids.size();
      state.failed += ids.size();
    } else {
      for (const v1::PublishStreamResponse& result : response.results()) {
        if (PrintStreamAnswer(result, out)) ++state.failed;
      }
      state.answered += std::min<uint64_t>(response.results_size(), ids.size());
      // Results missing for some items leave those items' outcome unknown
      // (counted as unanswered); extra results are as wrong.
      if (static_cast<size_t>(response.results_size()) > ids.size()) {
        *context.err << "error: server returned " << response.results_size()
                     << " result(s) for a batch of " << ids.size() << " publication(s)\n";
        ++state.failed;
      }
    }
    // Flushed per response, not per line: whoever reads our output sees each
    // answer at once, and a batch's answers cost one write.
    out.flush();
  };
  grpc::Status status = client->PublishStream([&input] { return input.Next(); }, on_response);

  // PublishStream has returned, so neither callback runs any more.
  if (!status.ok()) return RpcError(context, status);
  if (state.answered < state.sent) {
    *context.err << "error: server answered " << state.answered << " of " << state.sent
                 << " publication(s)\n";
    return kExitFailure;
  }
  return state.malformed == 0 && state.failed == 0 ? kExitOk : kExitFailure;
}

int RunBroadcast(const CommandLine& line, const CliContext& context) {
  // CHANNEL... JSON, as publish takes CHANNEL JSON: the document is the last
  // word. Before, it was the first; a JSON object, array or string there
  // cannot be a channel name, so that old order is refused, not sent.
  if (line.positionals.size() < 2) {
    return UsageError(context, line.subcommand, "broadcast takes at least one CHANNEL, then JSON");
  }
  const std::string& first = line.positionals.front();
  if (first.front() == '{' || first.front() == '[' || first.front() == '"') {
    return UsageError(context, line.subcommand,
                      absl::StrCat("broadcast takes the channels first and the JSON last, as "
                                   "publish does; '",
                                   first, "' is not a channel"));
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  v1::BroadcastRequest request;
  request.set_data(line.positionals.back());
  request.set_tenant(StringFlag(line, "tenant"));
  for (size_t i = 0; i + 1 < line.positionals.size(); ++i) {
    request.add_channels(line.positionals[i]);
  }
  v1::BroadcastResponse response;
  grpc::Status status = client->Broadcast(request, &response);
  if (!status.ok()) return RpcError(context, status);

  for (const v1::BroadcastResult& result : response.results()) {
    *context.out << result.channel();
    if (result.error_code() == 0) {
      *context.out << " offset=" << result.offset() << " epoch=" << result.epoch() << "\n";
    } else {
      *context.out << " error=" << GrpcCodeName(result.error_code());
      if (!result.error_message().empty()) *context.out << " " << result.error_message();
      *context.out << "\n";
      exit_code = kExitFailure;
    }
  }
  // The API promises one result per channel; anything else means some
  // channels have no known outcome, which must not pass as success.
  if (response.results_size() != request.channels_size()) {
    *context.err << "error: server returned " << response.results_size() << " result(s) for "
                 << request.channels_size() << " channel(s)\n";
    exit_code = kExitFailure;
  }
  return exit_code;
}

PublishStreamLine ParsePublishStreamLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
  };
  PublishStreamLine parsed;
  if (std::all_of(line.begin(), line.end(), is_space)) return parsed;  // kBlank.
  parsed.kind = PublishStreamLine::Kind::kMalformed;
  size_t separator = line.find_first_of(" \t");
  if (separator == std::string_view::npos || separator == 0) return parsed;
  std::string_view data = line.substr(separator + 1);
  if (std::all_of(data.begin(), data.end(), is_space)) return parsed;
  parsed.kind = PublishStreamLine::Kind::kPublication;
  parsed.channel = std::string(line.substr(0, separator));
  parsed.data = std::string(data);
  return parsed;
}

}  // namespace wirehub::ctl

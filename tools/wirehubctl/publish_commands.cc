#include "tools/wirehubctl/publish_commands.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <istream>
#include <mutex>
#include <ostream>
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tools/wirehubctl/output.h"
#include "tools/wirehubctl/subcommand_support.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

namespace v1 = ::wirehub::control::v1;

namespace {

// What publish-stream's two callbacks share. They may run on different
// threads, so everything here, and writing to the output streams, is
// guarded by `mu`.
struct PublishStreamState {
  std::mutex mu;
  uint64_t lines = 0;      // Non-blank input lines so far.
  uint64_t malformed = 0;  // Lines reported and not sent.
  uint64_t sent = 0;       // Requests handed to the stream.
  uint64_t answered = 0;   // Responses received.
  uint64_t failed = 0;     // Responses with an error.
};

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
  if (context.in == nullptr) {
    *context.err << "error: no input to read\n";
    return kExitFailure;
  }
  int exit_code = kExitOk;
  std::unique_ptr<ControlClient> client = Connect(line, context, &exit_code);
  if (client == nullptr) return exit_code;

  PublishStreamState state;
  ScopedUntie untie(*context.in);
  const std::string tenant = StringFlag(line, "tenant");
  auto next_request = [&context, &state, &tenant]() -> std::optional<v1::PublishStreamRequest> {
    std::string text;
    while (std::getline(*context.in, text)) {
      PublishStreamLine parsed = ParsePublishStreamLine(text);
      if (parsed.kind == PublishStreamLine::Kind::kBlank) continue;
      std::lock_guard<std::mutex> lock(state.mu);
      uint64_t number = ++state.lines;
      if (parsed.kind == PublishStreamLine::Kind::kMalformed) {
        ++state.malformed;
        *context.err << "line " << number << ": expected CHANNEL JSON" << std::endl;
        continue;
      }
      v1::PublishStreamRequest request;
      request.set_channel(std::move(parsed.channel));
      request.set_data(std::move(parsed.data));
      request.set_request_id(number);
      request.set_tenant(tenant);
      ++state.sent;
      return request;
    }
    return std::nullopt;
  };
  auto on_response = [&context, &state](const v1::PublishStreamResponse& response) {
    std::lock_guard<std::mutex> lock(state.mu);
    ++state.answered;
    std::ostream& out = *context.out;
    out << response.request_id();
    if (response.error_code() == 0) {
      out << " offset=" << response.offset() << " epoch=" << response.epoch();
    } else {
      ++state.failed;
      out << " error=" << GrpcCodeName(response.error_code());
      if (!response.error_message().empty()) out << " " << response.error_message();
    }
    // Flushed per line: whoever reads our output sees each answer at once.
    out << std::endl;
  };
  grpc::Status status = client->PublishStream(next_request, on_response);

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

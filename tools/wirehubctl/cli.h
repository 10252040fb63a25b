// wirehubctl: the operator's command line for wirehub-control.
//
// Subcommands (those that name channels or users take --tenant=T):
//   publish CHANNEL JSON [--idempotency_key=K]   ControlService.Publish
//   publish-stream < "CHANNEL JSON" lines        ControlService.PublishStream
//   broadcast JSON CHANNEL...                    ControlService.Broadcast
//   history CHANNEL [--limit=N] [--since_offset=N --since_epoch=E] [--reverse] [--json]
//                                                ControlService.History
//   history-remove CHANNEL                       ControlService.HistoryRemove
//   presence CHANNEL [--page_size=N] [--page_token=T] [--all] [--json]
//                                                ControlService.Presence
//   presence-stats CHANNEL                       ControlService.PresenceStats
//   subscribe|unsubscribe --user=U|--client=C CHANNEL
//                                                ControlService.Subscribe / Unsubscribe
//   disconnect --user=U|--client=C [--code=N] [--reason=S] [--reconnect]
//                                                ControlService.Disconnect
//   refresh --user=U|--client=C (--expire_at=UNIX_SECONDS | --ttl=DURATION | --expired)
//                                                ControlService.Refresh
//   connections [--user=U] [--channel=C] [paging] [--json]
//                                                ControlService.Connections
//   channels [--prefix=P] [paging] [--json]      ControlService.Channels
//   info [--json]                                ControlService.Info
//   stats [--top=N] [--json]                     ControlService.Stats
//   token --user=ID [--ttl=SECONDS] [--channel=C] ...
//                                                mint an HS256 connection or
//                                                subscription token
//   tail CHANNEL [--url=ws://...] (--token=JWT | --user=ID) [--count=N] ...
//                                                follow a channel over WebSocket
//
// Global flags (--control, --timeout, --help) and subcommand flags may appear
// before or after the subcommand. Exit codes: 0 success, 1 failure (RPC
// error, a failed broadcast channel, missing secret, a tail that ended
// early), 2 usage error.
//
// The logic lives here rather than in main.cc so tests can run it with a fake
// ControlClient and captured streams.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_CLI_H_
#define WIREHUB_TOOLS_WIREHUBCTL_CLI_H_

#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::ctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

inline constexpr char kDefaultControlTarget[] = "127.0.0.1:7100";

// ControlClient is the slice of ControlService that wirehubctl calls. Each
// unary call carries the deadline the client was created with; PublishStream
// has none.
class ControlClient {
 public:
  // Supplies the next request of a stream; nullopt ends the input.
  using NextStreamRequest = std::function<std::optional<control::v1::PublishStreamRequest>()>;
  // Receives each response of a stream as it arrives.
  using OnStreamResponse = std::function<void(const control::v1::PublishStreamResponse&)>;

  virtual ~ControlClient() = default;

  virtual grpc::Status Publish(const control::v1::PublishRequest& request,
                               control::v1::PublishResponse* response) = 0;
  virtual grpc::Status Broadcast(const control::v1::BroadcastRequest& request,
                                 control::v1::BroadcastResponse* response) = 0;
  virtual grpc::Status Stats(const control::v1::StatsRequest& request,
                             control::v1::StatsResponse* response) = 0;
  virtual grpc::Status History(const control::v1::HistoryRequest& request,
                               control::v1::HistoryResponse* response) = 0;
  virtual grpc::Status HistoryRemove(const control::v1::HistoryRemoveRequest& request,
                                     control::v1::HistoryRemoveResponse* response) = 0;
  virtual grpc::Status Presence(const control::v1::PresenceRequest& request,
                                control::v1::PresenceResponse* response) = 0;
  virtual grpc::Status PresenceStats(const control::v1::PresenceStatsRequest& request,
                                     control::v1::PresenceStatsResponse* response) = 0;
  virtual grpc::Status Subscribe(const control::v1::SubscribeRequest& request,
                                 control::v1::SubscribeResponse* response) = 0;
  virtual grpc::Status Unsubscribe(const control::v1::UnsubscribeRequest& request,
                                   control::v1::UnsubscribeResponse* response) = 0;
  virtual grpc::Status Disconnect(const control::v1::DisconnectRequest& request,
                                  control::v1::DisconnectResponse* response) = 0;
  virtual grpc::Status Refresh(const control::v1::RefreshRequest& request,
                               control::v1::RefreshResponse* response) = 0;
  virtual grpc::Status Connections(const control::v1::ConnectionsRequest& request,
                                   control::v1::ConnectionsResponse* response) = 0;
  virtual grpc::Status Channels(const control::v1::ChannelsRequest& request,
                                control::v1::ChannelsResponse* response) = 0;
  virtual grpc::Status Info(const control::v1::InfoRequest& request,
                            control::v1::InfoResponse* response) = 0;

  // Runs one PublishStream without a deadline: sends each request
  // `next_request` returns until it returns nullopt, then half-closes, hands
  // every response to `on_response` as soon as it arrives and returns the
  // stream's final status once the server has ended it. The two callbacks may
  // run at the same time on different threads (so a slow input does not hold
  // back responses); neither is called after PublishStream returns. When the
  // stream fails, `next_request` is not called again, but a call already
  // waiting for input is waited for.
  virtual grpc::Status PublishStream(const NextStreamRequest& next_request,
                                     const OnStreamResponse& on_response) = 0;
};

// Connects to `target` ("HOST:PORT"); every RPC gets `timeout` as deadline.
using ControlClientFactory = std::function<std::unique_ptr<ControlClient>(const std::string& target,
                                                                          absl::Duration timeout)>;

// NewGrpcControlClient()
//
// The real client: insecure channel credentials and a synchronous stub.
// Creating it does not connect; the first RPC does.
std::unique_ptr<ControlClient> NewGrpcControlClient(const std::string& target,
                                                    absl::Duration timeout);

// CliContext is everything RunCli() touches besides its arguments.
struct CliContext {
  // Results (offsets, tables, JSON, tokens) go to `out`; usage errors and
  // failures to `err`. Help requested with --help goes to `out`.
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  // Input of publish-stream, read line by line.
  std::istream* in = nullptr;
  // Environment lookup, used for WIREHUB_CONTROL. (The token secret is read
  // by LoadTokenSecret(), which consults the process environment itself.)
  std::function<std::optional<std::string>(std::string_view name)> get_env;
  // Clock for token `iat` / `exp`.
  std::function<absl::Time()> now;
  // Opens the control connection; called only by subcommands that need it.
  ControlClientFactory connect;
};

// DefaultCliContext()
//
// Standard input, the process environment, absl::Now() and
// NewGrpcControlClient().
CliContext DefaultCliContext(std::ostream& out, std::ostream& err);

// RunCli()
//
// Runs one wirehubctl invocation. `args` excludes the program name. Returns
// the process exit code (kExitOk, kExitFailure or kExitUsage).
int RunCli(const std::vector<std::string>& args, const CliContext& context);

// PublishStreamLine is one parsed line of publish-stream input.
struct PublishStreamLine {
  enum class Kind {
    kBlank,        // Empty or only whitespace: skipped, not numbered.
    kPublication,  // `channel` and `data` are set.
    kMalformed,    // Not "CHANNEL JSON": numbered and counted as failed.
  };
  Kind kind = Kind::kBlank;
  std::string channel;
  std::string data;
};

// ParsePublishStreamLine()
//
// Parses one line (without its "\n") of publish-stream input: CHANNEL, then
// one space or tab, then the JSON document, which is the rest of the line,
// unchanged except that a trailing "\r" is dropped. The JSON is not checked
// here; wirehub-control validates it. A line with no space or tab, nothing
// before the first one, or only whitespace after it is malformed.
PublishStreamLine ParsePublishStreamLine(std::string_view line);

// GrpcCodeName()
//
// The canonical upper-case name of a gRPC status code ("INVALID_ARGUMENT"),
// or "CODE_<n>" for numbers outside the known range.
std::string GrpcCodeName(int code);

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CLI_H_

// The JSON form of the Centrifugo client protocol v2: parsing client
// commands and encoding server replies and pushes.
#ifndef WIREHUB_EDGE_CLIENT_PROTOCOL_H_
#define WIREHUB_EDGE_CLIENT_PROTOCOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/json_writer.h"
#include "wirehub/control/v1/control.pb.h"

namespace simdjson::dom {
class parser;
}

namespace wirehub::edge {

// Reply error codes of the protocol.
inline constexpr int kErrorInternal = 100;
inline constexpr int kErrorUnauthorized = 101;
inline constexpr int kErrorUnknownChannel = 102;
inline constexpr int kErrorPermissionDenied = 103;
inline constexpr int kErrorMethodNotFound = 104;
inline constexpr int kErrorAlreadySubscribed = 105;
inline constexpr int kErrorLimitExceeded = 106;
inline constexpr int kErrorBadRequest = 107;
inline constexpr int kErrorNotAvailable = 108;
inline constexpr int kErrorTokenExpired = 109;
inline constexpr int kErrorTooManyRequests = 111;  // Sent with temporary: true.
inline constexpr int kErrorUnrecoverablePosition = 112;

// Unsubscribe push codes. Below 2500 the subscription stays unsubscribed;
// from 2500 on the SDK resubscribes (with recovery).
inline constexpr int kUnsubscribeServer = 2000;
inline constexpr int kUnsubscribeInsufficientState = 2500;
inline constexpr int kUnsubscribeExpired = 2501;

// Disconnect (WebSocket close) codes of the protocol. The SDK reconnects for
// 3000-3499 and stops for 3500-3999.
inline constexpr int kCloseShutdown = 3001;
inline constexpr int kCloseInternal = 3004;
inline constexpr int kCloseConnectionExpired = 3005;
inline constexpr int kCloseSubscriptionExpired = 3006;
inline constexpr int kCloseSlow = 3008;
inline constexpr int kCloseForceReconnect = 3011;
inline constexpr int kCloseNoPong = 3012;
inline constexpr int kCloseTooManyRequests = 3013;
inline constexpr int kCloseInvalidToken = 3500;
inline constexpr int kCloseBadRequest = 3501;
inline constexpr int kCloseStale = 3502;
inline constexpr int kCloseForceDisconnect = 3503;
inline constexpr int kCloseConnectionLimit = 3504;

// The most entries a connect request's `subs` map may hold.
inline constexpr size_t kMaxConnectSubs = 128;

// One entry of a connect request's `subs` map: a subscription the client
// asks to (re)establish together with the connection. All but the channel
// are optional in the request.
struct SubscribeSpec {
  std::string channel;
  bool recover = false;
  std::string epoch;
  uint64_t offset = 0;
};

// One client command.
struct Command {
  enum class Kind {
    kPong,  // `{}`: the answer to a server ping.
    kConnect,
    kSubscribe,
    kUnsubscribe,
    kPing,
    kHistory,
    kPublish,
    kPresence,
    kPresenceStats,
    kRefresh,
    kSubRefresh,
    kNotAvailable,   // A protocol method this server does not offer (yet).
    kUnknown,        // An id with no method this protocol defines.
    kInvalidParams,  // A known method whose request has wrong types.
  };
  Kind kind = Kind::kPong;
  uint32_t id = 0;
  // The method's field name, for error messages.
  std::string method;
  // connect.token / subscribe.token (optional; has_token when non-empty),
  // refresh.token / sub_refresh.token (required and non-empty).
  std::string token;
  bool has_token = false;
  // The channel of subscribe, unsubscribe, history, publish, presence,
  // presence_stats and sub_refresh.
  std::string channel;
  // connect.subs, in the order the request lists them (at most
  // kMaxConnectSubs).
  std::vector<SubscribeSpec> subs;
  // publish.data: the value as minified JSON (any JSON value, never empty
  // for kPublish).
  std::string data_json;
  // subscribe.recover / epoch / offset: the client's last known position.
  // history.since (has_since) / limit / reverse use epoch and offset too.
  bool recover = false;
  std::string epoch;
  uint64_t offset = 0;
  bool has_since = false;
  int64_t limit = 0;
  bool reverse = false;
  // Why kInvalidParams.
  std::string problem;
};

// CommandParser turns one received text message into commands.
// Thread-compatible: one per event loop; it reuses its parse buffers.
class CommandParser {
 public:
  CommandParser();
  ~CommandParser();
  CommandParser(const CommandParser&) = delete;
  CommandParser& operator=(const CommandParser&) = delete;

  // Parse()
  //
  // Splits `message` on '\n' (empty lines are skipped) and parses each line
  // as a Command. Returns InvalidArgument when a line is not a JSON object,
  // `id` is not an unsigned 32-bit integer, a line names several methods,
  // or the message holds no command at all; the connection must then be
  // closed with 3501. Problems inside one known method's request are
  // reported per command as kInvalidParams instead.
  absl::Status Parse(std::string_view message, std::vector<Command>* commands);

 private:
  std::unique_ptr<simdjson::dom::parser> parser_;
};

// Encoders. Each returns one protocol message without a trailing newline.
// `*_json` arguments and fields are raw JSON embedded as-is (the caller
// guarantees they are valid JSON); strings are escaped.

// A client as subscribers see it (presence, join/leave, publication info).
// The raw JSON fields are omitted from the output when empty.
struct ClientInfoView {
  std::string_view user;
  std::string_view client;
  std::string_view conn_info_json;
  std::string_view chan_info_json;
};

// The view of a ClientInfo proto (valid while `info` is).
ClientInfoView ViewOf(const control::v1::ClientInfo& info);

// Control frames carry at most 125 bytes: the close code and the reason.
inline constexpr size_t kMaxCloseReasonBytes = 123;

// Utf8Prefix()
//
// The longest prefix of `text` of at most `max_bytes` that does not end
// inside a UTF-8 sequence (a close reason must stay valid UTF-8).
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

// TtlSeconds()
//
// Whole seconds left until `at`, at least 1: the SDK refreshes a token
// when they run out.
uint32_t TtlSeconds(absl::Time at, absl::Time now);

// AppendClientInfo()
//
// Appends {"user":"u","client":"c","conn_info":RAW,"chan_info":RAW} to `out`.
void AppendClientInfo(const ClientInfoView& info, std::string* out);

// {"id":N,"connect":{"client":"..","version":"..","ping":P,"pong":true}}
// ("pong" only when `pong`).
std::string EncodeConnectReply(uint32_t id, std::string_view client_id, std::string_view version,
                               int ping_seconds, bool pong);
std::string EncodeEmptyResult(uint32_t id, std::string_view method);

// A publication inside a subscribe or history result.
struct RecoveredPublication {
  uint64_t offset = 0;
  std::string_view data_json;
  // The publisher, written as "info" when set. Borrowed.
  const ClientInfoView* info = nullptr;
};

// Fields of a subscribe result for a channel with a stream position.
struct SubscribeResult {
  bool recoverable = false;
  std::string_view epoch;
  uint64_t offset = 0;
  bool was_recovering = false;
  bool recovered = false;
  std::vector<RecoveredPublication> publications;
  // The subscription expires after `ttl` seconds unless refreshed
  // (sub_refresh); written as "expires":true,"ttl":N only when `expires`.
  bool expires = false;
  uint32_t ttl = 0;
};
// {"id":N,"subscribe":{"expires":true,"ttl":T,"recoverable":true,"epoch":"..",
//  "offset":N,"positioned":true,"was_recovering":true,"recovered":true,
//  "publications":[...]}}: epoch, offset and positioned when the channel has
// a stream (non-empty epoch), the rest only when set; `{}` when nothing is.
std::string EncodeSubscribeReply(uint32_t id, const SubscribeResult& result);

// The result of a connect command.
struct ConnectResult {
  std::string_view client;
  std::string_view version;
  int ping_seconds = 25;
  bool pong = true;
  // The connection expires after `ttl` seconds unless refreshed (refresh).
  bool expires = false;
  uint32_t ttl = 0;
  // Subscriptions established with the connection: the client's `subs`
  // and server-side ones, channel → result.
  std::vector<std::pair<std::string, SubscribeResult>> subs;
};

// EncodeConnectReply()
//
// {"id":N,"connect":{"client":"..","version":"..","expires":true,"ttl":T,
//  "subs":{"chan":{...},...},"ping":P,"pong":true}}: expires and ttl only
// when `expires`, subs only when non-empty; each subs value is written as
// EncodeSubscribeReply() writes its "subscribe" value.
std::string EncodeConnectReply(uint32_t id, const ConnectResult& result);

// {"id":N,"history":{"publications":[...],"epoch":"..","offset":N}}
std::string EncodeHistoryReply(uint32_t id, const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset);

// {"id":N,"refresh":{"client":"..","version":"..","expires":true,"ttl":T}}
// (expires and ttl only when `expires`).
std::string EncodeRefreshReply(uint32_t id, std::string_view client, std::string_view version,
                               bool expires, uint32_t ttl);

// {"id":N,"sub_refresh":{"expires":true,"ttl":T}} or {"id":N,"sub_refresh":{}}.
std::string EncodeSubRefreshReply(uint32_t id, bool expires, uint32_t ttl);

// {"id":N,"presence":{"presence":{"<client>":{info},...}}}, keyed by each
// entry's `client`, in the given order (an empty map when none).
std::string EncodePresenceReply(uint32_t id, const std::vector<ClientInfoView>& clients);

// {"id":N,"presence_stats":{"num_clients":A,"num_users":B}}
std::string EncodePresenceStatsReply(uint32_t id, uint64_t num_clients, uint64_t num_users);

std::string EncodeErrorReply(uint32_t id, int code, std::string_view message, bool temporary);

// {"push":{"channel":"c","pub":{"data":RAW,"offset":N}}}
std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset);
// As above, with "info":{...} after the offset when `info` is set.
std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset, const ClientInfoView* info);

// {"push":{"channel":"c","join":{"info":{...}}}}
std::string EncodeJoinPush(std::string_view channel, const ClientInfoView& info);
// {"push":{"channel":"c","leave":{"info":{...}}}}
std::string EncodeLeavePush(std::string_view channel, const ClientInfoView& info);

// EncodeSubscribePush()
//
// A server-side subscription made after connect:
// {"push":{"channel":"c","subscribe":{...}}} with the same object
// EncodeSubscribeReply() writes. SDKs read only its position and
// recoverable; publications belong in pushes of their own.
std::string EncodeSubscribePush(std::string_view channel, const SubscribeResult& result);

std::string EncodeUnsubscribePush(std::string_view channel, int code, std::string_view reason);

// The JSON string escaping the encoders use (common/json_writer.h).
using ::wirehub::AppendJsonString;

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_PROTOCOL_H_

// The binary form of the client protocol (the `centrifuge-protobuf`
// WebSocket subprotocol): encoding replies and pushes. One function per JSON
// encoder of edge/client_protocol.h, with the same arguments, in namespace
// `pb`; the messages are proto/wirehub/client/v1/client.proto.
//
// Each function returns one Reply preceded by its length as a varint, so
// results can be concatenated into one binary WebSocket message as they are
// (the SDK decodes every message on its own: a Reply must never be split
// across two). Fields at their default value are left out, as protobuf
// encoders do, except that a result or push payload is always present, even
// when empty: its presence is what the client reads.
//
// Arguments named `*_json` hold bytes copied as they are: publication data
// (any bytes on a protobuf connection) and the raw JSON `info` claims.
#ifndef WIREHUB_EDGE_PROTOBUF_ENCODERS_H_
#define WIREHUB_EDGE_PROTOBUF_ENCODERS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edge/client_protocol.h"

namespace wirehub::edge::pb {

// The server's ping: an empty Reply (the single byte 0x00). The SDK answers
// with an empty Command when the connect result asked for pongs.
std::string EncodePing();

// Reply{id, connect: {client, version, ping, pong}}.
std::string EncodeConnectReply(uint32_t id, std::string_view client_id, std::string_view version,
                               int ping_seconds, bool pong);
// Reply{id, connect: {client, version, expires, ttl, subs, ping, pong}}:
// ttl only when `expires`; every subs entry carries its key and its value
// (written as EncodeSubscribeReply() writes its result).
std::string EncodeConnectReply(uint32_t id, const ConnectResult& result);

// EncodeEmptyResult()
//
// Reply{id, <method>: {}}, `method` being a result field name of Reply
// ("ping", "unsubscribe", "publish", ...). Any other name is a bug and
// crashes.
std::string EncodeEmptyResult(uint32_t id, std::string_view method);

// Reply{id, subscribe: {expires, ttl, recoverable, epoch, publications,
// recovered, offset, positioned, was_recovering}}: epoch, offset and
// positioned when the channel has a stream (non-empty epoch), ttl only when
// `expires`.
std::string EncodeSubscribeReply(uint32_t id, const SubscribeResult& result);

// Reply{id, history: {publications, epoch, offset}}.
std::string EncodeHistoryReply(uint32_t id, const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset);

// Reply{id, refresh: {client, version, expires, ttl}} (ttl only when
// `expires`).
std::string EncodeRefreshReply(uint32_t id, std::string_view client, std::string_view version,
                               bool expires, uint32_t ttl);

// Reply{id, sub_refresh: {expires, ttl}} or Reply{id, sub_refresh: {}}.
std::string EncodeSubRefreshReply(uint32_t id, bool expires, uint32_t ttl);

// Reply{id, presence: {presence: {<client>: ClientInfo, ...}}}, keyed by
// each entry's `client`, in the given order.
std::string EncodePresenceReply(uint32_t id, const std::vector<ClientInfoView>& clients);

// Reply{id, presence_stats: {num_clients, num_users}}; the counts saturate
// at 2^32 - 1 (the fields are 32-bit).
std::string EncodePresenceStatsReply(uint32_t id, uint64_t num_clients, uint64_t num_users);

// Reply{id, error: {code, message, temporary}}.
std::string EncodeErrorReply(uint32_t id, int code, std::string_view message, bool temporary);

// EncodePublicationPush()
//
// Reply{push: {channel, pub: {data, offset}}}, and with `info` set
// pub.info too. The hot path: one allocation, the data copied once.
std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset);
std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset, const ClientInfoView* info);

// Reply{push: {channel, join: {info}}}.
std::string EncodeJoinPush(std::string_view channel, const ClientInfoView& info);
// Reply{push: {channel, leave: {info}}}.
std::string EncodeLeavePush(std::string_view channel, const ClientInfoView& info);

// EncodeSubscribePush()
//
// A server-side subscription made after connect: Reply{push: {channel,
// subscribe: {recoverable, epoch, offset, positioned}}}. The push's
// Subscribe message has no room for the rest of `result` (expiry,
// publications), which SDKs do not read there anyway.
std::string EncodeSubscribePush(std::string_view channel, const SubscribeResult& result);

// Reply{push: {channel, unsubscribe: {code, reason}}}.
std::string EncodeUnsubscribePush(std::string_view channel, int code, std::string_view reason);

// Reply{push: {disconnect: {code, reason}}}: the server is closing the
// connection with that close code (the close frame says it too).
std::string EncodeDisconnectPush(int code, std::string_view reason);

// Reply{push: {message: {data}}}: application data outside any channel.
std::string EncodeMessagePush(std::string_view data);

}  // namespace wirehub::edge::pb

#endif  // WIREHUB_EDGE_PROTOBUF_ENCODERS_H_

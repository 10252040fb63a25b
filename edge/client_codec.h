// The client protocol's encoders for either wire format: each function
// takes the connection's WireFormat first and otherwise the arguments of
// the JSON encoder of the same name (edge/client_protocol.h), whose
// comments say what each writes; the protobuf form writes the same fields
// (edge/protobuf_encoders.h).
#ifndef WIREHUB_EDGE_CLIENT_CODEC_H_
#define WIREHUB_EDGE_CLIENT_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "edge/client_protocol.h"
#include "edge/outbound_queue.h"
#include "edge/wire_format.h"

namespace wirehub::edge {

std::string EncodeConnectReply(WireFormat format, uint32_t id, std::string_view client_id,
                               std::string_view version, int ping_seconds, bool pong);
std::string EncodeConnectReply(WireFormat format, uint32_t id, const ConnectResult& result);
std::string EncodeEmptyResult(WireFormat format, uint32_t id, std::string_view method);
std::string EncodeSubscribeReply(WireFormat format, uint32_t id, const SubscribeResult& result);
std::string EncodeHistoryReply(WireFormat format, uint32_t id,
                               const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset);
std::string EncodeRefreshReply(WireFormat format, uint32_t id, std::string_view client,
                               std::string_view version, bool expires, uint32_t ttl);
std::string EncodeSubRefreshReply(WireFormat format, uint32_t id, bool expires, uint32_t ttl);
std::string EncodePresenceReply(WireFormat format, uint32_t id,
                                const std::vector<ClientInfoView>& clients);
std::string EncodePresenceStatsReply(WireFormat format, uint32_t id, uint64_t num_clients,
                                     uint64_t num_users);
std::string EncodeErrorReply(WireFormat format, uint32_t id, int code, std::string_view message,
                             bool temporary);
std::string EncodePublicationPush(WireFormat format, std::string_view channel,
                                  std::string_view data, uint64_t offset,
                                  const ClientInfoView* info);
std::string EncodeJoinPush(WireFormat format, std::string_view channel, const ClientInfoView& info);
std::string EncodeLeavePush(WireFormat format, std::string_view channel,
                            const ClientInfoView& info);
std::string EncodeSubscribePush(WireFormat format, std::string_view channel,
                                const SubscribeResult& result);
std::string EncodeUnsubscribePush(WireFormat format, std::string_view channel, int code,
                                  std::string_view reason);

// The server's ping in `format` (JSON `{}`, protobuf an empty Reply), one
// shared frame per format.
const Frame& PingFrame(WireFormat format);

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_CODEC_H_

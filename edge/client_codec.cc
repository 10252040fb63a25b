#include "edge/client_codec.h"

#include <memory>

#include "edge/protobuf_encoders.h"

namespace wirehub::edge {

std::string EncodeConnectReply(WireFormat format, uint32_t id, std::string_view client_id,
                               std::string_view version, int ping_seconds, bool pong) {
  return format == WireFormat::kProtobuf
             ? pb::EncodeConnectReply(id, client_id, version, ping_seconds, pong)
             : EncodeConnectReply(id, client_id, version, ping_seconds, pong);
}

std::string EncodeConnectReply(WireFormat format, uint32_t id, const ConnectResult& result) {
  return format == WireFormat::kProtobuf ? pb::EncodeConnectReply(id, result)
                                         : EncodeConnectReply(id, result);
}

std::string EncodeEmptyResult(WireFormat format, uint32_t id, std::string_view method) {
  return format == WireFormat::kProtobuf ? pb::EncodeEmptyResult(id, method)
                                         : EncodeEmptyResult(id, method);
}

std::string EncodeSubscribeReply(WireFormat format, uint32_t id, const SubscribeResult& result) {
  return format == WireFormat::kProtobuf ? pb::EncodeSubscribeReply(id, result)
                                         : EncodeSubscribeReply(id, result);
}

std::string EncodeHistoryReply(WireFormat format, uint32_t id,
                               const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset) {
  return format == WireFormat::kProtobuf ? pb::EncodeHistoryReply(id, publications, epoch, offset)
                                         : EncodeHistoryReply(id, publications, epoch, offset);
}

std::string EncodeRefreshReply(WireFormat format, uint32_t id, std::string_view client,
                               std::string_view version, bool expires, uint32_t ttl) {
  return format == WireFormat::kProtobuf ? pb::EncodeRefreshReply(id, client, version, expires, ttl)
                                         : EncodeRefreshReply(id, client, version, expires, ttl);
}

std::string EncodeSubRefreshReply(WireFormat format, uint32_t id, bool expires, uint32_t ttl) {
  return format == WireFormat::kProtobuf ? pb::EncodeSubRefreshReply(id, expires, ttl)
                                         : EncodeSubRefreshReply(id, expires, ttl);
}

std::string EncodePresenceReply(WireFormat format, uint32_t id,
                                const std::vector<ClientInfoView>& clients) {
  return format == WireFormat::kProtobuf ? pb::EncodePresenceReply(id, clients)
                                         : EncodePresenceReply(id, clients);
}

std::string EncodePresenceStatsReply(WireFormat format, uint32_t id, uint64_t num_clients,
                                     uint64_t num_users) {
  return format == WireFormat::kProtobuf ? pb::EncodePresenceStatsReply(id, num_clients, num_users)
                                         : EncodePresenceStatsReply(id, num_clients, num_users);
}

std::string EncodeErrorReply(WireFormat format, uint32_t id, int code, std::string_view message,
                             bool temporary) {
  return format == WireFormat::kProtobuf ? pb::EncodeErrorReply(id, code, message, temporary)
                                         : EncodeErrorReply(id, code, message, temporary);
}

std::string EncodePublicationPush(WireFormat format, std::string_view channel,
                                  std::string_view data, uint64_t offset,
                                  const ClientInfoView* info) {
  return format == WireFormat::kProtobuf ? pb::EncodePublicationPush(channel, data, offset, info)
                                         : EncodePublicationPush(channel, data, offset, info);
}

std::string EncodeJoinPush(WireFormat format, std::string_view channel,
                           const ClientInfoView& info) {
  return format == WireFormat::kProtobuf ? pb::EncodeJoinPush(channel, info)
                                         : EncodeJoinPush(channel, info);
}

std::string EncodeLeavePush(WireFormat format, std::string_view channel,
                            const ClientInfoView& info) {
  return format == WireFormat::kProtobuf ? pb::EncodeLeavePush(channel, info)
                                         : EncodeLeavePush(channel, info);
}

std::string EncodeSubscribePush(WireFormat format, std::string_view channel,
                                const SubscribeResult& result) {
  return format == WireFormat::kProtobuf ? pb::EncodeSubscribePush(channel, result)
                                         : EncodeSubscribePush(channel, result);
}

std::string EncodeUnsubscribePush(WireFormat format, std::string_view channel, int code,
                                  std::string_view reason) {
  return format == WireFormat::kProtobuf ? pb::EncodeUnsubscribePush(channel, code, reason)
                                         : EncodeUnsubscribePush(channel, code, reason);
}

const Frame& PingFrame(WireFormat format) {
  static const Frame* const kFrames[kWireFormats] = {
      new Frame(std::make_shared<const std::string>("{}")),
      new Frame(std::make_shared<const std::string>(pb::EncodePing())),
  };
  return *kFrames[IndexOf(format)];
}

}  // namespace wirehub::edge

#include "edge/protobuf_encoders.h"

#include <algorithm>
#include <cassert>
#include <cstddef>

#include "common/logging.h"
#include "wirehub/client/v1/client.pb.h"

namespace wirehub::edge::pb {
namespace {

// Field numbers come from the generated classes of client.proto, so the
// encoders and the schema cannot drift apart; the schema itself is checked
// against the SDK's own definitions (tests/integration/protobuf_wire.test.mjs).
namespace proto = ::wirehub::client::v1;

// A map<K, V> field travels as repeated entries {key = 1, value = 2}.
constexpr int kMapKey = 1;
constexpr int kMapValue = 2;

constexpr uint32_t kWireVarint = 0;
constexpr uint32_t kWireLengthDelimited = 2;

constexpr uint64_t Tag(int field, uint32_t wire_type) {
  return (static_cast<uint64_t>(field) << 3) | wire_type;
}

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

void AppendVarint(uint64_t value, std::string* out) {
  char buffer[10];
  size_t length = 0;
  while (value >= 0x80) {
    buffer[length++] = static_cast<char>(value | 0x80);
    value >>= 7;
  }
  buffer[length++] = static_cast<char>(value);
  out->append(buffer, length);
}

uint32_t SaturateUint32(uint64_t value) {
  return static_cast<uint32_t>(std::min<uint64_t>(value, UINT32_MAX));
}

// A message's fields are written once, as a callable taking a sink
// (`[&](auto& sink) { sink.Bytes(...); sink.Message(...); }`), and run with
// two sinks: SizeSink measures a message, WriteSink appends it. A nested
// message is measured before it is written, for its length prefix.
template <typename Fields>
size_t SizeOf(const Fields& fields);

// SizeSink adds up the encoded size of the fields it is given.
class SizeSink {
 public:
  void Uint(int field, uint64_t value) {
    if (value != 0) size_ += VarintSize(Tag(field, kWireVarint)) + VarintSize(value);
  }
  void Bool(int field, bool value) {
    if (value) size_ += VarintSize(Tag(field, kWireVarint)) + 1;
  }
  void Bytes(int field, std::string_view value) {
    if (!value.empty()) size_ += LengthDelimitedSize(field, value.size());
  }
  // Always counted, even when empty: message fields are present or not.
  template <typename Fields>
  void Message(int field, const Fields& fields) {
    size_ += LengthDelimitedSize(field, SizeOf(fields));
  }

  size_t size() const { return size_; }

 private:
  static size_t LengthDelimitedSize(int field, size_t length) {
    return VarintSize(Tag(field, kWireLengthDelimited)) + VarintSize(length) + length;
  }

  size_t size_ = 0;
};

template <typename Fields>
size_t SizeOf(const Fields& fields) {
  SizeSink sink;
  fields(sink);
  return sink.size();
}

// WriteSink appends the fields it is given, as SizeSink counts them.
class WriteSink {
 public:
  explicit WriteSink(std::string* out) : out_(out) {}

  void Uint(int field, uint64_t value) {
    if (value == 0) return;
    AppendVarint(Tag(field, kWireVarint), out_);
    AppendVarint(value, out_);
  }
  void Bool(int field, bool value) {
    if (!value) return;
    AppendVarint(Tag(field, kWireVarint), out_);
    out_->push_back(1);
  }
  void Bytes(int field, std::string_view value) {
    if (value.empty()) return;
    AppendVarint(Tag(field, kWireLengthDelimited), out_);
    AppendVarint(value.size(), out_);
    out_->append(value);
  }
  template <typename Fields>
  void Message(int field, const Fields& fields) {
    AppendVarint(Tag(field, kWireLengthDelimited), out_);
    AppendVarint(SizeOf(fields), out_);
    fields(*this);
  }

 private:
  std::string* out_;
};

// One Reply with its varint length prefix, in a string of exactly that size.
template <typename Fields>
std::string Frame(const Fields& reply) {
  const size_t size = SizeOf(reply);
  std::string out;
  out.reserve(VarintSize(size) + size);
  AppendVarint(size, &out);
  WriteSink sink(&out);
  reply(sink);
  assert(out.size() == VarintSize(size) + size);
  return out;
}

// Reply{id, <field>: result}.
template <typename Fields>
std::string ResultFrame(uint32_t id, int field, const Fields& result) {
  return Frame([&](auto& reply) {
    reply.Uint(proto::Reply::kIdFieldNumber, id);
    reply.Message(field, result);
  });
}

// Reply{push: {channel, <field>: payload}}.
template <typename Fields>
std::string PushFrame(std::string_view channel, int field, const Fields& payload) {
  return Frame([&](auto& reply) {
    reply.Message(proto::Reply::kPushFieldNumber, [&](auto& push) {
      push.Bytes(proto::Push::kChannelFieldNumber, channel);
      push.Message(field, payload);
    });
  });
}

// The fields of each message. Each returns a callable borrowing its
// argument, to be used within the same full expression.

auto ClientInfoFields(const ClientInfoView& info) {
  return [&info](auto& sink) {
    sink.Bytes(proto::ClientInfo::kUserFieldNumber, info.user);
    sink.Bytes(proto::ClientInfo::kClientFieldNumber, info.client);
    sink.Bytes(proto::ClientInfo::kConnInfoFieldNumber, info.conn_info_json);
    sink.Bytes(proto::ClientInfo::kChanInfoFieldNumber, info.chan_info_json);
  };
}

auto PublicationFields(const RecoveredPublication& publication) {
  return [&publication](auto& sink) {
    sink.Bytes(proto::Publication::kDataFieldNumber, publication.data_json);
    if (publication.info != nullptr) {
      sink.Message(proto::Publication::kInfoFieldNumber, ClientInfoFields(*publication.info));
    }
    sink.Uint(proto::Publication::kOffsetFieldNumber, publication.offset);
  };
}

// A SubscribeResult (the reply and connect's subs), not the push's
// Subscribe, which numbers its fields differently.
auto SubscribeResultFields(const SubscribeResult& result) {
  return [&result](auto& sink) {
    sink.Bool(proto::SubscribeResult::kExpiresFieldNumber, result.expires);
    if (result.expires) sink.Uint(proto::SubscribeResult::kTtlFieldNumber, result.ttl);
    sink.Bool(proto::SubscribeResult::kRecoverableFieldNumber, result.recoverable);
    // A channel with a stream always has an epoch; one without has no
    // position to report.
    const bool positioned = !result.epoch.empty();
    sink.Bytes(proto::SubscribeResult::kEpochFieldNumber, result.epoch);
    for (const RecoveredPublication& publication : result.publications) {
      sink.Message(proto::SubscribeResult::kPublicationsFieldNumber,
                   PublicationFields(publication));
    }
    sink.Bool(proto::SubscribeResult::kRecoveredFieldNumber, result.recovered);
    if (positioned) sink.Uint(proto::SubscribeResult::kOffsetFieldNumber, result.offset);
    sink.Bool(proto::SubscribeResult::kPositionedFieldNumber, positioned);
    sink.Bool(proto::SubscribeResult::kWasRecoveringFieldNumber, result.was_recovering);
  };
}

// A map entry {key, value}; the value is written even when empty, since the
// SDK's decoder stores an absent value as null.
template <typename Fields>
auto MapEntryFields(std::string_view key, const Fields& value) {
  return [key, &value](auto& sink) {
    sink.Bytes(kMapKey, key);
    sink.Message(kMapValue, value);
  };
}

std::string ClientInfoPush(std::string_view channel, int field, const ClientInfoView& info) {
  // Join and Leave both hold just `info = 1`.
  static_assert(static_cast<int>(proto::Join::kInfoFieldNumber) ==
                static_cast<int>(proto::Leave::kInfoFieldNumber));
  return PushFrame(channel, field, [&info](auto& payload) {
    payload.Message(proto::Join::kInfoFieldNumber, ClientInfoFields(info));
  });
}

// The Reply fields of results that are empty messages or may be sent empty.
struct ResultField {
  std::string_view method;
  int field;
};
constexpr ResultField kResultFields[] = {
    {"connect", proto::Reply::kConnectFieldNumber},
    {"subscribe", proto::Reply::kSubscribeFieldNumber},
    {"unsubscribe", proto::Reply::kUnsubscribeFieldNumber},
    {"publish", proto::Reply::kPublishFieldNumber},
    {"presence", proto::Reply::kPresenceFieldNumber},
    {"presence_stats", proto::Reply::kPresenceStatsFieldNumber},
    {"history", proto::Reply::kHistoryFieldNumber},
    {"ping", proto::Reply::kPingFieldNumber},
    {"rpc", proto::Reply::kRpcFieldNumber},
    {"refresh", proto::Reply::kRefreshFieldNumber},
    {"sub_refresh", proto::Reply::kSubRefreshFieldNumber},
};

constexpr auto kNoFields = [](auto&) {};

}  // namespace

std::string EncodePing() { return std::string(1, '\0'); }

std::string EncodeConnectReply(uint32_t id, std::string_view client_id, std::string_view version,
                               int ping_seconds, bool pong) {
  ConnectResult result;
  result.client = client_id;
  result.version = version;
  result.ping_seconds = ping_seconds;
  result.pong = pong;
  // Qualified: ADL would also find the JSON encoder of the same name.
  return pb::EncodeConnectReply(id, result);
}

std::string EncodeConnectReply(uint32_t id, const ConnectResult& result) {
  return ResultFrame(id, proto::Reply::kConnectFieldNumber, [&](auto& connect) {
    connect.Bytes(proto::ConnectResult::kClientFieldNumber, result.client);
    connect.Bytes(proto::ConnectResult::kVersionFieldNumber, result.version);
    connect.Bool(proto::ConnectResult::kExpiresFieldNumber, result.expires);
    if (result.expires) connect.Uint(proto::ConnectResult::kTtlFieldNumber, result.ttl);
    for (const auto& [channel, sub] : result.subs) {
      connect.Message(proto::ConnectResult::kSubsFieldNumber,
                      MapEntryFields(channel, SubscribeResultFields(sub)));
    }
    connect.Uint(proto::ConnectResult::kPingFieldNumber,
                 static_cast<uint32_t>(std::max(result.ping_seconds, 0)));
    connect.Bool(proto::ConnectResult::kPongFieldNumber, result.pong);
  });
}

std::string EncodeEmptyResult(uint32_t id, std::string_view method) {
  for (const ResultField& result : kResultFields) {
    if (result.method == method) return ResultFrame(id, result.field, kNoFields);
  }
  WH_CHECK(false) << "no result field named " << method;
  return {};
}

std::string EncodeSubscribeReply(uint32_t id, const SubscribeResult& result) {
  return ResultFrame(id, proto::Reply::kSubscribeFieldNumber, SubscribeResultFields(result));
}

std::string EncodeHistoryReply(uint32_t id, const std::vector<RecoveredPublication>& publications,
                               std::string_view epoch, uint64_t offset) {
  return ResultFrame(id, proto::Reply::kHistoryFieldNumber, [&](auto& history) {
    for (const RecoveredPublication& publication : publications) {
      history.Message(proto::HistoryResult::kPublicationsFieldNumber,
                      PublicationFields(publication));
    }
    history.Bytes(proto::HistoryResult::kEpochFieldNumber, epoch);
    history.Uint(proto::HistoryResult::kOffsetFieldNumber, offset);
  });
}

std::string EncodeRefreshReply(uint32_t id, std::string_view client, std::string_view version,
                               bool expires, uint32_t ttl) {
  return ResultFrame(id, proto::Reply::kRefreshFieldNumber, [&](auto& refresh) {
    refresh.Bytes(proto::RefreshResult::kClientFieldNumber, client);
    refresh.Bytes(proto::RefreshResult::kVersionFieldNumber, version);
    refresh.Bool(proto::RefreshResult::kExpiresFieldNumber, expires);
    if (expires) refresh.Uint(proto::RefreshResult::kTtlFieldNumber, ttl);
  });
}

std::string EncodeSubRefreshReply(uint32_t id, bool expires, uint32_t ttl) {
  return ResultFrame(id, proto::Reply::kSubRefreshFieldNumber, [&](auto& sub_refresh) {
    sub_refresh.Bool(proto::SubRefreshResult::kExpiresFieldNumber, expires);
    if (expires) sub_refresh.Uint(proto::SubRefreshResult::kTtlFieldNumber, ttl);
  });
}

std::string EncodePresenceReply(uint32_t id, const std::vector<ClientInfoView>& clients) {
  return ResultFrame(id, proto::Reply::kPresenceFieldNumber, [&](auto& presence) {
    for (const ClientInfoView& info : clients) {
      presence.Message(proto::PresenceResult::kPresenceFieldNumber,
                       MapEntryFields(info.client, ClientInfoFields(info)));
    }
  });
}

std::string EncodePresenceStatsReply(uint32_t id, uint64_t num_clients, uint64_t num_users) {
  return ResultFrame(id, proto::Reply::kPresenceStatsFieldNumber, [&](auto& stats) {
    stats.Uint(proto::PresenceStatsResult::kNumClientsFieldNumber, SaturateUint32(num_clients));
    stats.Uint(proto::PresenceStatsResult::kNumUsersFieldNumber, SaturateUint32(num_users));
  });
}

std::string EncodeErrorReply(uint32_t id, int code, std::string_view message, bool temporary) {
  return ResultFrame(id, proto::Reply::kErrorFieldNumber, [&](auto& error) {
    error.Uint(proto::Error::kCodeFieldNumber, static_cast<uint32_t>(code));
    error.Bytes(proto::Error::kMessageFieldNumber, message);
    error.Bool(proto::Error::kTemporaryFieldNumber, temporary);
  });
}

std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset) {
  return pb::EncodePublicationPush(channel, data_json, offset, nullptr);
}

std::string EncodePublicationPush(std::string_view channel, std::string_view data_json,
                                  uint64_t offset, const ClientInfoView* info) {
  const RecoveredPublication publication{offset, data_json, info};
  return PushFrame(channel, proto::Push::kPubFieldNumber, PublicationFields(publication));
}

std::string EncodeJoinPush(std::string_view channel, const ClientInfoView& info) {
  return ClientInfoPush(channel, proto::Push::kJoinFieldNumber, info);
}

std::string EncodeLeavePush(std::string_view channel, const ClientInfoView& info) {
  return ClientInfoPush(channel, proto::Push::kLeaveFieldNumber, info);
}

std::string EncodeSubscribePush(std::string_view channel, const SubscribeResult& result) {
  return PushFrame(channel, proto::Push::kSubscribeFieldNumber, [&](auto& subscribe) {
    const bool positioned = !result.epoch.empty();
    subscribe.Bool(proto::Subscribe::kRecoverableFieldNumber, result.recoverable);
    subscribe.Bytes(proto::Subscribe::kEpochFieldNumber, result.epoch);
    if (positioned) subscribe.Uint(proto::Subscribe::kOffsetFieldNumber, result.offset);
    subscribe.Bool(proto::Subscribe::kPositionedFieldNumber, positioned);
  });
}

std::string EncodeUnsubscribePush(std::string_view channel, int code, std::string_view reason) {
  return PushFrame(channel, proto::Push::kUnsubscribeFieldNumber, [&](auto& unsubscribe) {
    unsubscribe.Uint(proto::Unsubscribe::kCodeFieldNumber, static_cast<uint32_t>(code));
    unsubscribe.Bytes(proto::Unsubscribe::kReasonFieldNumber, reason);
  });
}

std::string EncodeDisconnectPush(int code, std::string_view reason) {
  return PushFrame({}, proto::Push::kDisconnectFieldNumber, [&](auto& disconnect) {
    disconnect.Uint(proto::Disconnect::kCodeFieldNumber, static_cast<uint32_t>(code));
    disconnect.Bytes(proto::Disconnect::kReasonFieldNumber, reason);
  });
}

std::string EncodeMessagePush(std::string_view data) {
  return PushFrame({}, proto::Push::kMessageFieldNumber,
                   [&](auto& message) { message.Bytes(proto::Message::kDataFieldNumber, data); });
}

}  // namespace wirehub::edge::pb

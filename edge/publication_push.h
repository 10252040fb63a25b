// PublicationPush: one publication of a channel, encoded for subscribers
// at most once per wire format.
#ifndef WIREHUB_EDGE_PUBLICATION_PUSH_H_
#define WIREHUB_EDGE_PUBLICATION_PUSH_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "edge/client_protocol.h"
#include "edge/outbound_queue.h"
#include "edge/wire_format.h"

namespace wirehub::edge {

// PublicationPush: one publication's push, encoded lazily at most once
// per wire format and shared by subscribers, stream trackers and
// positioning sessions.
// Thread: edge loop only (the cache is filled without locking).
//
// It keeps what the push says (channel name, data, offset, publisher);
// For(format) encodes on first use and every later subscriber of that
// format shares the same bytes. A JSON-only edge therefore encodes each
// publication once, as before the protobuf form existed, and protobuf
// subscribers add one encoding per publication, not one per delivery.
class PublicationPush {
 public:
  PublicationPush(std::string_view channel, std::string_view data, uint64_t offset,
                  const ClientInfoView* info);
  PublicationPush(const PublicationPush&) = delete;
  PublicationPush& operator=(const PublicationPush&) = delete;

  uint64_t offset() const { return offset_; }
  std::string_view data() const { return data_; }

  // The push in `format`, encoded on the first call for that format.
  const Frame& For(WireFormat format) const;

  // What holding it counts against held-bytes bounds: what it says
  // (channel, data, publisher) plus kEnvelopeBytes, about what either
  // encoding adds around it, so a bound meant for encoded output holds for
  // many small publications too. Fixed for the object's life: an encoding
  // made later must not change the accounting of what is already held.
  static constexpr size_t kEnvelopeBytes = 64;
  size_t bytes() const { return channel_.size() + data_.size() + info_bytes_ + kEnvelopeBytes; }

 private:
  struct Info {
    std::string user;
    std::string client;
    std::string conn_info;
    std::string chan_info;
  };

  const std::string channel_;
  const std::string data_;
  const uint64_t offset_;
  const std::optional<Info> info_;
  const size_t info_bytes_;
  mutable std::array<Frame, kWireFormats> frames_;
};

using SharedPublication = std::shared_ptr<const PublicationPush>;

// LazyFrames: a push other than a publication (join, leave, a reset's
// unsubscribe) encoded at most once per format while it is sent to one
// channel's subscribers; `encode(format)` makes it.
// Thread: the caller's; not shared.
template <typename Encode>
class LazyFrames {
 public:
  explicit LazyFrames(Encode encode) : encode_(std::move(encode)) {}

  const Frame& For(WireFormat format) {
    Frame& frame = frames_[IndexOf(format)];
    if (frame == nullptr) frame = std::make_shared<const std::string>(encode_(format));
    return frame;
  }

 private:
  Encode encode_;
  std::array<Frame, kWireFormats> frames_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_PUBLICATION_PUSH_H_

#include "edge/publication_push.h"

#include <utility>

#include "edge/client_codec.h"

namespace wirehub::edge {
namespace {

size_t InfoBytes(const ClientInfoView* info) {
  if (info == nullptr) return 0;
  return info->user.size() + info->client.size() + info->conn_info_json.size() +
         info->chan_info_json.size();
}

}  // namespace

PublicationPush::PublicationPush(std::string_view channel, std::string_view data, uint64_t offset,
                                 const ClientInfoView* info)
    : channel_(channel),
      data_(data),
      offset_(offset),
      info_(info == nullptr
                ? std::nullopt
                : std::optional<Info>(Info{std::string(info->user), std::string(info->client),
                                           std::string(info->conn_info_json),
                                           std::string(info->chan_info_json)})),
      info_bytes_(InfoBytes(info)) {}

const Frame& PublicationPush::For(WireFormat format) const {
  Frame& frame = frames_[IndexOf(format)];
  if (frame == nullptr) {
    ClientInfoView view;
    if (info_.has_value()) {
      view = ClientInfoView{info_->user, info_->client, info_->conn_info, info_->chan_info};
    }
    frame = std::make_shared<const std::string>(EncodePublicationPush(
        format, channel_, data_, offset_, info_.has_value() ? &view : nullptr));
  }
  return frame;
}

}  // namespace wirehub::edge

// InterestPager: the control link's messages within a size bound: interest
// changes split into InterestChange pages, stats trimmed to fit.
#ifndef WIREHUB_EDGE_INTEREST_PAGER_H_
#define WIREHUB_EDGE_INTEREST_PAGER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::edge {

// Thread-compatible.
//
// InterestPager splits interest transitions into EdgeMessages carrying
// InterestChange pages of at most `max_bytes` serialized bytes. Items keep
// the order they are added in, across pages and within each, so control
// (which applies a page's lists in field order) applies them in that order
// as long as they are added in field order. A page takes at least one item,
// however large.
//
// Example:
//   InterestPager pager(256 << 10);
//   for (std::string& channel : added) {
//     pager.AddString(std::move(channel), InterestPager::ChannelsAdded);
//   }
//   std::vector<edge::v1::EdgeMessage> pages = std::move(pager).Finish(seq);
class InterestPager {
 public:
  explicit InterestPager(size_t max_bytes);

  // `field` picks the repeated string field of a page.
  template <typename FieldFn>
  void AddString(std::string value, FieldFn field) {
    *field(PageFor(ElementBytes(value.size())))->Add() = std::move(value);
  }

  // `field` picks the repeated PresenceEntry field of a page.
  template <typename FieldFn>
  void AddEntry(edge::v1::PresenceEntry entry, FieldFn field) {
    *field(PageFor(ElementBytes(entry.ByteSizeLong())))->Add() = std::move(entry);
  }

  // The pages, the last one carrying `seq`; empty when nothing was added.
  std::vector<edge::v1::EdgeMessage> Finish(uint64_t seq) &&;

  // The repeated fields of a page, for AddString() and AddEntry().
  static google::protobuf::RepeatedPtrField<std::string>* ChannelsAdded(
      edge::v1::InterestChange* page);
  static google::protobuf::RepeatedPtrField<std::string>* ChannelsRemoved(
      edge::v1::InterestChange* page);
  static google::protobuf::RepeatedPtrField<std::string>* UsersAdded(
      edge::v1::InterestChange* page);
  static google::protobuf::RepeatedPtrField<std::string>* UsersRemoved(
      edge::v1::InterestChange* page);
  static google::protobuf::RepeatedPtrField<edge::v1::PresenceEntry>* PresenceAdded(
      edge::v1::InterestChange* page);
  static google::protobuf::RepeatedPtrField<edge::v1::PresenceEntry>* PresenceRemoved(
      edge::v1::InterestChange* page);

  // Serialized size of one length-delimited element of a repeated field
  // numbered below 16 (one tag byte), whose body is `body_bytes` long.
  static size_t ElementBytes(size_t body_bytes);

 private:
  edge::v1::InterestChange* PageFor(size_t item_bytes);

  const size_t budget_;
  size_t page_bytes_ = 0;
  std::vector<edge::v1::EdgeMessage> pages_;
};

// FitStats()
//
// Keeps `stats` within `max_bytes`: when the per-channel counts do not fit,
// only the channels with the most subscribers that do are kept.
void FitStats(size_t max_bytes, edge::v1::EdgeStats* stats);

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_INTEREST_PAGER_H_

#include "edge/interest_pager.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>

namespace wirehub::edge {
namespace {

// What a page spends besides its items: the EdgeMessage's tag and length
// (up to 6 bytes) and InterestChange.seq (up to 11).
constexpr size_t kEnvelopeBytes = 32;

}  // namespace

InterestPager::InterestPager(size_t max_bytes)
    : budget_(max_bytes > kEnvelopeBytes ? max_bytes - kEnvelopeBytes : 1) {}

std::vector<edge::v1::EdgeMessage> InterestPager::Finish(uint64_t seq) && {
  if (!pages_.empty()) pages_.back().mutable_interest()->set_seq(seq);
  return std::move(pages_);
}

size_t InterestPager::ElementBytes(size_t body_bytes) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(body_bytes) + body_bytes;
}

edge::v1::InterestChange* InterestPager::PageFor(size_t item_bytes) {
  if (pages_.empty() || (page_bytes_ > 0 && page_bytes_ + item_bytes > budget_)) {
    pages_.emplace_back();
    page_bytes_ = 0;
  }
  page_bytes_ += item_bytes;
  return pages_.back().mutable_interest();
}

google::protobuf::RepeatedPtrField<std::string>* InterestPager::ChannelsAdded(
    edge::v1::InterestChange* page) {
  return page->mutable_channels_added();
}
google::protobuf::RepeatedPtrField<std::string>* InterestPager::ChannelsRemoved(
    edge::v1::InterestChange* page) {
  return page->mutable_channels_removed();
}
google::protobuf::RepeatedPtrField<std::string>* InterestPager::UsersAdded(
    edge::v1::InterestChange* page) {
  return page->mutable_users_added();
}
google::protobuf::RepeatedPtrField<std::string>* InterestPager::UsersRemoved(
    edge::v1::InterestChange* page) {
  return page->mutable_users_removed();
}
google::protobuf::RepeatedPtrField<edge::v1::PresenceEntry>* InterestPager::PresenceAdded(
    edge::v1::InterestChange* page) {
  return page->mutable_presence_added();
}
google::protobuf::RepeatedPtrField<edge::v1::PresenceEntry>* InterestPager::PresenceRemoved(
    edge::v1::InterestChange* page) {
  return page->mutable_presence_removed();
}

void FitStats(size_t max_bytes, edge::v1::EdgeStats* stats) {
  const size_t budget = max_bytes > kEnvelopeBytes ? max_bytes - kEnvelopeBytes : 0;
  size_t total = stats->ByteSizeLong();
  if (total <= budget) return;
  google::protobuf::RepeatedPtrField<edge::v1::ChannelCount>* channels = stats->mutable_channels();
  for (const edge::v1::ChannelCount& count : *channels) {
    total -= InterestPager::ElementBytes(count.ByteSizeLong());
  }
  std::sort(channels->pointer_begin(), channels->pointer_end(),
            [](const edge::v1::ChannelCount* a, const edge::v1::ChannelCount* b) {
              return a->subscribers() != b->subscribers() ? a->subscribers() > b->subscribers()
                                                          : a->channel() < b->channel();
            });
  int keep = 0;
  for (; keep < channels->size(); ++keep) {
    size_t bytes = InterestPager::ElementBytes(channels->Get(keep).ByteSizeLong());
    if (total + bytes > budget) break;
    total += bytes;
  }
  channels->DeleteSubrange(keep, channels->size() - keep);
}

}  // namespace wirehub::edge

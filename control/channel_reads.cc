#include "control/channel_reads.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "control/request_validation.h"

namespace wirehub::control {

void ReadHistory(EdgeHub* hub, const v1::HistoryRequest& request, size_t max_reply_bytes,
                 v1::HistoryResponse* response, std::function<void(absl::Status)> done) {
  absl::StatusOr<std::string> key = ChannelKeyFor(request.tenant(), request.channel());
  if (!key.ok()) {
    done(key.status());
    return;
  }
  std::optional<StreamPosition> since;
  if (request.has_since()) {
    since = StreamPosition{request.since().offset(), request.since().epoch()};
  }
  size_t budget = max_reply_bytes;
  if (request.max_bytes() > 0) budget = std::min<size_t>(budget, request.max_bytes());
  hub->History(*key, since, request.limit(), request.reverse(),
               [budget, response, done = std::move(done)](absl::StatusOr<HistoryRead> read) {
                 if (!read.ok()) {
                   done(read.status());
                   return;
                 }
                 size_t bytes = 0;
                 for (const auto& publication : read->publications) {
                   // Data, client info and framing; the first always goes,
                   // so a page makes progress whatever the sizes.
                   bytes += publication->data().size() + publication->info().ByteSizeLong() + 16;
                   if (bytes > budget && response->publications_size() > 0) {
                     response->set_more(true);
                     break;
                   }
                   v1::HistoryPublication* out = response->add_publications();
                   out->set_offset(publication->offset());
                   out->set_data(publication->data());
                   if (publication->has_info()) *out->mutable_info() = publication->info();
                 }
                 response->set_epoch(read->epoch);
                 response->set_offset(read->top_offset);
                 done(absl::OkStatus());
               });
}

void ReadPresence(EdgeHub* hub, const v1::PresenceRequest& request, v1::PresenceResponse* response,
                  std::function<void(absl::Status)> done) {
  absl::StatusOr<std::string> key = ChannelKeyFor(request.tenant(), request.channel());
  if (!key.ok()) {
    done(key.status());
    return;
  }
  absl::StatusOr<size_t> page_size =
      PageSizeFor(request.page_size(), kPresenceDefaultPage, kPresenceMaxPage);
  if (!page_size.ok()) {
    done(page_size.status());
    return;
  }
  hub->Presence(*key, *page_size, request.page_token(),
                [response, done = std::move(done)](absl::StatusOr<PresenceTable::Page> page) {
                  if (!page.ok()) {
                    done(page.status());
                    return;
                  }
                  response->mutable_clients()->Reserve(static_cast<int>(page->clients.size()));
                  for (v1::ClientInfo& client : page->clients) {
                    *response->add_clients() = std::move(client);
                  }
                  response->set_next_page_token(std::move(page->next_page_token));
                  done(absl::OkStatus());
                });
}

void ReadPresenceStats(EdgeHub* hub, const v1::PresenceStatsRequest& request,
                       v1::PresenceStatsResponse* response,
                       std::function<void(absl::Status)> done) {
  absl::StatusOr<std::string> key = ChannelKeyFor(request.tenant(), request.channel());
  if (!key.ok()) {
    done(key.status());
    return;
  }
  hub->PresenceStats(
      *key, [response, done = std::move(done)](absl::StatusOr<PresenceTable::Counts> counts) {
        if (!counts.ok()) {
          done(counts.status());
          return;
        }
        response->set_num_clients(counts->clients);
        response->set_num_users(counts->users);
        done(absl::OkStatus());
      });
}

}  // namespace wirehub::control

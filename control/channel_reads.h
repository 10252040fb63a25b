// History, Presence and PresenceStats answered from the hub. The public
// ControlService (backends) and the EdgeLinkService (edges, for their
// clients) both answer these reads, with identical semantics, from here.
#ifndef WIREHUB_CONTROL_CHANNEL_READS_H_
#define WIREHUB_CONTROL_CHANNEL_READS_H_

#include <cstddef>
#include <functional>

#include "absl/status/status.h"
#include "control/edge_hub.h"
#include "wirehub/control/v1/control.pb.h"

namespace wirehub::control {

// Most presence clients in one page: 0 asks for the default, larger sizes
// are capped.
inline constexpr int kPresenceDefaultPage = 1000;
inline constexpr int kPresenceMaxPage = 10000;

// Most publication bytes one History reply carries by default: below the
// server's send limit, the rest is left for the next page.
inline constexpr size_t kMaxHistoryReplyBytes = 2 << 20;

// ReadHistory()
//
// Fills `response` with the publications `request` selects in the channel
// of its tenant and name. A reply carries publications of at most
// `max_reply_bytes` (or request.max_bytes() when smaller and non-zero) and
// at least one; when it was cut short, `more` is set. InvalidArgument for a
// bad tenant or channel, FailedPrecondition when the namespace keeps no
// history or `since` names another epoch. `done` runs once with the
// outcome (at once with the memory engine, later on the engine's thread with
// Redis); `request` and `response` must live until then.
void ReadHistory(EdgeHub* hub, const v1::HistoryRequest& request, size_t max_reply_bytes,
                 v1::HistoryResponse* response, std::function<void(absl::Status)> done);

// ReadPresence()
//
// Fills `response` with one page of the channel's presence, ordered by
// client id. InvalidArgument for a bad tenant, channel or page size,
// FailedPrecondition when the namespace has no presence.
void ReadPresence(EdgeHub* hub, const v1::PresenceRequest& request, v1::PresenceResponse* response,
                  std::function<void(absl::Status)> done);

// ReadPresenceStats() counts the channel's clients and distinct users;
// errors as ReadPresence(). Both call `done` as ReadHistory does.
void ReadPresenceStats(EdgeHub* hub, const v1::PresenceStatsRequest& request,
                       v1::PresenceStatsResponse* response, std::function<void(absl::Status)> done);

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_CHANNEL_READS_H_

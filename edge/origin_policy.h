// OriginPolicy: which browser origins may open a WebSocket to the edge.
#ifndef WIREHUB_EDGE_ORIGIN_POLICY_H_
#define WIREHUB_EDGE_ORIGIN_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wirehub::edge {

// OriginPolicy checks a handshake's Origin header against the config's
// `allowed_origins` (RFC 6454 origins: "scheme://host[:port]").
//
// Entries are exact origins ("https://app.example.com"), a leading wildcard
// label ("https://*.example.com", which matches one more label as a
// certificate's wildcard does: a.example.com, not example.com nor
// a.b.example.com) or "*" (any origin). Comparison ignores case. With
// no entries only same-origin handshakes pass: the Origin's host[:port]
// equal to the Host header. A handshake without Origin (native apps and
// backends send none) always passes: Origin protects browsers' users from
// other sites' pages, and no browser omits it on a WebSocket handshake.
//
// Thread-safe: immutable after construction.
class OriginPolicy {
 public:
  // Same-origin only.
  OriginPolicy() = default;

  // Validates the entries: each "*", or a scheme of letters, digits, '+',
  // '-' or '.', "://", a host (optionally starting with "*." ) and an
  // optional ":port", with no path. InvalidArgument names the bad entry.
  static absl::StatusOr<OriginPolicy> Create(const std::vector<std::string>& allowed);

  // `origin` is the Origin header ("" when absent), `host` the Host header.
  bool Allows(std::string_view origin, std::string_view host) const;

 private:
  struct Entry {
    std::string scheme;  // Lower case.
    // Lower case host[:port]; for a wildcard entry the part after "*".
    std::string authority;
    bool wildcard = false;
  };

  bool any_ = false;
  std::vector<Entry> entries_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_ORIGIN_POLICY_H_

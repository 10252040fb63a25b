// ClientAddress: who a connection comes from, through trusted proxies, and
// the key per-address limits count it under.
#ifndef WIREHUB_EDGE_CLIENT_ADDRESS_H_
#define WIREHUB_EDGE_CLIENT_ADDRESS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace wirehub::edge {

// An IPv4 or IPv6 address; IPv4 is held as IPv4-mapped IPv6
// (::ffff:a.b.c.d) so both compare in one form.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};

  // Parses a numeric address ("192.0.2.1", "2001:db8::1", "[2001:db8::1]",
  // "::ffff:192.0.2.1"); nullopt for anything else.
  static std::optional<IpAddress> Parse(std::string_view text);
  bool is_v4() const;
  // The key per-address limits use: the IPv4 address, or the /64 of an
  // IPv6 address (one subscriber line usually holds a whole /64).
  std::string LimitKey() const;
  std::string ToString() const;
  friend bool operator==(const IpAddress& a, const IpAddress& b) { return a.bytes == b.bytes; }
};

// TrustedProxies resolves the client's address of a handshake: the socket's
// peer, or, when that peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy (addresses further left
// were written by the client and prove nothing).
// Thread-safe: immutable after construction.
class TrustedProxies {
 public:
  TrustedProxies() = default;

  // Entries are addresses or CIDR ranges ("10.0.0.0/8", "fd00::/8");
  // InvalidArgument names a bad one.
  static absl::StatusOr<TrustedProxies> Create(const std::vector<std::string>& entries);

  bool Contains(const IpAddress& address) const;
  // `peer` is the socket's peer; `forwarded_for` the X-Forwarded-For header
  // ("" when absent). Malformed header entries end the walk: the last good
  // address (or the peer) is the client.
  IpAddress Resolve(const IpAddress& peer, std::string_view forwarded_for) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    IpAddress base;
    int prefix_bits = 128;
  };
  std::vector<Range> ranges_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CLIENT_ADDRESS_H_

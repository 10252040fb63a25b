// ControlTargets: the control replicas an edge may attach to (its --control
// list) and the order the link tries them in.
#ifndef WIREHUB_EDGE_CONTROL_TARGETS_H_
#define WIREHUB_EDGE_CONTROL_TARGETS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace wirehub::edge {

// One HOST:PORT of the list.
struct ControlTarget {
  // A DNS name, or an IP address (without brackets).
  std::string host;
  int port = 0;
  // `host` is an IP address: nothing to resolve.
  bool literal = false;

  // HOST:PORT as configured, an IPv6 host in brackets: the :authority of
  // the calls and the name control's TLS certificate is checked against.
  std::string Authority() const;
};

// ParseControlTargets()
//
// Parses a comma-separated list of HOST:PORT (an IPv6 address in brackets,
// spaces around items ignored). InvalidArgument, naming the item, for an
// empty item or list, a missing or bad port (1-65535), an empty or bad
// host, or an IPv6 address without brackets.
//
// Example: ParseControlTargets("10.0.0.7:7101,control-1.internal:7101,[fd00::7]:7101")
absl::StatusOr<std::vector<ControlTarget>> ParseControlTargets(absl::string_view list);

// ResolveHost()
//
// The IP addresses of `host` (getaddrinfo, IPv4 and IPv6, in the
// resolver's order); Unavailable naming the host when the lookup fails or
// finds none. Blocks for as long as the system resolver does.
absl::StatusOr<std::vector<std::string>> ResolveHost(const std::string& host);

// One address to dial: a target, or one address of a target's name.
struct ControlEndpoint {
  // The gRPC target: "ipv4:10.0.0.7:7101", "ipv6:[fd00::7]:7101", or
  // "dns:///NAME:PORT" when the name could not be resolved here (gRPC then
  // tries, and reports why it fails).
  std::string grpc_target;
  // The target's HOST:PORT (ControlTarget::Authority()).
  std::string authority;
  // The IP:PORT dialed; empty for a "dns:///" target.
  std::string address;

  // "10.0.0.7:7101", or "control.internal:7101 (10.0.0.9:7101)" for an
  // address of a name.
  std::string Describe() const;
  // Two endpoints with the same key are the same channel.
  std::string Key() const { return grpc_target + " " + authority; }
};

// ControlTargets
//
// Thread-compatible (the control link's reader thread).
//
// Hands out the endpoint for each attach attempt, and how long to wait
// before it. Attempts go in rounds: a round resolves every name afresh
// (the addresses of one name shuffled, so edges behind one DNS name spread
// over the replicas; a name that fails to resolve keeps the addresses it
// last had) and tries each endpoint once, in list order, starting after the
// endpoint that attached last, so a replica that just went away is tried
// last. Within a round the pause between attempts is short
// (`initial_backoff`, jittered): when the attached replica dies, the next
// one is tried at once. Only a round in which every endpoint failed makes
// the pause before the next round grow: `initial_backoff` doubling up to
// `max_backoff`, each pause drawn from [b/2, b]. An attach resets it. With
// one target this is the jittered exponential backoff of a single address.
//
// Example:
//   ControlTargets targets(*ParseControlTargets(flag), absl::Milliseconds(100), absl::Seconds(5));
//   while (...) {
//     Wait(targets.NextDelay());
//     ControlEndpoint endpoint = targets.Next();
//     if (Attach(endpoint)) targets.Attached();
//   }
class ControlTargets {
 public:
  using Resolver = std::function<absl::StatusOr<std::vector<std::string>>(const std::string& host)>;

  // `targets` must not be empty.
  ControlTargets(std::vector<ControlTarget> targets, absl::Duration initial_backoff,
                 absl::Duration max_backoff, Resolver resolver = ResolveHost,
                 uint64_t seed = std::random_device{}());

  // NextDelay() is the pause before the attempt Next() hands out: none
  // before the first one.
  absl::Duration NextDelay();
  // Next() is the endpoint to try now; it starts a round (resolving the
  // names) when the previous one is over.
  ControlEndpoint Next();
  // Attached() records that the endpoint Next() returned last attached: the
  // round is over and the backoff back to `initial_backoff`.
  void Attached();

  // The endpoints of the current round, in the order they are tried.
  const std::vector<ControlEndpoint>& round() const { return round_; }

 private:
  void StartRound();
  absl::Duration Jittered(absl::Duration delay);

  const std::vector<ControlTarget> targets_;
  const absl::Duration initial_backoff_;
  const absl::Duration max_backoff_;
  const Resolver resolver_;
  std::mt19937_64 rng_;
  absl::Duration backoff_;
  // Per target, the addresses its name last resolved to.
  std::vector<std::vector<std::string>> resolved_;
  std::vector<ControlEndpoint> round_;
  // Index in round_ of the next attempt; round_.size() once it is over.
  size_t next_ = 0;
  bool attached_in_round_ = false;
  // Key() of the endpoint that attached last; empty before the first.
  std::string last_attached_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CONTROL_TARGETS_H_

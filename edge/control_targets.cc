#include "edge/control_targets.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"

namespace wirehub::edge {
namespace {

bool IsIpv4(const std::string& host) {
  in_addr ignored;
  return inet_pton(AF_INET, host.c_str(), &ignored) == 1;
}

bool IsIpv6(const std::string& host) {
  in6_addr ignored;
  return inet_pton(AF_INET6, host.c_str(), &ignored) == 1;
}

// A DNS name's characters (underscores appear in service records).
bool IsHostName(absl::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

// IP:PORT, an IPv6 address in brackets.
std::string HostPort(const std::string& ip, int port) {
  return IsIpv6(ip) ? absl::StrCat("[", ip, "]:", port) : absl::StrCat(ip, ":", port);
}

ControlEndpoint EndpointFor(const ControlTarget& target, const std::string& ip) {
  ControlEndpoint endpoint;
  endpoint.address = HostPort(ip, target.port);
  endpoint.grpc_target = absl::StrCat(IsIpv6(ip) ? "ipv6:" : "ipv4:", endpoint.address);
  endpoint.authority = target.Authority();
  return endpoint;
}

absl::Status BadItem(size_t index, absl::string_view item, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("item ", index + 1, " '", item, "' ", why));
}

}  // namespace

std::string ControlTarget::Authority() const { return HostPort(host, port); }

std::string ControlEndpoint::Describe() const {
  if (address.empty() || address == authority) return authority;
  return absl::StrCat(authority, " (", address, ")");
}

absl::StatusOr<std::vector<ControlTarget>> ParseControlTargets(absl::string_view list) {
  std::vector<ControlTarget> targets;
  const std::vector<absl::string_view> items = absl::StrSplit(list, ',');
  for (size_t i = 0; i < items.size(); ++i) {
    const absl::string_view item = absl::StripAsciiWhitespace(items[i]);
    if (item.empty()) {
      return absl::InvalidArgumentError(
          items.size() == 1 ? std::string("the list is empty (expected HOST:PORT[,HOST:PORT...])")
                            : absl::StrCat("item ", i + 1, " of '", list,
                                           "' is empty (expected HOST:PORT[,HOST:PORT...])"));
    }
    ControlTarget target;
    absl::string_view port;
    if (item.front() == '[') {
      const size_t close = item.find(']');
      if (close == absl::string_view::npos || item.substr(close + 1, 1) != ":") {
        return BadItem(i, item, "has no port after its bracketed address");
      }
      target.host = std::string(item.substr(1, close - 1));
      port = item.substr(close + 2);
      if (!IsIpv6(target.host)) return BadItem(i, item, "holds no IPv6 address in its brackets");
      target.literal = true;
    } else {
      const size_t colon = item.rfind(':');
      if (colon == absl::string_view::npos) return BadItem(i, item, "has no port (HOST:PORT)");
      target.host = std::string(item.substr(0, colon));
      port = item.substr(colon + 1);
      if (IsIpv6(target.host)) {
        return BadItem(
            i, item,
            absl::StrCat("needs brackets around its IPv6 address: [", target.host, "]:", port));
      }
      if (!IsHostName(target.host)) return BadItem(i, item, "has no valid host name or address");
      target.literal = IsIpv4(target.host);
    }
    if (!absl::SimpleAtoi(port, &target.port) || target.port < 1 || target.port > 65535) {
      return BadItem(i, item, absl::StrCat("has a bad port '", port, "' (1-65535)"));
    }
    targets.push_back(std::move(target));
  }
  return targets;
}

absl::StatusOr<std::vector<std::string>> ResolveHost(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int error = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (error != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(error)));
  }
  std::vector<std::string> addresses;
  for (const addrinfo* info = found; info != nullptr; info = info->ai_next) {
    char text[INET6_ADDRSTRLEN] = {0};
    const void* address = nullptr;
    if (info->ai_family == AF_INET) {
      address = &reinterpret_cast<const sockaddr_in*>(info->ai_addr)->sin_addr;
    } else if (info->ai_family == AF_INET6) {
      address = &reinterpret_cast<const sockaddr_in6*>(info->ai_addr)->sin6_addr;
    }
    if (address == nullptr || inet_ntop(info->ai_family, address, text, sizeof(text)) == nullptr) {
      continue;
    }
    if (std::find(addresses.begin(), addresses.end(), text) == addresses.end()) {
      addresses.emplace_back(text);
    }
  }
  freeaddrinfo(found);
  if (addresses.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": no address"));
  }
  return addresses;
}

ControlTargets::ControlTargets(std::vector<ControlTarget> targets, absl::Duration initial_backoff,
                               absl::Duration max_backoff, Resolver resolver, uint64_t seed)
    : targets_(std::move(targets)),
      initial_backoff_(initial_backoff),
      max_backoff_(max_backoff),
      resolver_(std::move(resolver)),
      rng_(seed),
      backoff_(initial_backoff),
      resolved_(targets_.size()) {
  WH_CHECK(!targets_.empty()) << "no control target";
}

absl::Duration ControlTargets::Jittered(absl::Duration delay) {
  // Drawn from [delay/2, delay]: edges that lost the same replica spread
  // their attempts on the next.
  return delay * std::uniform_real_distribution<double>(0.5, 1.0)(rng_);
}

absl::Duration ControlTargets::NextDelay() {
  if (round_.empty()) return absl::ZeroDuration();
  if (next_ < round_.size() || attached_in_round_) return Jittered(initial_backoff_);
  return Jittered(backoff_);
}

ControlEndpoint ControlTargets::Next() {
  if (next_ >= round_.size()) {
    // Every endpoint of the round failed: the next round waits longer.
    if (!round_.empty() && !attached_in_round_) backoff_ = std::min(backoff_ * 2, max_backoff_);
    StartRound();
  }
  return round_[next_++];
}

void ControlTargets::Attached() {
  WH_CHECK(next_ > 0 && next_ <= round_.size()) << "Attached() before Next()";
  last_attached_ = round_[next_ - 1].Key();
  next_ = round_.size();
  attached_in_round_ = true;
  backoff_ = initial_backoff_;
}

void ControlTargets::StartRound() {
  round_.clear();
  next_ = 0;
  attached_in_round_ = false;
  absl::flat_hash_set<std::string> keys;
  auto add = [&](ControlEndpoint endpoint) {
    if (keys.insert(endpoint.Key()).second) round_.push_back(std::move(endpoint));
  };
  for (size_t i = 0; i < targets_.size(); ++i) {
    const ControlTarget& target = targets_[i];
    if (target.literal) {
      add(EndpointFor(target, target.host));
      continue;
    }
    absl::StatusOr<std::vector<std::string>> addresses = resolver_(target.host);
    if (addresses.ok() && !addresses->empty()) resolved_[i] = *std::move(addresses);
    if (resolved_[i].empty()) {
      ControlEndpoint endpoint;
      endpoint.authority = target.Authority();
      endpoint.grpc_target = absl::StrCat("dns:///", endpoint.authority);
      add(std::move(endpoint));
      continue;
    }
    std::vector<std::string> shuffled = resolved_[i];
    std::shuffle(shuffled.begin(), shuffled.end(), rng_);
    for (const std::string& ip : shuffled) add(EndpointFor(target, ip));
  }
  // The replica attached last goes to the end of the round.
  auto last = std::find_if(round_.begin(), round_.end(), [this](const ControlEndpoint& endpoint) {
    return endpoint.Key() == last_attached_;
  });
  if (last != round_.end()) std::rotate(round_.begin(), last + 1, round_.end());
}

}  // namespace wirehub::edge

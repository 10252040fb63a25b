#include "edge/origin_policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/absl_compat.h"

namespace wirehub::edge {
namespace {

bool ValidScheme(absl::string_view scheme) {
  if (scheme.empty() || !absl::ascii_isalpha(scheme[0])) return false;
  for (char c : scheme) {
    if (!absl::ascii_isalnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// host[:port] without userinfo, path, query or fragment.
bool ValidAuthority(absl::string_view authority) {
  if (authority.empty()) return false;
  for (char c : authority) {
    if (c == '/' || c == '?' || c == '#' || c == '@' || c == '*' || c == ' ' ||
        static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return false;
    }
  }
  return authority.front() != ':' && authority.back() != ':';
}

// Splits "scheme://authority"; false when it is not of that form.
bool SplitOrigin(absl::string_view origin, absl::string_view* scheme,
                 absl::string_view* authority) {
  size_t separator = origin.find("://");
  if (separator == absl::string_view::npos) return false;
  *scheme = origin.substr(0, separator);
  *authority = origin.substr(separator + 3);
  return true;
}

}  // namespace

absl::StatusOr<OriginPolicy> OriginPolicy::Create(const std::vector<std::string>& allowed) {
  OriginPolicy policy;
  for (const std::string& text : allowed) {
    if (text == "*") {
      policy.any_ = true;
      continue;
    }
    std::string lower = absl::AsciiStrToLower(text);
    absl::string_view scheme;
    absl::string_view authority;
    Entry entry;
    if (SplitOrigin(lower, &scheme, &authority) && absl::ConsumePrefix(&authority, "*.")) {
      entry.wildcard = true;
    }
    if (scheme.empty() || !ValidScheme(scheme) || !ValidAuthority(authority)) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowed_origins: \"", text,
                       "\" is not an origin (\"https://host[:port]\", \"https://*.domain\" or "
                       "\"*\")"));
    }
    entry.scheme = std::string(scheme);
    entry.authority = entry.wildcard ? absl::StrCat(".", authority) : std::string(authority);
    policy.entries_.push_back(std::move(entry));
  }
  return policy;
}

bool OriginPolicy::Allows(std::string_view origin_std, std::string_view host_std) const {
  const absl::string_view origin = AsAbsl(origin_std);
  const absl::string_view host = AsAbsl(host_std);
  if (origin.empty()) return true;
  if (any_) return true;
  std::string lower = absl::AsciiStrToLower(origin);
  absl::string_view scheme;
  absl::string_view authority;
  // "null" (sandboxed frames, file: pages) and anything malformed match
  // nothing but "*".
  if (!SplitOrigin(lower, &scheme, &authority) || !ValidAuthority(authority)) return false;
  if (entries_.empty()) return !host.empty() && absl::EqualsIgnoreCase(authority, host);
  for (const Entry& entry : entries_) {
    if (entry.scheme != scheme) continue;
    if (entry.wildcard) {
      // Exactly one label before the suffix, as in a certificate's
      // wildcard: "*.example.com" is neither "example.com" nor
      // "a.b.example.com".
      if (authority.size() > entry.authority.size() && absl::EndsWith(authority, entry.authority) &&
          authority.substr(0, authority.size() - entry.authority.size()).find('.') ==
              absl::string_view::npos) {
        return true;
      }
    } else if (authority == entry.authority) {
      return true;
    }
  }
  return false;
}

}  // namespace wirehub::edge

#include "edge/channel_authorizer.h"

#include <utility>

#include "absl/strings/str_split.h"
#include "common/absl_compat.h"

namespace wirehub::edge {
namespace {

absl::Status Denied() { return absl::PermissionDeniedError("permission denied"); }

}  // namespace

ChannelAuthorizer::ChannelAuthorizer(const JwtVerifier* verifier, std::string audience,
                                     std::string issuer)
    : verifier_(verifier), audience_(std::move(audience)), issuer_(std::move(issuer)) {}

absl::StatusOr<SubscribeGrant> ChannelAuthorizer::VerifySubscriptionToken(
    const ConnectionIdentity& who, std::string_view channel, std::string_view token,
    absl::Time now) const {
  VerifyOptions options;
  options.kind = TokenKind::kSubscription;
  options.audience = audience_;
  options.issuer = issuer_;
  absl::StatusOr<TokenClaims> claims = verifier_->Verify(token, now, options);
  if (!claims.ok()) {
    if (absl::IsDeadlineExceeded(claims.status())) return claims.status();
    return Denied();
  }
  // A token for another channel, user or tenant is worth nothing here.
  if (claims->channel != channel || claims->subject != who.user || claims->tenant != who.tenant) {
    return Denied();
  }
  SubscribeGrant grant;
  grant.chan_info = std::move(claims->info_json);
  grant.expires_at = claims->expires_at;
  return grant;
}

absl::StatusOr<SubscribeGrant> ChannelAuthorizer::AuthorizeSubscribe(
    const ConnectionIdentity& who, std::string_view channel,
    const config::v1::NamespaceOptions& options, std::string_view token, absl::Time now) const {
  if (!token.empty()) return VerifySubscriptionToken(who, channel, token, now);
  if (who.token_channels != nullptr && who.token_channels->contains(AsAbsl(channel))) {
    return SubscribeGrant{};
  }
  if (options.allow_user_limited_channels() && channel.find('#') != std::string_view::npos) {
    // A '#' channel is for the users it names, whatever else the namespace
    // allows: being public must not open someone's personal channel.
    if (UserLimitedAllows(channel, who.user)) return SubscribeGrant{};
    return Denied();
  }
  if (options.allow_subscribe_for_client() &&
      (!who.user.empty() || options.allow_subscribe_for_anonymous())) {
    return SubscribeGrant{};
  }
  return Denied();
}

bool ChannelAuthorizer::UserLimitedAllows(std::string_view channel, std::string_view user) {
  if (user.empty()) return false;
  const size_t hash = channel.find('#');
  if (hash == std::string_view::npos) return false;
  for (absl::string_view listed : absl::StrSplit(AsAbsl(channel.substr(hash + 1)), ',')) {
    if (AsStd(listed) == user) return true;
  }
  return false;
}

}  // namespace wirehub::edge

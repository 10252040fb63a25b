// ChannelAuthorizer: who may subscribe, publish, read history and presence.
#ifndef WIREHUB_EDGE_CHANNEL_AUTHORIZER_H_
#define WIREHUB_EDGE_CHANNEL_AUTHORIZER_H_

#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub::edge {

// The identity of a connection, as its connection token established it.
struct ConnectionIdentity {
  std::string_view user;    // Empty: anonymous.
  std::string_view tenant;  // Empty: the default space.
  // The connection token's `channels` claim.
  const absl::flat_hash_set<std::string>* token_channels = nullptr;
};

// What a granted subscribe carries into the subscription.
struct SubscribeGrant {
  // The subscription token's `info`, raw JSON ("" without one).
  std::string chan_info;
  // The subscription token's expiry; InfiniteFuture without one.
  absl::Time expires_at = absl::InfiniteFuture();
};

// ChannelAuthorizer applies the namespace permission options (config.proto)
// to one request. It never says whether a channel exists or has
// subscribers: every refusal is the same PermissionDenied.
// Thread-compatible: const methods may run concurrently; assigning a new
// authorizer (a config reload) needs the owner's exclusion.
class ChannelAuthorizer {
 public:
  // `verifier` is borrowed and must outlive the authorizer. `audience` and
  // `issuer` apply to subscription tokens as to connection tokens.
  ChannelAuthorizer(const JwtVerifier* verifier, std::string audience, std::string issuer);

  // AuthorizeSubscribe()
  //
  // A client subscribe to `channel` (its name, not its key) is allowed by,
  // in this order: a valid subscription token for this channel, user and
  // tenant (`token` non-empty: then nothing else counts); the channel in the
  // connection token's `channels`; a user-limited channel naming the user
  // (allow_user_limited_channels); a public namespace
  // (allow_subscribe_for_client, and allow_subscribe_for_anonymous for an
  // anonymous connection).
  //
  // Errors: PermissionDenied (the protocol's 103) for every refusal,
  // DeadlineExceeded (109) for a well-formed subscription token that has
  // expired, so the client fetches a fresh one.
  absl::StatusOr<SubscribeGrant> AuthorizeSubscribe(const ConnectionIdentity& who,
                                                    std::string_view channel,
                                                    const config::v1::NamespaceOptions& options,
                                                    std::string_view token, absl::Time now) const;

  // VerifySubscriptionToken() checks a token for sub_refresh: valid, and for
  // this channel, user and tenant. Errors as AuthorizeSubscribe().
  absl::StatusOr<SubscribeGrant> VerifySubscriptionToken(const ConnectionIdentity& who,
                                                         std::string_view channel,
                                                         std::string_view token,
                                                         absl::Time now) const;

  static bool CanPublish(const config::v1::NamespaceOptions& options, bool subscribed) {
    return options.allow_publish_for_client() ||
           (subscribed && options.allow_publish_for_subscriber());
  }
  static bool CanReadHistory(const config::v1::NamespaceOptions& options, bool subscribed) {
    return subscribed && options.allow_history_for_subscriber() && options.history_size() > 0;
  }
  static bool CanReadPresence(const config::v1::NamespaceOptions& options, bool subscribed) {
    return subscribed && options.allow_presence_for_subscriber() && options.presence();
  }

  // UserLimitedAllows() is true when `channel` has a '#' and `user` is one
  // of the comma-separated ids after the first '#' ("dialog#42,43"). An
  // anonymous user is never listed.
  static bool UserLimitedAllows(std::string_view channel, std::string_view user);

 private:
  // Not const: an owner reloading its config assigns a new authorizer.
  const JwtVerifier* verifier_;
  std::string audience_;
  std::string issuer_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_CHANNEL_AUTHORIZER_H_

// Which options apply to a channel, by its namespace.
#ifndef WIREHUB_COMMON_NAMESPACE_REGISTRY_H_
#define WIREHUB_COMMON_NAMESPACE_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "wirehub/config/v1/config.pb.h"

namespace wirehub {

// NamespaceRegistry
//
// Thread-safe: immutable after construction.
//
// Maps a channel to the NamespaceOptions that govern it. The namespace of a
// channel is the part before its first ':' ("a:b:c" is in namespace "a");
// a channel without ':' uses the `defaults` options. Named namespaces do not
// inherit from `defaults`: an option a namespace leaves out is zero/false.
//
// Two kinds of registry:
//   - Built from a configuration file (NamespaceRegistry(config)): only the
//     namespaces listed in the file exist; a channel in any other namespace
//     is refused (Find() returns nullptr).
//   - Without a configuration file (NamespaceRegistry() or Default()): no
//     history, no recovery, and EVERY namespace is accepted with those same
//     default options, so "news:1" works out of the box. This is the only
//     registry for which accept_unknown_namespaces() is true.
// In both, a channel with an empty namespace (":x") is refused.
//
// Find() does not check the rest of the channel name: callers validate it
// with ValidateChannelName() first.
//
// Each namespace's options are held by a shared_ptr: copies of a registry
// share them, and FindShared() lets a user (a live subscription) keep the
// options it was made under after the registry it came from is replaced by
// a reloaded one.
class NamespaceRegistry {
 public:
  // The registry used when no configuration file is given; see above.
  NamespaceRegistry();

  // Builds the registry of `config`, which should have passed
  // ValidateConfig() (LoadConfigFile() and ParseConfig() run it). Should a
  // name appear twice anyway, its first entry wins.
  explicit NamespaceRegistry(const wirehub::config::v1::Config& config);

  // Same as NamespaceRegistry(): every namespace accepted, default options.
  static NamespaceRegistry Default();

  // Copyable and movable (a moved-from registry may only be assigned to or
  // destroyed). Pointers returned by Find() live as long as the registry
  // they came from or a copy of it; FindShared() keeps the options alive
  // on its own.
  NamespaceRegistry(const NamespaceRegistry&) = default;
  NamespaceRegistry& operator=(const NamespaceRegistry&) = default;
  NamespaceRegistry(NamespaceRegistry&&) = default;
  NamespaceRegistry& operator=(NamespaceRegistry&&) = default;

  // The options of `channel`'s namespace, or nullptr when the channel's
  // namespace is empty (":x") or not configured. Never null for a channel
  // without ':' (other than ""), nor, when accept_unknown_namespaces(), for
  // one with a non-empty namespace.
  const wirehub::config::v1::NamespaceOptions* Find(std::string_view channel) const;

  // Find() as a shared owner: the options stay valid however long it is
  // held, whatever happens to this registry.
  std::shared_ptr<const wirehub::config::v1::NamespaceOptions> FindShared(
      std::string_view channel) const;

  // The namespace part of `channel`: "" for a channel without ':' (it uses
  // `defaults`), "a" for "a:b:c". InvalidArgument for an empty namespace
  // (":x") or an empty channel. The view points into `channel`.
  static absl::StatusOr<std::string_view> NamespaceOf(std::string_view channel);

  // Options of channels without ':' (and, when accept_unknown_namespaces(),
  // of every namespace).
  const wirehub::config::v1::NamespaceOptions& defaults() const { return *defaults_; }

  // True only for the registry used without a configuration file.
  bool accept_unknown_namespaces() const { return accept_unknown_namespaces_; }

  // Number of configured named namespaces (0 without a configuration file).
  size_t namespace_count() const { return namespaces_.size(); }

 private:
  using Options = std::shared_ptr<const wirehub::config::v1::NamespaceOptions>;
  // Never null (but in a moved-from registry).
  Options defaults_;
  std::map<std::string, Options, std::less<>> namespaces_;
  bool accept_unknown_namespaces_ = false;
};

// HistoryTtl()
//
// `options.history_ttl` as an absl::Duration (zero when unset).
absl::Duration HistoryTtl(const wirehub::config::v1::NamespaceOptions& options);

}  // namespace wirehub

#endif  // WIREHUB_COMMON_NAMESPACE_REGISTRY_H_

// wirehub-edge: parses flags, starts the control link and the event loop.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/admin_http_server.h"
#include "common/config_loader.h"
#include "common/directory_watcher.h"
#include "common/log_flags.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/namespace_registry.h"
#include "common/signals.h"
#include "common/status_macros.h"
#include "common/token_keys.h"
#include "common/token_secret.h"
#include "common/version.h"
#include "edge/control_link.h"
#include "edge/control_targets.h"
#include "edge/edge_metrics.h"
#include "edge/edge_server.h"
#include "edge/lws_transport.h"
#include "edge/origin_policy.h"
#include "edge/readiness.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8000",
          "HOST:PORT for WebSocket clients; port 0 picks a free port");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate chain for wss on --listen (with --tls_key_file); re-read on SIGHUP and "
          "when its directory changes; default: plain ws (TLS terminated in front)");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:8001",
          "HOST:PORT of the operators' HTTP listener: /metrics (Prometheus), /healthz and "
          "/readyz; port 0 picks a free port. It keeps answering while the edge drains");
ABSL_FLAG(absl::Duration, drain_delay, absl::Seconds(5),
          "On SIGTERM: how long the edge stays unready but still accepting (for load balancers "
          "to take it out) before it stops accepting and closes its clients");
ABSL_FLAG(absl::Duration, drain_duration, absl::Seconds(20),
          "On SIGTERM, after --drain_delay: the clients are closed with 3001 (reconnect) in "
          "waves spread over this time, about N / drain_duration per second; 0: all at once. "
          "A second SIGTERM closes them all at once");
ABSL_FLAG(absl::Duration, link_ready_timeout, absl::Seconds(10),
          "/readyz answers 503 once the control link has been detached for longer than this "
          "(and, at start, until it first attaches once this time has passed)");
ABSL_FLAG(std::string, control, "127.0.0.1:7101",
          "HOST:PORT of wirehub-control's edge link listener (its --edge_listen), not its "
          "public API. With several control replicas: a comma-separated list, and/or a DNS name "
          "resolving to several addresses (a Kubernetes headless Service), re-resolved when the "
          "link fails over. The edge attaches to one replica, in list order; when that one goes "
          "away (or cannot be reached within 1s) it attaches to the next within about a second");
ABSL_FLAG(std::string, control_tls_ca_file, "",
          "PEM CA bundle that verifies control's certificate; setting it turns TLS on for the "
          "link to --control, which is plaintext without it");
ABSL_FLAG(std::string, control_tls_cert_file, "",
          "PEM certificate chain the edge presents to control (mutual TLS); needs "
          "--control_tls_ca_file and --control_tls_key_file; re-read when it changes");
ABSL_FLAG(std::string, control_tls_key_file, "",
          "PEM private key of --control_tls_cert_file; re-read when it changes");
ABSL_FLAG(std::string, control_tls_server_name, "",
          "Name control's certificate must hold, when it is not the host of --control (an IP, "
          "a Kubernetes service name); empty: that host");
ABSL_FLAG(std::string, config, "",
          "Configuration file (JSON, see docs/configuration.md); default: every namespace "
          "accepted, no history. SIGHUP re-reads it (namespaces, limits, allowed_origins, "
          "trusted_proxies, token keys) and applies it to new handshakes and commands; an "
          "invalid file is refused and the config in force stays");
ABSL_FLAG(bool, check_config, false,
          "Check the flags and the --config file (with the token keys, the JWKS file, the HS256 "
          "secret and its ${ENV} reference) as start-up does, print \"configuration OK (...)\" "
          "and exit 0, or log the error start-up would and exit 2. Listens on nothing, does not "
          "connect to control and does not read the TLS certificate, key or CA files, only "
          "checks that their flags go together");
ABSL_FLAG(std::string, token_hmac_secret_file, "",
          "File holding the HS256 connection-token secret; default: the environment variable "
          "WIREHUB_TOKEN_HMAC_SECRET, then the config's token_hmac_secret. Optional when the "
          "config's token_keys or token_jwks_file give keys (re-read on SIGHUP)");
ABSL_FLAG(std::string, edge_id, "", "Edge id reported to control; default HOSTNAME-RANDOM");
ABSL_FLAG(absl::Duration, ping_interval, absl::Seconds(25), "Server ping period");
ABSL_FLAG(absl::Duration, pong_timeout, absl::Seconds(8),
          "Close a client with 3012 when it does not answer a ping within this time");
ABSL_FLAG(absl::Duration, connect_timeout, absl::Seconds(10),
          "Close a client with 3502 when it sends no successful connect within this time");
ABSL_FLAG(absl::Duration, stats_interval, absl::Seconds(5), "Stats report period to control");
ABSL_FLAG(int, max_message_bytes, 64 * 1024,
          "Largest client message accepted; larger ones close the connection with 1009");
ABSL_FLAG(int, client_queue_max_bytes, 1 << 20,
          "Bytes queued for one client before it is closed with 3008 (slow)");
ABSL_FLAG(int, client_send_buffer_bytes, 0,
          "SO_SNDBUF of client sockets (0: kernel autotuning); bounds the kernel memory a "
          "stalled client holds before client_queue_max_bytes applies");
ABSL_FLAG(int, max_subscriptions_per_client, 128, "Subscriptions one connection may hold");
ABSL_FLAG(absl::Duration, expired_close_delay, absl::Seconds(25),
          "How long after its token expired a connection that did not refresh is closed with "
          "3005 (a subscription: unsubscribed with 2501)");
ABSL_FLAG(double, client_publish_rate, 20,
          "Client publications per second one connection may sustain (publish command)");
ABSL_FLAG(double, client_publish_burst, 40, "Client publications one connection may burst");
ABSL_FLAG(int, max_calls_per_connection, 16,
          "Calls to control (subscribe positioning, history, presence, publish) one connection "
          "may have in flight; past it a command answers 111 (too many requests)");
ABSL_FLAG(int, max_calls_per_edge, 8192,
          "Calls to control all connections together may have in flight; past it a command "
          "answers 111");

namespace {

// Flags are listed by the file defining them; --help and --helpshort list
// this file's, --helpfull every linked library's too.
constexpr absl::string_view kFlagsFile = "edge/main.cc";

void SetUsage() {
  absl::SetProgramUsageMessage(
      "holds WebSocket clients (Centrifugo client protocol v2) and fans out publications\n"
      "from wirehub-control.\n"
      "Usage: wirehub-edge [--listen=HOST:PORT] [--control=HOST:PORT[,HOST:PORT...]]\n"
      "                    [--config=FILE] [--token_hmac_secret_file=FILE] [--check_config]\n"
      "                    [flags]");
  absl::FlagsUsageConfig usage;
  usage.normalize_filename = [](absl::string_view file) {
    return std::string(file == __FILE__ ? kFlagsFile : absl::StripPrefix(file, "/"));
  };
  usage.contains_help_flags = [](absl::string_view file) { return file == kFlagsFile; };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] { return absl::StrCat("wirehub-edge ", wirehub::kVersion, "\n"); };
  absl::SetFlagsUsageConfig(usage);
}

// The config's allowed_origins, trusted_proxies and limits.
absl::Status ApplyAdmissionConfig(const wirehub::config::v1::Config& config,
                                  wirehub::edge::LwsTransportOptions* transport,
                                  wirehub::edge::EdgeServerOptions* server) {
  absl::StatusOr<wirehub::edge::OriginPolicy> origins = wirehub::edge::OriginPolicy::Create(
      {config.allowed_origins().begin(), config.allowed_origins().end()});
  if (!origins.ok()) return origins.status();
  transport->origins = *std::move(origins);
  absl::StatusOr<wirehub::edge::TrustedProxies> proxies = wirehub::edge::TrustedProxies::Create(
      {config.trusted_proxies().begin(), config.trusted_proxies().end()});
  if (!proxies.ok()) return proxies.status();
  transport->trusted_proxies = *std::move(proxies);

  const wirehub::config::v1::Limits& limits = config.limits();
  if (limits.connection_rate_per_ip() < 0 || limits.command_rate() < 0) {
    return absl::InvalidArgumentError("limits: rates must not be negative");
  }
  transport->max_connections = limits.max_connections();
  transport->per_address.max_per_address = limits.max_connections_per_ip();
  transport->per_address.rate_per_address = limits.connection_rate_per_ip();
  // Default burst: two seconds' worth, at least one.
  transport->per_address.burst_per_address =
      limits.connection_burst_per_ip() > 0
          ? limits.connection_burst_per_ip()
          : std::max<uint32_t>(1, static_cast<uint32_t>(2 * limits.connection_rate_per_ip()));
  if (limits.has_handshake_timeout()) {
    absl::Duration timeout = wirehub::DurationFromProto(limits.handshake_timeout());
    if (timeout <= absl::ZeroDuration() || timeout > absl::Minutes(10)) {
      return absl::InvalidArgumentError("limits: handshake_timeout must be > 0 and at most 600s");
    }
    transport->handshake_timeout = timeout;
  }
  server->max_connections_per_user = limits.max_connections_per_user();
  if (limits.command_rate() > 0) server->command_rate = limits.command_rate();
  if (limits.command_burst() > 0) {
    server->command_burst = limits.command_burst();
  } else if (limits.command_rate() > 0) {
    server->command_burst = std::max(1.0, 2 * limits.command_rate());
  }
  return absl::OkStatus();
}

// Everything the edge takes from a config file: namespaces, token checks
// and admission. What a SIGHUP reload may change is taken from the same
// function, applied to default options.
absl::Status ApplyConfig(const wirehub::config::v1::Config& config,
                         wirehub::edge::LwsTransportOptions* transport,
                         wirehub::edge::EdgeServerOptions* server) {
  server->namespaces = wirehub::NamespaceRegistry(config);
  server->recovery_max_publications = config.recovery_max_publications();
  server->token_audience = config.token_audience();
  server->token_issuer = config.token_issuer();
  return ApplyAdmissionConfig(config, transport, server);
}

bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return absl::SimpleAtoi(address.substr(colon + 1), port) && *port >= 0 && *port <= 65535;
}

// The --control_tls_* flags.
wirehub::edge::ControlLinkTlsOptions ControlTlsFromFlags() {
  wirehub::edge::ControlLinkTlsOptions tls;
  tls.ca_file = absl::GetFlag(FLAGS_control_tls_ca_file);
  tls.cert_file = absl::GetFlag(FLAGS_control_tls_cert_file);
  tls.key_file = absl::GetFlag(FLAGS_control_tls_key_file);
  tls.server_name = absl::GetFlag(FLAGS_control_tls_server_name);
  return tls;
}

// The token verification keys: the HS256 secret (may be "") with the
// config's token_keys and token_jwks_file, whose files are read now. An empty
// set is an error: the edge would refuse every client.
absl::StatusOr<std::shared_ptr<const wirehub::TokenKeySet>> LoadTokenKeys(
    const std::optional<wirehub::config::v1::Config>& config, const std::string& hmac_secret) {
  absl::StatusOr<std::shared_ptr<const wirehub::TokenKeySet>> keys = wirehub::TokenKeySet::Load(
      config.has_value() ? *config : wirehub::config::v1::Config(), hmac_secret);
  if (keys.ok() && (*keys)->empty()) {
    return absl::FailedPreconditionError(
        "no token key: set --token_hmac_secret_file, WIREHUB_TOKEN_HMAC_SECRET or the config's "
        "token_hmac_secret, token_keys or token_jwks_file");
  }
  return keys;
}

// The HS256 secret: --token_hmac_secret_file, then the environment variable
// WIREHUB_TOKEN_HMAC_SECRET, then the config's token_hmac_secret; "" when
// none is configured (token_keys or token_jwks_file may still give keys). A
// configured secret that cannot be read is an error.
absl::StatusOr<std::string> ResolveHmacSecret(
    const std::optional<wirehub::config::v1::Config>& config) {
  absl::StatusOr<std::string> secret =
      wirehub::LoadTokenSecret(absl::GetFlag(FLAGS_token_hmac_secret_file));
  if (!secret.ok() && absl::GetFlag(FLAGS_token_hmac_secret_file).empty() && config.has_value() &&
      !config->token_hmac_secret().empty()) {
    secret = wirehub::ResolveSecretReference(config->token_hmac_secret());
  }
  const bool secret_configured = !absl::GetFlag(FLAGS_token_hmac_secret_file).empty() ||
                                 (config.has_value() && !config->token_hmac_secret().empty());
  if (!secret.ok() && (secret_configured || !absl::IsFailedPrecondition(secret.status()))) {
    return secret.status();
  }
  return secret.ok() ? *std::move(secret) : std::string();
}

std::string DefaultEdgeId() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  std::mt19937 rng(std::random_device{}());
  return absl::StrFormat("%s-%06x", host, rng() & 0xffffff);
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds abseil without NDEBUG, which leaves Mutex deadlock
  // detection on: a lock-graph update on every acquisition (1.5 % of
  // control's CPU on the publish path). Unit tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  SetUsage();
  absl::ParseCommandLine(argc, argv);
  if (absl::Status logs = wirehub::ApplyLogFlags(); !logs.ok()) {
    WH_LOG(ERROR) << logs.message();
    return 2;
  }

  // Signals are taken by a dedicated thread; block them everywhere else
  // (gRPC's and libuv's threads inherit this mask).
  sigset_t signals = wirehub::BlockServerSignals();

  // Every metric of the process registers here; /metrics renders it.
  wirehub::metrics::Registry registry;
  // wirehub_edge_*: counted by the loop and the control link.
  wirehub::edge::EdgeMetrics edge_metrics(&registry);
  wirehub::metrics::AddProcessMetrics(&registry, "wirehub-edge", wirehub::kVersion);
  wirehub::metrics::CounterFamily& config_reloads = registry.AddCounter(
      "wirehub_config_reloads_total", "Config reloads (SIGHUP) by result: ok or error", {"result"});
  wirehub::metrics::Counter& config_reloads_ok = config_reloads.Get({"ok"});
  wirehub::metrics::Counter& config_reloads_error = config_reloads.Get({"error"});
  wirehub::metrics::Gauge& config_version_gauge =
      registry
          .AddGauge("wirehub_config_version",
                    "Version of the config in force: 1 at start, +1 per applied reload")
          .Get({});
  config_version_gauge.Set(1);

  wirehub::edge::EdgeServerOptions options;
  wirehub::edge::LwsTransportOptions transport_options;
  if (!SplitHostPort(absl::GetFlag(FLAGS_listen), &transport_options.listen_host,
                     &transport_options.listen_port)) {
    WH_LOG(ERROR) << "--listen must be HOST:PORT, got '" << absl::GetFlag(FLAGS_listen) << "'";
    return 2;
  }
  const bool check_only = absl::GetFlag(FLAGS_check_config);
  absl::StatusOr<std::vector<wirehub::edge::ControlTarget>> control_targets =
      wirehub::edge::ParseControlTargets(absl::GetFlag(FLAGS_control));
  if (!control_targets.ok()) {
    WH_LOG(ERROR) << "--control: " << control_targets.status().message();
    return 2;
  }
  // --check_config reads none of the TLS files: they are paths inside a pod.
  const wirehub::edge::ControlLinkTlsOptions control_tls = ControlTlsFromFlags();
  if (absl::Status tls = check_only ? wirehub::edge::CheckControlLinkTlsFlags(control_tls)
                                    : wirehub::edge::CheckControlLinkTls(control_tls);
      !tls.ok()) {
    WH_LOG(ERROR) << "control link TLS: " << tls.message();
    return 2;
  }
  std::optional<wirehub::config::v1::Config> config;
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<wirehub::config::v1::Config> loaded =
        wirehub::LoadConfigFile(absl::GetFlag(FLAGS_config));
    if (!loaded.ok()) {
      WH_LOG(ERROR) << loaded.status().message();
      return 2;
    }
    config = *std::move(loaded);
    absl::Status admission = ApplyConfig(*config, &transport_options, &options);
    if (!admission.ok()) {
      WH_LOG(ERROR) << absl::GetFlag(FLAGS_config) << ": " << admission.message();
      return 2;
    }
  }
  transport_options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  transport_options.tls_key_file = absl::GetFlag(FLAGS_tls_key_file);
  if (transport_options.tls_cert_file.empty() != transport_options.tls_key_file.empty()) {
    WH_LOG(ERROR) << "--tls_cert_file and --tls_key_file go together";
    return 2;
  }
  // The flag and the environment variable win over the config file.
  absl::StatusOr<std::string> secret = ResolveHmacSecret(config);
  if (!secret.ok()) {
    WH_LOG(ERROR) << "token secret: " << secret.status().message();
    return 2;
  }
  const std::string hmac_secret = *std::move(secret);
  absl::StatusOr<std::shared_ptr<const wirehub::TokenKeySet>> token_keys =
      LoadTokenKeys(config, hmac_secret);
  if (!token_keys.ok()) {
    WH_LOG(ERROR) << "token keys: " << token_keys.status().message();
    return 2;
  }
  WH_LOG(INFO) << "verifying tokens with " << (*token_keys)->Describe();
  options.version = wirehub::kVersion;
  options.ping_interval = absl::GetFlag(FLAGS_ping_interval);
  options.pong_timeout = absl::GetFlag(FLAGS_pong_timeout);
  options.connect_timeout = absl::GetFlag(FLAGS_connect_timeout);
  options.stats_interval = absl::GetFlag(FLAGS_stats_interval);
  transport_options.max_message_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_message_bytes));
  options.client_queue_max_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_client_queue_max_bytes));
  transport_options.queue_max_bytes = options.client_queue_max_bytes;
  transport_options.send_buffer_bytes = absl::GetFlag(FLAGS_client_send_buffer_bytes);
  if (absl::GetFlag(FLAGS_max_calls_per_connection) < 1 ||
      absl::GetFlag(FLAGS_max_calls_per_edge) < 1) {
    WH_LOG(ERROR) << "--max_calls_per_connection and --max_calls_per_edge must be at least 1";
    return 2;
  }
  options.max_calls_per_connection =
      static_cast<uint32_t>(absl::GetFlag(FLAGS_max_calls_per_connection));
  options.max_calls_per_edge = static_cast<uint32_t>(absl::GetFlag(FLAGS_max_calls_per_edge));
  options.max_subscriptions_per_client =
      static_cast<size_t>(absl::GetFlag(FLAGS_max_subscriptions_per_client));
  options.expired_close_delay = absl::GetFlag(FLAGS_expired_close_delay);
  options.client_publish_rate = absl::GetFlag(FLAGS_client_publish_rate);
  options.client_publish_burst = absl::GetFlag(FLAGS_client_publish_burst);
  if (options.expired_close_delay < absl::ZeroDuration() || options.client_publish_rate <= 0 ||
      options.client_publish_burst < 1) {
    WH_LOG(ERROR) << "--expired_close_delay must not be negative, --client_publish_rate must be "
                     "positive and --client_publish_burst at least 1";
    return 2;
  }
  options.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  options.drain_duration = absl::GetFlag(FLAGS_drain_duration);
  if (options.drain_delay < absl::ZeroDuration() || options.drain_duration < absl::ZeroDuration() ||
      absl::GetFlag(FLAGS_link_ready_timeout) <= absl::ZeroDuration()) {
    WH_LOG(ERROR) << "--drain_delay and --drain_duration must not be negative and "
                     "--link_ready_timeout must be positive";
    return 2;
  }
  std::string admin_host;
  int admin_port = 0;
  if (!SplitHostPort(absl::GetFlag(FLAGS_admin_listen), &admin_host, &admin_port)) {
    WH_LOG(ERROR) << "--admin_listen must be HOST:PORT, got '" << absl::GetFlag(FLAGS_admin_listen)
                  << "'";
    return 2;
  }
  options.edge_id =
      absl::GetFlag(FLAGS_edge_id).empty() ? DefaultEdgeId() : absl::GetFlag(FLAGS_edge_id);
  if (options.ping_interval < absl::Seconds(1) || options.pong_timeout <= absl::ZeroDuration() ||
      options.connect_timeout <= absl::ZeroDuration() ||
      options.stats_interval <= absl::ZeroDuration()) {
    WH_LOG(ERROR) << "--ping_interval must be at least 1s and the other durations positive";
    return 2;
  }

  if (check_only) {
    // Everything above is what start-up checks before it binds; Init()
    // would go on to read the TLS pair and open the listeners, and the
    // link to dial control.
    const std::string checked =
        config.has_value() ? absl::StrCat(absl::GetFlag(FLAGS_config), ": ",
                                          options.namespaces.namespace_count(), " namespaces")
                           : "no --config: built-in defaults";
    std::printf("wirehub-edge: configuration OK (%s, %s, %zu control targets%s)\n", checked.c_str(),
                (*token_keys)->Describe().c_str(), control_targets->size(),
                control_tls.enabled() ? " over TLS" : "");
    std::fflush(stdout);
    return 0;
  }

  options.metrics = &edge_metrics;
  transport_options.metrics = &edge_metrics;
  // The transport first: it is destroyed last, after Shutdown() closed
  // whatever the server still holds.
  wirehub::edge::LwsTransport transport(transport_options);
  options.listen_address =
      absl::StrCat(transport_options.listen_host, ":", transport_options.listen_port);
  options.stop_accepting = [&transport] { transport.StopAccepting(); };
  // A reload may change recovery_max_publications in the file; it applies
  // after a restart only.
  const uint64_t recovery_max_publications = options.recovery_max_publications;
  wirehub::edge::EdgeServer server(options, *std::move(token_keys), &transport);
  absl::StatusOr<int> port = transport.Init(&server);
  if (!port.ok()) {
    WH_LOG(ERROR) << port.status().message();
    return 1;
  }
  std::string address = absl::StrCat(transport_options.listen_host, ":", *port);

  // /readyz's facts: the link state (from the link's callback), draining
  // (the signal thread) and the socket count, sampled on the loop.
  wirehub::edge::EdgeReadiness readiness(absl::GetFlag(FLAGS_link_ready_timeout), absl::Now());
  // wirehub_edge_ready and wirehub_edge_draining, as /readyz would answer.
  registry.AddCollector([&readiness, &edge_metrics] {
    edge_metrics.ready.Set(readiness.Ready(absl::Now()) ? 1 : 0);
    edge_metrics.draining.Set(readiness.draining() ? 1 : 0);
  });
  readiness.SetConnections(transport.open_sockets(), transport.max_connections());
  transport.StartTimer(absl::Milliseconds(250), [&transport, &readiness] {
    readiness.SetConnections(transport.open_sockets(), transport.max_connections());
  });

  // The admin listener runs its own thread, so it answers while the loop
  // drains; it stops after the loop ended.
  wirehub::AdminHttpServerOptions admin_options;
  admin_options.listen = absl::GetFlag(FLAGS_admin_listen);
  std::map<std::string, wirehub::AdminHttpServer::Handler> admin_routes;
  admin_routes["/metrics"] = [&registry] {
    return wirehub::AdminResponse{200, std::string(wirehub::metrics::kTextContentType),
                                  registry.Render()};
  };
  // Answered by the loop itself: a wedged loop fails it.
  admin_routes["/healthz"] = [&transport] {
    auto answered = std::make_shared<absl::Notification>();
    transport.Post([answered] { answered->Notify(); });
    if (answered->WaitForNotificationWithTimeout(absl::Seconds(1))) {
      return wirehub::AdminResponse{200, "text/plain; charset=utf-8", "ok\n"};
    }
    return wirehub::AdminResponse{503, "text/plain; charset=utf-8",
                                  "loop did not answer within 1s\n"};
  };
  admin_routes["/readyz"] = [&readiness] {
    std::vector<std::string> reasons = readiness.NotReadyReasons(absl::Now());
    if (reasons.empty()) return wirehub::AdminResponse{200, "text/plain; charset=utf-8", "ready\n"};
    std::string body;
    for (const std::string& reason : reasons) absl::StrAppend(&body, reason, "\n");
    return wirehub::AdminResponse{503, "text/plain; charset=utf-8", body};
  };
  absl::StatusOr<std::unique_ptr<wirehub::AdminHttpServer>> admin =
      wirehub::AdminHttpServer::Start(admin_options, std::move(admin_routes));
  if (!admin.ok()) {
    WH_LOG(ERROR) << "--admin_listen: " << admin.status().message();
    return 1;
  }
  server.set_listen_address(address);
  std::string url =
      absl::StrCat(transport.tls() ? "wss://" : "ws://", address, "/connection/websocket");
  // Certificates rotate in place: a change in their directories (or
  // SIGHUP, below) re-reads them on the loop.
  std::unique_ptr<wirehub::DirectoryWatcher> certificate_watcher;
  if (transport.tls()) {
    absl::StatusOr<std::unique_ptr<wirehub::DirectoryWatcher>> watcher =
        wirehub::DirectoryWatcher::Start(
            {transport_options.tls_cert_file, transport_options.tls_key_file},
            absl::Milliseconds(200),
            [&transport] { transport.Post([&transport] { transport.ReloadCertificate(); }); });
    if (!watcher.ok()) {
      WH_LOG(WARNING) << "tls: certificates are re-read on SIGHUP only: "
                      << watcher.status().message();
    } else {
      certificate_watcher = *std::move(watcher);
    }
  }

  wirehub::edge::ControlLinkOptions link_options;
  link_options.control_address = absl::GetFlag(FLAGS_control);
  link_options.tls = control_tls;
  link_options.edge_id = options.edge_id;
  link_options.version = wirehub::kVersion;
  link_options.public_address = url;
  link_options.metrics = &edge_metrics;
  wirehub::edge::ControlLink link(
      link_options,
      [&transport, &server](wirehub::edge::v1::ControlMessage&& message) {
        auto shared = std::make_shared<wirehub::edge::v1::ControlMessage>(std::move(message));
        transport.Post([&server, shared] { server.OnControlMessage(*shared); });
      },
      [&transport, &server, &readiness](bool attached) {
        readiness.SetLinkAttached(attached, absl::Now());
        transport.Post([&server, attached] { server.OnLinkState(attached); });
      });
  server.SetControlLink(&link);
  server.Start();
  link.Start();

  // SIGHUP re-reads the whole config file (namespaces, limits, origins,
  // proxies, token checks), the token keys and the TLS certificate pair. It
  // is validated here, on the signal thread, and applied on the loop for new
  // handshakes and commands; an invalid one is refused with one ERROR line
  // and what is in force stays.
  int64_t config_version = 1;  // Loop thread.
  const std::string config_path = absl::GetFlag(FLAGS_config);
  auto reload = [&] {
    std::optional<wirehub::config::v1::Config> reloaded_config;
    auto reloaded_server = std::make_shared<wirehub::edge::EdgeServerOptions>();
    auto reloaded_transport = std::make_shared<wirehub::edge::LwsTransportOptions>();
    // What the refusal names (tests and operators grep for it).
    const char* refused = "config";
    absl::StatusOr<std::shared_ptr<const wirehub::TokenKeySet>> keys =
        [&]() -> absl::StatusOr<std::shared_ptr<const wirehub::TokenKeySet>> {
      if (!config_path.empty()) {
        ASSIGN_OR_RETURN(reloaded_config, wirehub::LoadConfigFile(config_path));
        absl::Status applied =
            ApplyConfig(*reloaded_config, reloaded_transport.get(), reloaded_server.get());
        if (!applied.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", applied.message()));
        }
      }
      refused = "token keys";
      absl::StatusOr<std::string> reloaded_secret = ResolveHmacSecret(reloaded_config);
      if (!reloaded_secret.ok()) {
        return absl::Status(reloaded_secret.status().code(),
                            absl::StrCat("token secret: ", reloaded_secret.status().message()));
      }
      return LoadTokenKeys(reloaded_config, *reloaded_secret);
    }();
    if (!keys.ok()) {
      config_reloads_error.Increment();
      WH_EVENT(ERROR, "config_reload_refused").stream()
          << "SIGHUP: " << refused
          << " not reloaded, the config in force stays: " << keys.status().message();
      return;
    }
    if (reloaded_server->recovery_max_publications != recovery_max_publications) {
      WH_LOG(WARNING) << "SIGHUP: recovery_max_publications changes only with a restart";
    }
    transport.Post([&, reloaded_server, reloaded_transport, keys = *std::move(keys)]() mutable {
      transport.ApplyAdmission(*reloaded_transport);
      size_t ended = server.ApplyConfig(*reloaded_server);
      std::string described = keys->Describe();
      server.SetTokenKeys(std::move(keys));
      transport.ReloadCertificate();
      ++config_version;
      config_version_gauge.Set(static_cast<double>(config_version));
      config_reloads_ok.Increment();
      WH_EVENT(INFO, "config_reloaded")
              .Field("version", config_version)
              .Field("namespaces", reloaded_server->namespaces.namespace_count())
              .Field("subscriptions_ended", ended)
              .stream()
          << "SIGHUP: token keys reloaded: " << described << "; config version " << config_version
          << " in force";
    });
  };
  std::atomic<bool> loop_ended{false};
  std::thread signal_thread([&] {
    int signal_number = wirehub::WaitForStopSignal(signals, reload);
    if (loop_ended.load()) return;
    // Unready at once, whatever the loop is doing.
    readiness.SetDraining();
    WH_LOG(INFO) << "signal " << signal_number << ", draining";
    server.RequestStop();
    // A second one cuts the drain short.
    signal_number = wirehub::WaitForStopSignal(signals, reload);
    if (loop_ended.load()) return;
    WH_LOG(INFO) << "signal " << signal_number << " while draining: closing every client now";
    server.RequestStopNow();
  });

  const bool admin_ipv6 = admin_host.find(':') != std::string::npos;
  std::printf("wirehub-edge: admin listening on %s%s%s:%d\n", admin_ipv6 ? "[" : "",
              admin_host.c_str(), admin_ipv6 ? "]" : "", (*admin)->port());
  std::printf("wirehub-edge: websocket listening on %s\n", url.c_str());
  std::fflush(stdout);
  WH_EVENT(INFO, "started")
      .Field("version", wirehub::kVersion)
      .Field("edge", link_options.edge_id)
      .Field("listen", url)
      .Field("admin_port", (*admin)->port())
      .Field("control", link_options.control_address);
  transport.Run();

  // Every call to control comes back (or is cancelled) before the objects
  // its answer would reach go away; answers posted after the loop ended
  // are dropped with the transport's inbox.
  link.Stop();
  server.SetControlLink(nullptr);
  transport.Shutdown();
  // Served until here: probes and scrapes see the whole drain.
  (*admin)->Stop();
  // The signal thread is still in sigwait (for a first or a second signal).
  loop_ended.store(true);
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
  }
  return 0;
}

// wirehub-control: parses flags, starts ControlServer, waits for a signal.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/log_flags.h"
#include "common/logging.h"
#include "common/signals.h"
#include "common/version.h"
#include "control/control_config.h"
#include "control/control_server.h"
#include "control/listen_policy.h"

ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:7100",
          "HOST:PORT of the public gRPC API (ControlService, health, reflection) for backends; "
          "port 0 picks a free port. Beyond loopback it needs api_keys in --config or "
          "--insecure_api");
ABSL_FLAG(std::string, edge_listen, "127.0.0.1:7101",
          "HOST:PORT of the edge link (EdgeLinkService, health) for wirehub-edge processes; "
          "port 0 picks a free port. Beyond loopback it needs --edge_tls_client_ca_file or "
          "--insecure_edge_link");
ABSL_FLAG(std::string, grpc_tls_cert_file, "",
          "PEM certificate chain (leaf first) of the API listener; with --grpc_tls_key_file it "
          "serves TLS 1.2/1.3. Re-read every second and on SIGHUP; a bad pair is refused");
ABSL_FLAG(std::string, grpc_tls_key_file, "", "PEM private key of --grpc_tls_cert_file");
ABSL_FLAG(std::string, edge_tls_cert_file, "",
          "PEM certificate chain (leaf first) of the edge link; with --edge_tls_key_file it "
          "serves TLS 1.2/1.3. Re-read every second and on SIGHUP; a bad pair is refused");
ABSL_FLAG(std::string, edge_tls_key_file, "", "PEM private key of --edge_tls_cert_file");
ABSL_FLAG(std::string, edge_tls_client_ca_file, "",
          "PEM CA bundle: the edge link then requires a client certificate issued by it "
          "(mutual TLS); needs --edge_tls_cert_file and --edge_tls_key_file");
ABSL_FLAG(bool, insecure_api, false,
          "Start even though --grpc_listen is beyond loopback and no api_keys are configured "
          "(logged as a WARNING)");
ABSL_FLAG(bool, insecure_edge_link, false,
          "Start even though --edge_listen is beyond loopback without "
          "--edge_tls_client_ca_file (logged as a WARNING)");
ABSL_FLAG(int, max_concurrent_streams, 1000,
          "Most concurrent gRPC streams (calls) per client connection, on each listener; a "
          "backend keeps one PublishStream per conversation");
ABSL_FLAG(absl::Duration, api_call_timeout, absl::Seconds(30),
          "Unary calls that bring no deadline are cancelled after this long (streams are exempt)");
ABSL_FLAG(int, grpc_callback_threads, 0,
          "0 (default): gRPC's own pool of callback threads (cores / 2, at least 2). N: leave "
          "only N of them at work and park the rest. 1 cuts control's context switches per "
          "publication about threefold, for a control with cores of its own; on shared, busy "
          "cores a preempted lone thread stalls every call (docs/architecture.md, \"Publish path "
          "cost\")");
ABSL_FLAG(std::string, config, "",
          "Configuration file (JSON, see docs/configuration.md); default: every namespace "
          "accepted, no history");
ABSL_FLAG(bool, check_config, false,
          "Check the flags and the --config file (with its api_keys_file, ${ENV} references "
          "and engine section) as start-up does, print \"configuration OK (...)\" and exit 0, "
          "or log the error start-up would and exit 2. Listens on nothing, connects to nothing "
          "(Redis) and does not read the TLS certificate, key or CA files, only checks that "
          "their flags go together");
ABSL_FLAG(int, max_payload_bytes, 64 * 1024, "Largest publication data accepted, in bytes");
ABSL_FLAG(int, edge_queue_max_publications, 200000,
          "Publications queued for one edge before it is detached as too slow");
ABSL_FLAG(int, edge_queue_max_bytes, 128 << 20,
          "Bytes queued for one edge before it is detached as too slow");
// Edge liveness. An attached edge sends stats every --stats_interval (edge
// flag, 5s by default) besides interest changes and command results; one
// that sends nothing for longer than --edge_timeout is detached: its Attach
// stream ends with UNAVAILABLE and its interest and presence entries are
// dropped (leave events go out for join_leave namespaces). The maintenance
// pass runs every second, so an edge that dies without closing its TCP
// connection loses its presence at most edge_timeout + 1s after the last
// message it sent (16s by default). Keep edge_timeout well above the edges'
// stats interval (3x by default) so a busy edge is never detached.
ABSL_FLAG(std::string, admin_listen, "127.0.0.1:7102",
          "HOST:PORT of the operators' HTTP listener (/metrics, /healthz, /readyz); port 0 "
          "picks a free port. It stays up while the server drains");
ABSL_FLAG(absl::Duration, drain_delay, absl::Seconds(5),
          "On SIGTERM, time spent unready (readiness and gRPC health failing) while still "
          "serving, so load balancers take the process out before it stops accepting calls");
ABSL_FLAG(absl::Duration, edge_timeout, absl::Seconds(15),
          "Detach an edge that has sent nothing (stats, interest, results) for this long; its "
          "presence goes with it");

namespace {

// Flags are listed by the file defining them; --help and --helpshort list
// this file's, --helpfull every linked library's too.
constexpr absl::string_view kFlagsFile = "control/main.cc";

void SetUsage() {
  absl::SetProgramUsageMessage(
      "sequences publications and streams them to wirehub-edge processes.\n"
      "Usage: wirehub-control [--grpc_listen=HOST:PORT] [--edge_listen=HOST:PORT] "
      "[--config=FILE] [--check_config] [flags]");
  absl::FlagsUsageConfig usage;
  usage.normalize_filename = [](absl::string_view file) {
    return std::string(file == __FILE__ ? kFlagsFile : absl::StripPrefix(file, "/"));
  };
  usage.contains_help_flags = [](absl::string_view file) { return file == kFlagsFile; };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] { return absl::StrCat("wirehub-control ", wirehub::kVersion, "\n"); };
  absl::SetFlagsUsageConfig(usage);
}

// The TLS files of one listener from its flags; nullopt without them.
// InvalidArgument naming the flags for an incomplete set.
absl::StatusOr<std::optional<wirehub::control::TlsFiles>> TlsFlags(const std::string& prefix,
                                                                   const std::string& cert,
                                                                   const std::string& key,
                                                                   const std::string& client_ca) {
  if (cert.empty() && key.empty()) {
    if (!client_ca.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--", prefix, "_tls_client_ca_file needs --",
                                                     prefix, "_tls_cert_file and --", prefix,
                                                     "_tls_key_file"));
    }
    return std::optional<wirehub::control::TlsFiles>();
  }
  if (cert.empty() || key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", prefix, "_tls_cert_file and --", prefix, "_tls_key_file go together"));
  }
  return std::optional<wirehub::control::TlsFiles>(
      wirehub::control::TlsFiles{cert, key, client_ca});
}

std::string HostOf(const std::string& address) { return address.substr(0, address.rfind(':')); }

// Waits up to `timeout` for a signal of `signals`: SIGHUP runs `on_hangup`
// and the wait goes on; returns true at SIGINT or SIGTERM, false at the
// timeout.
template <typename OnHangup>
bool WaitForSignalFor(const sigset_t& signals, absl::Duration timeout, OnHangup on_hangup) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    const timespec wait = absl::ToTimespec(left);
    const int signal_number = sigtimedwait(&signals, nullptr, &wait);
    if (signal_number < 0) continue;  // EAGAIN at the timeout, or EINTR.
    if (signal_number != SIGHUP) return true;
    on_hangup();
  }
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

  // Signals are taken synchronously by this thread; block them before gRPC
  // starts its threads so none of those receives them.
  sigset_t signals = wirehub::BlockServerSignals();

  wirehub::control::ControlServerOptions options;
  options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  options.edge_listen = absl::GetFlag(FLAGS_edge_listen);
  absl::StatusOr<std::optional<wirehub::control::TlsFiles>> api_tls = TlsFlags(
      "grpc", absl::GetFlag(FLAGS_grpc_tls_cert_file), absl::GetFlag(FLAGS_grpc_tls_key_file), "");
  absl::StatusOr<std::optional<wirehub::control::TlsFiles>> edge_tls = TlsFlags(
      "edge", absl::GetFlag(FLAGS_edge_tls_cert_file), absl::GetFlag(FLAGS_edge_tls_key_file),
      absl::GetFlag(FLAGS_edge_tls_client_ca_file));
  for (const auto* tls : {&api_tls, &edge_tls}) {
    if (!tls->ok()) {
      WH_LOG(ERROR) << tls->status().message();
      return 2;
    }
  }
  options.api_tls = *std::move(api_tls);
  options.edge_tls = *std::move(edge_tls);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  if (options.max_concurrent_streams < 1) {
    WH_LOG(ERROR) << "--max_concurrent_streams must be at least 1";
    return 2;
  }
  options.callback_threads = absl::GetFlag(FLAGS_grpc_callback_threads);
  if (options.callback_threads < 0) {
    WH_LOG(ERROR) << "--grpc_callback_threads must be 0 (gRPC's pool) or more";
    return 2;
  }
  options.api_call_timeout = absl::GetFlag(FLAGS_api_call_timeout);
  if (options.api_call_timeout <= absl::ZeroDuration()) {
    WH_LOG(ERROR) << "--api_call_timeout must be positive";
    return 2;
  }
  options.service.version = wirehub::kVersion;
  options.service.max_payload_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_max_payload_bytes));
  options.edge_session.max_queued_publications =
      static_cast<size_t>(absl::GetFlag(FLAGS_edge_queue_max_publications));
  options.edge_session.max_queued_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_edge_queue_max_bytes));
  options.hub.edge_timeout = absl::GetFlag(FLAGS_edge_timeout);
  if (options.hub.edge_timeout <= absl::ZeroDuration()) {
    WH_LOG(ERROR) << "--edge_timeout must be positive";
    return 2;
  }
  options.admin_listen = absl::GetFlag(FLAGS_admin_listen);
  if (options.admin_listen.empty()) {
    WH_LOG(ERROR) << "--admin_listen must be HOST:PORT";
    return 2;
  }
  const absl::Duration drain_delay = absl::GetFlag(FLAGS_drain_delay);
  if (drain_delay < absl::ZeroDuration()) {
    WH_LOG(ERROR) << "--drain_delay must not be negative";
    return 2;
  }
  options.config_file = absl::GetFlag(FLAGS_config);
  // What --check_config reports: the file and its namespace count.
  std::string checked = "no --config: built-in defaults";
  if (!options.config_file.empty()) {
    absl::StatusOr<wirehub::control::ControlConfig> config =
        wirehub::control::LoadControlConfig(options.config_file);
    if (!config.ok()) {
      WH_LOG(ERROR) << config.status().message();
      return 2;
    }
    checked =
        absl::StrCat(options.config_file, ": ", config->namespace_names.size(), " namespaces");
    options.api_keys = std::move(config->api_keys);
    options.namespaces = std::move(config->namespaces);
    options.namespace_names = std::move(config->namespace_names);
    options.hub.idempotency_window = config->idempotency_window;
    options.engine = std::move(config->engine);
  }

  std::vector<std::string> warnings;
  absl::Status policy = wirehub::control::CheckListenPolicy(
      {options.grpc_listen, options.edge_listen, !options.api_keys.empty(),
       options.edge_tls.has_value() && !options.edge_tls->client_ca_file.empty(),
       absl::GetFlag(FLAGS_insecure_api), absl::GetFlag(FLAGS_insecure_edge_link),
       options.api_tls.has_value()},
      &warnings);
  if (!policy.ok()) {
    WH_LOG(ERROR) << policy.message();
    return 2;
  }
  for (const std::string& warning : warnings) WH_LOG(WARNING) << warning;
  // A reload may not take the keys away when start-up needed them.
  std::vector<std::string> ignored;
  options.api_keys_required =
      !absl::GetFlag(FLAGS_insecure_api) &&
      !wirehub::control::CheckListenPolicy(
           {options.grpc_listen, options.edge_listen, /*has_api_keys=*/false,
            /*edge_mutual_tls=*/true,
            /*insecure_api=*/false, /*insecure_edge_link=*/true, options.api_tls.has_value()},
           &ignored)
           .ok();
  if (options.api_keys.empty()) {
    WH_LOG(INFO) << "no api_keys configured: API calls need no key";
  } else {
    WH_LOG(INFO) << options.api_keys.size() << " API key(s) configured: every API call needs one";
  }

  if (absl::GetFlag(FLAGS_check_config)) {
    // Everything above is what start-up checks before it binds; Start()
    // would go on to read the TLS files and open the listeners and Redis.
    std::printf("wirehub-control: configuration OK (%s, engine %s, %zu api keys)\n",
                checked.c_str(), options.engine.Describe().c_str(), options.api_keys.size());
    std::fflush(stdout);
    return 0;
  }

  const std::string grpc_host = HostOf(options.grpc_listen);
  const std::string edge_host = HostOf(options.edge_listen);
  wirehub::control::ControlServer server(std::move(options));
  absl::StatusOr<int> port = server.Start();
  if (!port.ok()) {
    WH_LOG(ERROR) << port.status().message();
    return 1;
  }
  std::printf("wirehub-control: admin listening on %s:%d\n",
              HostOf(absl::GetFlag(FLAGS_admin_listen)).c_str(), server.admin_port());
  std::printf("wirehub-control: grpc listening on %s:%d\n", grpc_host.c_str(), *port);
  std::printf("wirehub-control: edge link listening on %s:%d\n", edge_host.c_str(),
              server.edge_link_port());
  std::fflush(stdout);
  WH_EVENT(INFO, "started")
      .Field("version", wirehub::kVersion)
      .Field("grpc_port", *port)
      .Field("edge_link_port", server.edge_link_port())
      .Field("admin_port", server.admin_port());

  auto on_hangup = [&server] {
    WH_LOG(INFO) << "SIGHUP: re-reading the TLS certificates and the configuration file, if "
                    "any; still running";
    server.ReloadCertificates();
    (void)server.ReloadConfig();  // Logged and counted by ReloadConfig().
  };
  int signal_number = wirehub::WaitForStopSignal(signals, on_hangup);
  WH_LOG(INFO) << "signal " << signal_number << ": draining (a second signal hurries)";
  // Unready at once; serving on for --drain_delay so load balancers move
  // away first. A second SIGTERM or SIGINT cuts every wait short.
  server.BeginDrain();
  bool hurried = WaitForSignalFor(signals, drain_delay, on_hangup);
  if (hurried) server.Hurry();
  absl::Notification finished;
  std::thread finisher([&server, &finished] {
    server.FinishDrain(absl::Seconds(2));
    finished.Notify();
  });
  while (!finished.HasBeenNotified()) {
    if (WaitForSignalFor(signals, absl::Milliseconds(100), on_hangup)) server.Hurry();
  }
  finisher.join();
  return 0;
}

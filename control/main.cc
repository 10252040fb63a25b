// wirehub-control: parses flags, starts ControlServer, waits for a signal.
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/config_loader.h"
#include "common/logging.h"
#include "common/namespace_registry.h"
#include "common/signals.h"
#include "common/version.h"
#include "control/control_server.h"

ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:7100",
          "HOST:PORT for the gRPC API and the edge link; port 0 picks a free port");
ABSL_FLAG(std::string, config, "",
          "Configuration file (JSON, see docs/configuration.md); default: every namespace "
          "accepted, no history");
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
      "Usage: wirehub-control [--grpc_listen=HOST:PORT] [--config=FILE] [flags]");
  absl::FlagsUsageConfig usage;
  usage.normalize_filename = [](absl::string_view file) {
    return std::string(file == __FILE__ ? kFlagsFile : absl::StripPrefix(file, "/"));
  };
  usage.contains_help_flags = [](absl::string_view file) { return file == kFlagsFile; };
  usage.contains_helpshort_flags = usage.contains_help_flags;
  usage.version_string = [] { return absl::StrCat("wirehub-control ", wirehub::kVersion, "\n"); };
  absl::SetFlagsUsageConfig(usage);
}

}  // namespace

int main(int argc, char** argv) {
  SetUsage();
  absl::ParseCommandLine(argc, argv);

  // Signals are taken synchronously by this thread; block them before gRPC
  // starts its threads so none of those receives them.
  sigset_t signals = wirehub::BlockServerSignals();

  wirehub::control::ControlServerOptions options;
  options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
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
  if (!absl::GetFlag(FLAGS_config).empty()) {
    absl::StatusOr<wirehub::config::v1::Config> config =
        wirehub::LoadConfigFile(absl::GetFlag(FLAGS_config));
    if (!config.ok()) {
      WH_LOG(ERROR) << config.status().message();
      return 2;
    }
    options.namespaces = wirehub::NamespaceRegistry(*config);
    options.hub.idempotency_window = absl::Seconds(config->idempotency_window().seconds()) +
                                     absl::Nanoseconds(config->idempotency_window().nanos());
  }

  wirehub::control::ControlServer server(options);
  absl::StatusOr<int> port = server.Start();
  if (!port.ok()) {
    WH_LOG(ERROR) << port.status().message();
    return 1;
  }
  std::string host = options.grpc_listen.substr(0, options.grpc_listen.rfind(':'));
  std::printf("wirehub-control: grpc listening on %s:%d\n", host.c_str(), *port);
  std::fflush(stdout);

  int signal_number = wirehub::WaitForStopSignal(
      signals, [] { WH_LOG(INFO) << "SIGHUP: nothing to reload yet, still running"; });
  WH_LOG(INFO) << "signal " << signal_number << ", shutting down";
  server.Shutdown(absl::Seconds(2));
  return 0;
}

#include "tools/bench/drain_scenario.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/jwt.h"
#include "tools/bench/child_process.h"
#include "tools/bench/client_group.h"
#include "tools/bench/client_pool.h"
#include "tools/bench/server_process.h"

namespace wirehub::bench {
namespace {

constexpr char kHost[] = "127.0.0.1";

struct DrainCase {
  std::string name;
  absl::Duration delay;
  absl::Duration duration;
};

struct DrainResult {
  size_t clients = 0;
  size_t reconnected = 0;
  size_t failed = 0;
  size_t peak_per_second = 0;
  double mean_per_second = 0;
  absl::Duration first = absl::ZeroDuration();          // SIGTERM -> first reconnect
  absl::Duration spread = absl::ZeroDuration();         // first -> last reconnect
  absl::Duration edge_exit = absl::InfiniteDuration();  // SIGTERM -> exit
};

std::string RandomHex(size_t bytes) {
  std::random_device device;
  std::string out;
  for (size_t i = 0; i < bytes; ++i) absl::StrAppendFormat(&out, "%02x", device() & 0xff);
  return out;
}

// Whether `pid` (a child of ours) has exited, reaping it.
bool Exited(pid_t pid) {
  int status = 0;
  pid_t done = waitpid(pid, &status, WNOHANG);
  return done == pid || (done < 0 && errno == ECHILD);
}

absl::StatusOr<DrainResult> RunCase(const BenchOptions& options, const DrainCase& spec,
                                    size_t clients) {
  std::string dir = absl::StrCat(options.work_dir, "/drain-", spec.duration / absl::Seconds(1));
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", std::strerror(errno)));
  }
  const std::string secret = RandomHex(32);
  const std::string secret_file = dir + "/token-secret";
  const std::string config_file = dir + "/config.json";
  if (absl::Status s = WriteFile(secret_file, secret + "\n"); !s.ok()) return s;
  if (absl::Status s =
          WriteFile(config_file, R"({"defaults":{"allow_subscribe_for_client":true}})");
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> control = ServerProcess::Start(
      "wirehub-control", options.bin_dir + "/wirehub-control",
      {absl::StrCat("--grpc_listen=", kHost, ":0"), absl::StrCat("--edge_listen=", kHost, ":0"),
       absl::StrCat("--admin_listen=", kHost, ":0"), "--drain_delay=0s"},
      "wirehub-control: grpc listening on", dir + "/control.log", absl::Seconds(15));
  if (!control.ok()) return control.status();
  absl::StatusOr<int> link =
      (*control)->WaitForLine("wirehub-control: edge link listening on", absl::Seconds(15));
  if (!link.ok()) return link.status();
  auto start_edge = [&](const std::string& log, absl::Duration delay, absl::Duration duration) {
    return ServerProcess::Start(
        "wirehub-edge", options.bin_dir + "/wirehub-edge",
        {absl::StrCat("--listen=", kHost, ":0"), absl::StrCat("--control=", kHost, ":", *link),
         absl::StrCat("--admin_listen=", kHost, ":0"), "--token_hmac_secret_file=" + secret_file,
         "--config=" + config_file, absl::StrCat("--drain_delay=", absl::FormatDuration(delay)),
         absl::StrCat("--drain_duration=", absl::FormatDuration(duration))},
        "wirehub-edge: websocket listening on", dir + "/" + log, absl::Seconds(15));
  };
  absl::StatusOr<std::unique_ptr<ServerProcess>> leaving =
      start_edge("edge-leaving.log", spec.delay, spec.duration);
  if (!leaving.ok()) return leaving.status();
  absl::StatusOr<std::unique_ptr<ServerProcess>> staying =
      start_edge("edge-staying.log", absl::ZeroDuration(), absl::ZeroDuration());
  if (!staying.ok()) return staying.status();

  ClientPoolOptions pool_options;
  pool_options.server_port = (*leaving)->port();
  pool_options.reconnect_port = (*staying)->port();
  pool_options.source_addresses = options.source_addresses;
  pool_options.clients = clients;
  pool_options.resource = [](size_t) { return std::string("/connection/websocket"); };
  pool_options.channel = [](size_t) { return BenchChannelName(0); };
  const absl::Time issued = absl::Now();
  pool_options.token = [secret, issued](size_t i) {
    TokenSpec token;
    token.subject = absl::StrCat("u", i);
    token.issued_at = issued;
    token.expires_at = issued + absl::Hours(1);
    return MintToken(secret, token);
  };
  ClientPool pool(pool_options);
  absl::Time pool_started = absl::Now();
  absl::Status pool_status;
  std::thread pool_thread([&pool, &pool_status] { pool_status = pool.Run(); });
  auto stop_pool = [&] {
    pool.Stop();
    pool_thread.join();
  };

  absl::Time deadline = absl::Now() + absl::Seconds(120);
  while (pool.subscribed() + pool.failed() < clients && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (pool.subscribed() < clients) {
    stop_pool();
    return absl::UnavailableError(absl::StrCat("only ", pool.subscribed(), " of ", clients,
                                               " clients subscribed: ", pool.first_error()));
  }
  absl::SleepFor(absl::Seconds(1));
  DrainResult result;
  result.clients = clients;
  const pid_t leaving_pid = (*leaving)->pid();
  const absl::Time signalled = absl::Now();
  kill(leaving_pid, SIGTERM);
  deadline = signalled + spec.delay + spec.duration + absl::Seconds(30);
  bool exited = false;
  while (absl::Now() < deadline) {
    if (!exited && Exited(leaving_pid)) {
      exited = true;
      result.edge_exit = absl::Now() - signalled;
    }
    if (exited && pool.reconnected() + pool.failed() >= clients) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  stop_pool();
  if (!pool_status.ok()) return pool_status;

  // Times relative to the signal.
  std::vector<absl::Duration> times;
  for (absl::Duration t : pool.reconnect_times()) times.push_back(t - (signalled - pool_started));
  result.reconnected = times.size();
  result.failed = pool.failed();
  result.peak_per_second = PeakInWindow(times, absl::Seconds(1));
  if (!times.empty()) {
    result.first = times.front();
    result.spread = times.back() - times.front();
    double seconds = std::max(absl::ToDoubleSeconds(result.spread), 1.0);
    result.mean_per_second = static_cast<double>(times.size()) / seconds;
  }
  return result;
}

}  // namespace

size_t PeakInWindow(const std::vector<absl::Duration>& times, absl::Duration window) {
  size_t peak = 0;
  size_t begin = 0;
  for (size_t end = 0; end < times.size(); ++end) {
    while (times[end] - times[begin] >= window) ++begin;
    peak = std::max(peak, end - begin + 1);
  }
  return peak;
}

absl::Status RunDrainScenario(const BenchOptions& options) {
  const size_t clients = options.clients != 0 ? options.clients : 10000;
  const absl::Duration waves =
      options.duration > absl::ZeroDuration() ? options.duration : absl::Seconds(10);
  const std::vector<DrainCase> cases = {
      {"all at once (--drain_duration=0s)", absl::ZeroDuration(), absl::ZeroDuration()},
      {absl::StrCat("waves over ", absl::FormatDuration(waves),
                    " (--drain_duration=", absl::FormatDuration(waves), ")"),
       absl::ZeroDuration(), waves},
  };
  for (const DrainCase& spec : cases) {
    absl::StatusOr<DrainResult> result = RunCase(options, spec, clients);
    if (!result.ok()) return result.status();
    std::printf(
        "drain, %zu clients, %s: peak %zu reconnects in one second, mean %.0f/s, first "
        "after %s, spread over %s, edge exited after %s; %zu reconnected, %zu failed\n",
        clients, spec.name.c_str(), result->peak_per_second, result->mean_per_second,
        absl::FormatDuration(absl::Trunc(result->first, absl::Milliseconds(1))).c_str(),
        absl::FormatDuration(absl::Trunc(result->spread, absl::Milliseconds(1))).c_str(),
        absl::FormatDuration(absl::Trunc(result->edge_exit, absl::Milliseconds(1))).c_str(),
        result->reconnected, result->failed);
    std::fflush(stdout);
    if (!options.results_path.empty()) {
      std::ofstream out(options.results_path, std::ios::app);
      out << absl::StrFormat(
          "{\"scenario\":\"drain\",\"case\":\"%s\",\"clients\":%d,\"drain_duration_s\":%g,"
          "\"peak_reconnects_per_s\":%d,\"mean_reconnects_per_s\":%.1f,\"first_s\":%.3f,"
          "\"spread_s\":%.3f,\"edge_exit_s\":%.3f,\"reconnected\":%d,\"failed\":%d}\n",
          spec.name, clients, absl::ToDoubleSeconds(spec.duration), result->peak_per_second,
          result->mean_per_second, absl::ToDoubleSeconds(result->first),
          absl::ToDoubleSeconds(result->spread), absl::ToDoubleSeconds(result->edge_exit),
          result->reconnected, result->failed);
    }
  }
  return absl::OkStatus();
}

}  // namespace wirehub::bench

#include "tools/bench/token_scenario.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/bench_server.h"
#include "tools/bench/case_result.h"
#include "tools/bench/client_group.h"
#include "tools/bench/proc_stats.h"

namespace wirehub::bench {
namespace {

// Descriptors a generator process or an edge keeps for everything but its
// client connections.
constexpr size_t kReservedDescriptors = 1000;

// Per publication (of `published`, those control accepted): control's and
// the edges' CPU and context switches; and the context switches of every
// process.
void FillCosts(const BenchServer& server, const ServerSamples& before, const ServerSamples& after,
               uint64_t published, CaseResult* result) {
  double control_cpu = 0;
  double edge_cpu = 0;
  uint64_t control_switches = 0;
  uint64_t edge_switches = 0;
  for (size_t i = 0; i < server.pids.size(); ++i) {
    ProcDelta delta = Diff(before.samples[i], after.samples[i]);
    result->processes[i].context_switches = delta.context_switches;
    if (server.pids[i].name == "control") {
      control_cpu += delta.cpu_seconds;
      control_switches += delta.context_switches;
    } else if (server.pids[i].server) {
      edge_cpu += delta.cpu_seconds;
      edge_switches += delta.context_switches;
    }
  }
  if (published == 0) return;
  const double n = static_cast<double>(published);
  result->control_cpu_us_per_publication = control_cpu * 1e6 / n;
  result->edge_cpu_us_per_publication = edge_cpu * 1e6 / n;
  result->control_context_switches_per_publication = static_cast<double>(control_switches) / n;
  result->edge_context_switches_per_publication = static_cast<double>(edge_switches) / n;
}

void AddNote(CaseResult* result, const std::string& note) {
  absl::StrAppend(&result->notes, result->notes.empty() ? "" : "; ", note);
}

absl::StatusOr<CaseResult> RunTokenCase(const BenchServer& server, const BenchOptions& options,
                                        const TokenCaseSpec& spec) {
  CaseResult result;
  result.scenario = spec.scenario;
  result.case_name = spec.name;
  result.server = server.name;
  result.transport = server.tls_ca_file.empty() ? "ws" : "wss";
  result.channels = spec.conversations;
  result.publish_rate = spec.token_rate * static_cast<double>(spec.conversations);
  result.publish_api = std::string(TokenApiName(spec.api));
  result.payload_bytes = spec.payload_bytes;
  result.token_rate = spec.token_rate;
  result.reply_tokens = spec.reply_tokens;

  ClientGroupSpec group = ClientsOf(server, options);
  group.channels = spec.conversations;
  group.channel_subscribers = kSubscribersPerConversation;
  group.clients = SubscribersOfChannels(group.channel_subscribers, spec.conversations);
  group.reply_tokens = spec.reply_tokens;
  group.threads = spec.client_threads;
  group.processes =
      std::max(spec.client_processes, ClientProcessesFor(group.clients, ClientsPerProcess(), 1));
  // Every edge needs a client loop of its own.
  group.processes = std::max(group.processes, server.ws_ports.size());
  result.clients = group.clients;
  absl::StatusOr<std::unique_ptr<ClientGroup>> started =
      ClientGroup::Start(group, options.self_binary);
  if (!started.ok()) return started.status();
  ClientGroup& clients = **started;
  if (absl::Status subscribed = WaitSubscribed(server.name, clients, group.clients);
      !subscribed.ok()) {
    return subscribed;
  }
  result.failed_clients = clients.failed();
  if (result.failed_clients > 0) {
    AddNote(&result,
            absl::StrCat(result.failed_clients, " clients failed: ", clients.first_error()));
    if (result.failed_clients * 100 > group.clients) {
      return absl::UnavailableError(absl::StrCat(server.name, ": ", result.notes));
    }
  }
  if (!server.tls_ca_file.empty()) result.tls = clients.tls_description();
  if (group.processes > 1 || server.ws_ports.size() > 1) {
    AddNote(&result, absl::StrCat(group.clients, " clients from ", group.processes,
                                  " generator processes over ", server.ws_ports.size(), " edges"));
  }
  absl::SleepFor(spec.strict ? absl::Milliseconds(200) : absl::Seconds(1));

  TokenPlan plan;
  plan.api = spec.api;
  plan.target = server.publish_target;
  for (size_t i = 0; i < spec.conversations; ++i) plan.channels.push_back(BenchChannelName(i));
  plan.token_rate = spec.token_rate;
  plan.duration = spec.duration;
  plan.payload_bytes = spec.payload_bytes;
  plan.streams = spec.streams;

  ServerSamples before = SampleAll(server);
  const int64_t publish_start = MonotonicNowNs();
  absl::StatusOr<PublishOutcome> outcome = RunTokenPublisher(plan);
  if (!outcome.ok()) return outcome.status();
  const uint64_t expected = clients.Expected(outcome->last_seq);
  const int64_t last_delivery = DrainDeliveries(clients, expected);
  ServerSamples after = SampleAll(server);
  const int64_t window_ns =
      std::max<int64_t>(last_delivery - publish_start, absl::ToInt64Nanoseconds(outcome->elapsed));

  result.disconnected = clients.closed();
  absl::StatusOr<ClientGroupTotals> totals = clients.Finish(outcome->last_seq);
  if (!totals.ok()) return totals.status();
  result.duration_s = static_cast<double>(window_ns) / 1e9;
  result.published = outcome->sent;
  result.accepted = outcome->accepted;
  result.publish_failed = outcome->failed;
  result.expected = expected;
  result.delivered = totals->counts.received - totals->counts.duplicated;
  result.missing = totals->counts.missing;
  result.duplicated = totals->counts.duplicated;
  result.late = totals->counts.late;
  result.deliveries_per_s = static_cast<double>(*result.delivered) / result.duration_s;
  result.publishes_per_s =
      static_cast<double>(outcome->accepted) / absl::ToDoubleSeconds(outcome->elapsed);
  result.max_publisher_lag_ms = absl::ToDoubleMilliseconds(outcome->max_lag);
  result.latency = totals->latency;
  result.first_token_latency = totals->timings.first_token();
  result.gap_jitter = totals->timings.gap_jitter();
  result.receive_gap = totals->timings.receive_gap();
  result.answer_latency = outcome->answer_latency;
  double edge_cpu = FillProcesses(server, before, after, &result);
  if (*result.delivered > 0) {
    result.server_cpu_us_per_delivery = edge_cpu * 1e6 / static_cast<double>(*result.delivered);
  }
  FillCosts(server, before, after, outcome->accepted, &result);
  if (!outcome->first_error.empty()) {
    AddNote(&result, absl::StrCat(outcome->failed, " publications failed: ", outcome->first_error));
  }
  return result;
}

std::string TokenCaseName(const TokenCaseSpec& spec) {
  return absl::StrFormat("%d conversations @ %g tokens/s via %s", spec.conversations,
                         spec.token_rate, TokenApiName(spec.api));
}

}  // namespace

size_t ClientsPerProcess() {
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) return 1 << 20;
  const size_t limit = static_cast<size_t>(files.rlim_cur);
  return limit > 2 * kReservedDescriptors ? limit - kReservedDescriptors : limit / 2;
}

size_t ClientProcessesFor(size_t clients, size_t per_process, size_t asked) {
  per_process = std::max<size_t>(1, per_process);
  return std::max(asked, (clients + per_process - 1) / per_process);
}

absl::StatusOr<std::vector<TokenCaseSpec>> TokenCases(const BenchOptions& options, bool smoke) {
  std::vector<std::string> apis = options.apis;
  if (apis.empty() || smoke) apis = {"stream", "multiplexed", "unary"};
  std::vector<TokenCaseSpec> cases;
  for (const std::string& name : apis) {
    absl::StatusOr<TokenApi> api = ParseTokenApi(name);
    if (!api.ok()) return api.status();
    TokenCaseSpec spec;
    spec.api = *api;
    spec.conversations = options.conversations != 0 ? options.conversations : smoke ? 50 : 1000;
    spec.token_rate = options.token_rate > 0 ? options.token_rate : 30;
    spec.reply_tokens = options.reply_tokens != 0 ? options.reply_tokens : smoke ? 20 : 100;
    spec.duration = options.duration != absl::ZeroDuration() ? options.duration
                    : smoke                                  ? absl::Seconds(2)
                                                             : absl::Seconds(10);
    spec.payload_bytes = options.payload_bytes != 0 ? options.payload_bytes : 40;
    spec.streams = options.streams != 0 ? options.streams : 4;
    spec.client_processes = options.client_processes;
    spec.client_threads = options.client_threads;
    spec.strict = smoke;
    spec.name = TokenCaseName(spec);
    if (smoke) {
      spec.scenario = "smoke";
      spec.name = absl::StrCat("tokens via ", name);
    }
    cases.push_back(spec);
  }
  return cases;
}

absl::Status RunTokenScenario(const BenchOptions& options,
                              const std::vector<TokenCaseSpec>& cases) {
  // Past one process's open files the clients need more edges, as they
  // need more generator processes.
  BenchOptions wide = options;
  for (const TokenCaseSpec& spec : cases) {
    size_t clients = SubscribersOfChannels(kSubscribersPerConversation, spec.conversations);
    wide.edges = ClientProcessesFor(clients, ClientsPerProcess(), std::max<size_t>(1, wide.edges));
  }
  if (wide.edges > options.edges) {
    std::printf("(tokens: %zu edges, as one process may hold only %zu connections)\n", wide.edges,
                ClientsPerProcess());
  }
  absl::Status first_failure;
  for (const std::string& name : options.servers) {
    if (name != "wirehub") {
      std::printf("(%s is not measured in this scenario)\n", name.c_str());
      continue;
    }
    for (bool tls : options.wirehub_tls) {
      absl::StatusOr<std::unique_ptr<BenchServer>> server =
          StartServer(name, wide, options.edge_flags, tls);
      if (!server.ok()) return server.status();
      (*server)->pids.push_back({"generator", getpid(), false});
      for (const TokenCaseSpec& spec : cases) {
        absl::StatusOr<CaseResult> result = RunTokenCase(**server, wide, spec);
        if (!result.ok()) {
          std::fprintf(stderr, "[%s] %s on %s failed: %s\n", spec.scenario.c_str(),
                       spec.name.c_str(), (*server)->name.c_str(),
                       result.status().ToString().c_str());
          if (first_failure.ok()) first_failure = result.status();
          continue;
        }
        if (absl::Status s = AppendResult(options, *result); !s.ok()) return s;
        const CaseResult& r = *result;
        if (spec.strict &&
            (r.failed_clients > 0 || r.missing.value_or(0) > 0 || r.duplicated.value_or(0) > 0 ||
             r.late.value_or(0) > 0 || r.publish_failed.value_or(0) > 0 ||
             r.delivered.value_or(0) != r.expected.value_or(0))) {
          absl::Status lost = absl::DataLossError(absl::StrCat(
              spec.name, " on ", (*server)->name, ": ", r.failed_clients,
              " clients failed, delivered ", r.delivered.value_or(0), " of ",
              r.expected.value_or(0), ", missing ", r.missing.value_or(0), ", duplicated ",
              r.duplicated.value_or(0), ", out of order ", r.late.value_or(0),
              ", publications failed ", r.publish_failed.value_or(0)));
          std::fprintf(stderr, "[%s] %s\n", spec.scenario.c_str(), lost.ToString().c_str());
          if (first_failure.ok()) first_failure = lost;
        }
        // Let TIME_WAIT and the server's closes settle between cases.
        absl::SleepFor(spec.strict ? absl::Milliseconds(300) : absl::Seconds(1));
      }
    }
  }
  return first_failure;
}

}  // namespace wirehub::bench

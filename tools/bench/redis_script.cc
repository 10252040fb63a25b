#include "tools/bench/redis_script.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "control/redis_scripts.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/bench_server.h"
#include "tools/bench/case_result.h"
#include "tools/bench/child_process.h"
#include "tools/bench/client_group.h"
#include "tools/bench/proc_stats.h"
#include "tools/bench/redis_server.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::bench {
namespace {

constexpr char kKeyPrefix[] = "wirehub";
constexpr size_t kConnections = 50;

struct BenchmarkRun {
  std::string output;
  double cpu_s = 0;  // redis-benchmark's own CPU
  int64_t wall_ns = 0;
};

// Runs redis-benchmark with `args` and collects its stdout and CPU time.
absl::StatusOr<BenchmarkRun> RunRedisBenchmark(const std::vector<std::string>& args) {
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  BenchmarkRun run;
  const int64_t start = MonotonicNowNs();
  absl::StatusOr<pid_t> pid = SpawnChild(args, out_pipe[1], STDERR_FILENO);
  close(out_pipe[1]);
  if (!pid.ok()) {
    close(out_pipe[0]);
    return pid.status();
  }
  char buffer[4096];
  while (true) {
    ssize_t n = read(out_pipe[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    run.output.append(buffer, static_cast<size_t>(n));
  }
  close(out_pipe[0]);
  int status = 0;
  rusage usage{};
  wait4(*pid, &status, 0, &usage);
  run.wall_ns = MonotonicNowNs() - start;
  run.cpu_s = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::UnavailableError(absl::StrCat("redis-benchmark ended with ", DescribeExit(status),
                                               ": ", run.output.substr(0, 500)));
  }
  return run;
}

std::string Key(const std::string& channel, std::string_view suffix) {
  return absl::StrCat(kKeyPrefix, ":{", channel, "}:", AsAbsl(suffix));
}

// A connection subscribed to one pub/sub channel that reads and drops its
// messages on a thread of its own until destroyed, as a control replica's
// feed takes them: every SPUBLISH then writes to a socket.
class DrainingSubscriber {
 public:
  static absl::StatusOr<std::unique_ptr<DrainingSubscriber>> Start(int port,
                                                                   const std::string& channel) {
    absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Connect(port);
    if (!client.ok()) return client.status();
    absl::StatusOr<std::string> confirmed = (*client)->Call({"SSUBSCRIBE", channel});
    if (!confirmed.ok()) return confirmed.status();
    return std::unique_ptr<DrainingSubscriber>(new DrainingSubscriber(*std::move(client)));
  }
  ~DrainingSubscriber() {
    client_->Shutdown();
    thread_.join();
  }

 private:
  explicit DrainingSubscriber(std::unique_ptr<RedisClient> client)
      : client_(std::move(client)), thread_([this] { client_->Drain(); }) {}

  std::unique_ptr<RedisClient> client_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<RedisBenchmarkFigures> ParseRedisBenchmarkCsv(std::string_view output) {
  // The last record's last seven fields are numbers in quotes.
  while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) {
    output.remove_suffix(1);
  }
  std::vector<std::string> fields;
  while (fields.size() < 7) {
    const size_t comma = output.rfind(',');
    std::string_view field = comma == std::string_view::npos ? output : output.substr(comma + 1);
    if (field.size() < 2 || field.front() != '"' || field.back() != '"') break;
    fields.emplace_back(field.substr(1, field.size() - 2));
    if (comma == std::string_view::npos) break;
    output = output.substr(0, comma);
  }
  // fields: max, p99, p95, p50, min, avg, rps (reversed).
  RedisBenchmarkFigures figures;
  if (fields.size() != 7 || !absl::SimpleAtod(fields[6], &figures.calls_per_s) ||
      !absl::SimpleAtod(fields[3], &figures.p50_ms) ||
      !absl::SimpleAtod(fields[1], &figures.p99_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("no redis-benchmark --csv record in: ", AsAbsl(output.substr(0, 300))));
  }
  return figures;
}

std::vector<std::string> PublishScriptArgs(const std::string& channel, const std::string& run_id,
                                           size_t history_size, size_t payload_bytes) {
  edge::v1::Publication publication;
  publication.set_channel(channel);
  BenchPayload payload;
  payload.seq = 1;
  payload.ts_ns = MonotonicNowNs();
  std::string data;
  FormatBenchPayload(payload, payload_bytes, &data);
  publication.set_data(data);
  publication.set_accepted_unix_micros(absl::ToUnixMicros(absl::Now()));
  return {"3",
          Key(channel, "m"),
          Key(channel, "h"),
          Key(channel, "i:"),
          run_id,
          "0123456789abcdef",
          std::to_string(history_size),
          "600000",
          "86400000",
          "0",
          Key(channel, "p"),
          publication.SerializeAsString()};
}

absl::Status RunRedisScriptScenario(const BenchOptions& options, bool smoke) {
  const std::string dir = options.work_dir + "/redis-script";
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", std::strerror(errno)));
  }
  RedisServerOptions redis_options;
  redis_options.work_dir = dir;
  redis_options.appendfsync = options.redis_appendfsync;
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(redis_options);
  if (!redis.ok()) return redis.status();
  absl::StatusOr<std::unique_ptr<RedisClient>> client = RedisClient::Connect((*redis)->port());
  if (!client.ok()) return client.status();
  absl::StatusOr<std::string> info = (*client)->Call({"INFO", "server"});
  if (!info.ok()) return info.status();
  const std::string run_id = InfoField(*info, "run_id");
  absl::StatusOr<std::string> sha =
      (*client)->Call({"SCRIPT", "LOAD", std::string(control::kPublishScript)});
  if (!sha.ok()) return sha.status();

  const std::string channel = BenchChannelName(0);
  const size_t history_size = options.history_size;
  const size_t payload_bytes = options.payload_bytes != 0 ? options.payload_bytes : 100;
  const std::vector<std::string> script_args =
      PublishScriptArgs(channel, run_id, history_size, payload_bytes);
  // One real call first: the script must answer {epoch, offset, 0}.
  std::vector<std::string> call = {"EVALSHA", *sha};
  call.insert(call.end(), script_args.begin(), script_args.end());
  absl::StatusOr<std::string> first = (*client)->Call(call);
  if (!first.ok()) return first.status();

  const size_t requests = options.redis_requests != 0 ? options.redis_requests
                          : smoke                     ? 2000
                                                      : 300000;
  std::vector<size_t> pipelines = options.pipelines;
  if (pipelines.empty()) pipelines = {1, 16};
  const std::string redis_benchmark = "/usr/bin/redis-benchmark";
  if (access(redis_benchmark.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        "redis-benchmark is missing: apt-get install redis-tools (tools/dev/install-deps)");
  }
  for (bool subscribed : {false, true}) {
    // A connection that subscribes to the channel and drains, as a control
    // replica's feed does: every SPUBLISH then writes to a socket.
    std::unique_ptr<DrainingSubscriber> subscriber;
    if (subscribed) {
      absl::StatusOr<std::unique_ptr<DrainingSubscriber>> started =
          DrainingSubscriber::Start((*redis)->port(), Key(channel, "p"));
      if (!started.ok()) return started.status();
      subscriber = *std::move(started);
    }
    for (size_t pipeline : pipelines) {
      std::vector<std::string> args = {redis_benchmark,
                                       "-p",
                                       std::to_string((*redis)->port()),
                                       "-n",
                                       std::to_string(requests),
                                       "-c",
                                       std::to_string(kConnections),
                                       "-P",
                                       std::to_string(pipeline),
                                       "--csv",
                                       "EVALSHA",
                                       *sha};
      args.insert(args.end(), script_args.begin(), script_args.end());
      std::vector<std::string> shown(args.begin(), args.end() - 1);
      shown.push_back(absl::StrCat("<publication: ", script_args.back().size(), " bytes>"));
      const std::string command = absl::StrJoin(shown, " ");
      std::printf("[redis_script] %s\n", command.c_str());
      absl::StatusOr<std::string> offset_before = (*client)->Call({"HGET", Key(channel, "m"), "o"});
      if (!offset_before.ok()) return offset_before.status();
      absl::StatusOr<ProcSample> before = ReadProcSample((*redis)->pid());
      absl::StatusOr<BenchmarkRun> run = RunRedisBenchmark(args);
      absl::StatusOr<ProcSample> after = ReadProcSample((*redis)->pid());
      if (!run.ok()) return run.status();
      absl::StatusOr<RedisBenchmarkFigures> figures = ParseRedisBenchmarkCsv(run->output);
      if (!figures.ok()) return figures.status();
      absl::StatusOr<std::string> offset_after = (*client)->Call({"HGET", Key(channel, "m"), "o"});
      if (!offset_after.ok()) return offset_after.status();
      uint64_t from = 0;
      uint64_t to = 0;
      const bool counted =
          absl::SimpleAtoi(*offset_before, &from) && absl::SimpleAtoi(*offset_after, &to);

      CaseResult result;
      result.scenario = smoke ? "smoke" : "redis_script";
      result.case_name = absl::StrCat("EVALSHA publish, ", kConnections, " connections, pipeline ",
                                      pipeline, subscribed ? ", channel subscribed" : "");
      result.server = "redis";
      result.clients = kConnections;
      result.channels = 1;
      result.payload_bytes = payload_bytes;
      result.history_size = history_size;
      result.redis_persistence = (*redis)->persistence();
      result.pipeline = pipeline;
      result.subscribers = subscribed ? 1 : 0;
      result.published = requests;
      if (counted) result.accepted = to - from;
      result.publishes_per_s = figures->calls_per_s;
      result.call_p50_us = figures->p50_ms * 1000;
      result.call_p99_us = figures->p99_ms * 1000;
      result.duration_s = static_cast<double>(run->wall_ns) / 1e9;
      if (before.ok() && after.ok()) {
        const double redis_cpu = Diff(*before, *after).cpu_seconds;
        result.redis_cpu_us_per_publication = redis_cpu * 1e6 / static_cast<double>(requests);
        result.processes.push_back({"redis", (*redis)->pid(), redis_cpu, after->rss_bytes});
      }
      result.processes.push_back({"redis-benchmark", 0, run->cpu_s, 0});
      result.notes = command;
      if (counted && to - from != requests) {
        absl::StrAppend(&result.notes, "; only ", to - from, " of ", requests,
                        " calls sequenced a publication");
      }
      if (absl::Status s = AppendResult(options, result); !s.ok()) return s;
      if (counted && to - from != requests) {
        return absl::DataLossError(result.notes);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace wirehub::bench

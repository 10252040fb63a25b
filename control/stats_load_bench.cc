// stats-load-bench: publish latency through one PublishStream at a fixed
// rate, with and without a Stats call every 10 ms, against an in-process
// control with attached edges that report many channels.
//
//   build/bin/stats-load-bench --edges=20 --channels_per_edge=5000
//       --rate=2000 --duration=10s --stats_every=10ms  (one command line)
//
// Prints one line per phase: publish latency percentiles and Stats calls.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "control/control_server.h"
#include "control/testing/fake_edge.h"
#include "wirehub/control/v1/control.grpc.pb.h"

ABSL_FLAG(int, edges, 20, "Attached (fake) edges");
ABSL_FLAG(int, channels_per_edge, 5000, "Channels each edge reports in its stats");
ABSL_FLAG(int, rate, 2000, "Publications per second through one PublishStream");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Length of each phase");
ABSL_FLAG(absl::Duration, stats_every, absl::Milliseconds(10), "Stats period in the 2nd phase");

namespace wirehub::control {
namespace {

using Clock = std::chrono::steady_clock;

struct Phase {
  std::vector<int64_t> publish_us;
  std::vector<int64_t> stats_us;
  uint64_t failed = 0;
};

int64_t Percentile(std::vector<int64_t>& values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t index = std::min(values.size() - 1, static_cast<size_t>(q * values.size()));
  return values[index];
}

Phase RunPhase(const std::shared_ptr<grpc::Channel>& channel, int rate, absl::Duration duration,
               absl::Duration stats_every) {
  Phase phase;
  auto stub = v1::ControlService::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->PublishStream(&context);
  const int64_t total = static_cast<int64_t>(rate * absl::ToDoubleSeconds(duration));
  std::vector<Clock::time_point> sent(static_cast<size_t>(total));
  std::atomic<bool> done{false};

  std::thread reader([&] {
    v1::PublishStreamResponse response;
    while (stream->Read(&response)) {
      int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                       Clock::now() - sent[response.request_id()])
                       .count();
      phase.publish_us.push_back(us);
      if (response.error_code() != 0) ++phase.failed;
    }
  });
  std::thread stats;
  if (stats_every > absl::ZeroDuration()) {
    stats = std::thread([&] {
      auto stats_stub = v1::ControlService::NewStub(channel);
      while (!done.load()) {
        grpc::ClientContext stats_context;
        v1::StatsRequest request;
        request.set_top_channels(100);
        v1::StatsResponse response;
        Clock::time_point start = Clock::now();
        grpc::Status status = stats_stub->Stats(&stats_context, request, &response);
        if (status.ok()) {
          phase.stats_us.push_back(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count());
        }
        absl::SleepFor(stats_every);
      }
    });
  }
  const std::string data = R"({"token":"lorem ipsum dolor sit amet"})";
  Clock::time_point start = Clock::now();
  for (int64_t i = 0; i < total; ++i) {
    Clock::time_point due = start + std::chrono::microseconds(i * 1000000 / rate);
    std::this_thread::sleep_until(due);
    v1::PublishStreamRequest request;
    request.set_channel("hot");
    request.set_data(data);
    request.set_request_id(static_cast<uint64_t>(i));
    sent[static_cast<size_t>(i)] = Clock::now();
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  reader.join();
  (void)stream->Finish();
  done.store(true);
  if (stats.joinable()) stats.join();
  return phase;
}

void Print(const char* name, Phase phase) {
  std::printf(
      "%-22s publications %zu (failed %llu): latency p50 %lld us, p99 %lld, p999 %lld, max "
      "%lld; Stats calls %zu: p50 %lld us, max %lld\n",
      name, phase.publish_us.size(), static_cast<unsigned long long>(phase.failed),
      static_cast<long long>(Percentile(phase.publish_us, 0.5)),
      static_cast<long long>(Percentile(phase.publish_us, 0.99)),
      static_cast<long long>(Percentile(phase.publish_us, 0.999)),
      static_cast<long long>(Percentile(phase.publish_us, 1.0)), phase.stats_us.size(),
      static_cast<long long>(Percentile(phase.stats_us, 0.5)),
      static_cast<long long>(Percentile(phase.stats_us, 1.0)));
}

int Main() {
  ControlServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.edge_listen = "127.0.0.1:0";
  ControlServer server(options);
  absl::StatusOr<int> port = server.Start();
  if (!port.ok()) {
    std::fprintf(stderr, "%s\n", std::string(port.status().message()).c_str());
    return 1;
  }
  // Publish and Stats go to the API, the fake edges to the edge link.
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials());
  auto edge_channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.edge_link_port()),
                                          grpc::InsecureChannelCredentials());
  std::vector<std::unique_ptr<testing::FakeEdge>> edges;
  for (int e = 0; e < absl::GetFlag(FLAGS_edges); ++e) {
    edge::v1::Hello hello;
    hello.set_edge_id(absl::StrCat("edge-", e));
    // One edge subscribes to the published channel; every edge reports
    // its channels, as real edges do every few seconds.
    if (e == 0) hello.add_channels("hot");
    hello.set_seq(1);
    edges.push_back(std::make_unique<testing::FakeEdge>(edge_channel, hello));
    if (!edges.back()->WaitForAck(1)) {
      std::fprintf(stderr, "edge %d not attached\n", e);
      return 1;
    }
  }
  std::vector<edge::v1::EdgeMessage> reports(edges.size());
  for (size_t e = 0; e < edges.size(); ++e) {
    edge::v1::EdgeStats* stats = reports[e].mutable_stats();
    stats->set_connections(1000);
    for (int c = 0; c < absl::GetFlag(FLAGS_channels_per_edge); ++c) {
      edge::v1::ChannelCount* count = stats->add_channels();
      count->set_channel(absl::StrCat("load:", e, "-", c));
      count->set_subscribers(static_cast<uint64_t>(c % 97 + 1));
    }
  }
  std::atomic<bool> reporting{true};
  std::thread reporter([&] {
    while (reporting.load()) {
      for (size_t e = 0; e < edges.size(); ++e) edges[e]->Send(reports[e]);
      absl::SleepFor(absl::Seconds(1));
    }
  });
  absl::SleepFor(absl::Milliseconds(500));
  const int rate = absl::GetFlag(FLAGS_rate);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  Print("without Stats:", RunPhase(channel, rate, duration, absl::ZeroDuration()));
  Print(absl::StrCat("Stats every ", absl::FormatDuration(absl::GetFlag(FLAGS_stats_every)), ":")
            .c_str(),
        RunPhase(channel, rate, duration, absl::GetFlag(FLAGS_stats_every)));
  reporting.store(false);
  reporter.join();
  edges.clear();
  server.Shutdown(absl::Seconds(1));
  return 0;
}

}  // namespace
}  // namespace wirehub::control

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return wirehub::control::Main();
}

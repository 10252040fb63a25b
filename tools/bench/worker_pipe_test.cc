#include "tools/bench/worker_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

TEST(WorkerPipeTest, TotalsTravelWithTheirHistogramsAndTimings) {
  ClientGroupTotals totals;
  totals.counts = {.received = 1000, .missing = 3, .duplicated = 2, .late = 1};
  totals.latency.Record(2'000'000);
  ReplyCursor cursor;
  totals.timings.Record(10, &cursor, 1, 0, 5'000'000);
  totals.timings.Record(10, &cursor, 2, 33'000'000, 40'000'000);

  absl::StatusOr<ClientGroupTotals> decoded = DecodeTotals(EncodeTotals(totals));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->counts.received, 1000u);
  EXPECT_EQ(decoded->counts.missing, 3u);
  EXPECT_EQ(decoded->counts.duplicated, 2u);
  EXPECT_EQ(decoded->counts.late, 1u);
  EXPECT_EQ(decoded->latency.Max(), 2'000'000);
  EXPECT_EQ(decoded->timings.first_token().Max(), 5'000'000);
  EXPECT_EQ(decoded->timings.gap_jitter().Max(), 2'000'000);

  ClientGroupTotals sum;
  AddTotals(*decoded, &sum);
  AddTotals(totals, &sum);
  EXPECT_EQ(sum.counts.received, 2000u);
  EXPECT_EQ(sum.latency.Count(), 2u);
  EXPECT_EQ(sum.timings.first_token().Count(), 2u);

  EXPECT_FALSE(DecodeTotals("1 2 3|0 0 0 0|0 0 0 0|0 0 0 0|0 0 0 0").ok());
  EXPECT_FALSE(DecodeTotals("1 2 3 4 0 0 0 0").ok());
  EXPECT_FALSE(DecodeTotals("1 2 3 4|0 0 0 0|0 0 0 0").ok());
}

TEST(WorkerPipeTest, FinishCommandRoundTrips) {
  std::string command = FinishCommand({7, 0, 12});
  EXPECT_EQ(command, "finish 3 7 0 12\n");
  command.pop_back();
  absl::StatusOr<std::vector<uint64_t>> last_seq = ParseFinishCommand(SplitFields(command));
  ASSERT_TRUE(last_seq.ok()) << last_seq.status();
  EXPECT_EQ(*last_seq, (std::vector<uint64_t>{7, 0, 12}));
  EXPECT_FALSE(ParseFinishCommand(SplitFields("finish 2 1")).ok());
  EXPECT_FALSE(ParseFinishCommand(SplitFields("finish 1 x")).ok());
}

TEST(WorkerPipeTest, WorkerArgsRoundTrip) {
  ClientGroupSpec spec;
  spec.host = "127.0.0.1";
  spec.ports = {4001, 4002};
  spec.source_addresses = {"127.0.0.2", "127.0.0.3"};
  spec.resource = "/connection/websocket";
  spec.clients = 6000;
  spec.channels = 3000;
  spec.channel_subscribers = {1, 2, 3};
  spec.reply_tokens = 100;
  spec.wire = WireFormat::kProtobuf;
  spec.threads = 2;
  spec.processes = 3;
  spec.token_issued_at = absl::FromUnixSeconds(1700000000);
  spec.token_expires_at = absl::FromUnixSeconds(1700007200);
  spec.token_secret = "not on the command line";

  std::vector<std::string> args = WorkerArgs(spec, 2);
  for (const std::string& arg : args) EXPECT_EQ(arg.find(spec.token_secret), std::string::npos);
  ClientGroupSpec parsed;
  size_t process = 0;
  ASSERT_TRUE(ParseWorkerArgs(args, &parsed, &process).ok());
  EXPECT_EQ(process, 2u);
  EXPECT_EQ(parsed.ports, spec.ports);
  EXPECT_EQ(parsed.source_addresses, spec.source_addresses);
  EXPECT_EQ(parsed.clients, 6000u);
  EXPECT_EQ(parsed.channels, 3000u);
  EXPECT_EQ(parsed.channel_subscribers, spec.channel_subscribers);
  EXPECT_EQ(parsed.reply_tokens, 100u);
  EXPECT_EQ(parsed.wire, WireFormat::kProtobuf);
  EXPECT_EQ(parsed.threads, 2u);
  EXPECT_EQ(parsed.processes, 3u);
  EXPECT_EQ(parsed.token_expires_at, spec.token_expires_at);
  // Without channel_subscribers the flag is empty and so is the list.
  spec.channel_subscribers.clear();
  ASSERT_TRUE(ParseWorkerArgs(WorkerArgs(spec, 0), &parsed, &process).ok());
  EXPECT_TRUE(parsed.channel_subscribers.empty());
  EXPECT_FALSE(ParseWorkerArgs({"--channel_subscribers=1,0"}, &parsed, &process).ok());
  EXPECT_FALSE(ParseWorkerArgs({"--wire=xml"}, &parsed, &process).ok());
}

TEST(WorkerPipeTest, LineReaderSplitsWhatArrives) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  ASSERT_TRUE(WriteAll(fds[1], "status 1 2\nresult 3"));
  ASSERT_TRUE(WriteAll(fds[1], " 4\nunterminated"));
  close(fds[1]);
  LineReader reader(fds[0]);
  std::string line;
  ASSERT_TRUE(reader.Next(&line));
  EXPECT_EQ(line, "status 1 2");
  EXPECT_TRUE(reader.HasLine());
  ASSERT_TRUE(reader.Next(&line));
  EXPECT_EQ(line, "result 3 4");
  EXPECT_FALSE(reader.Next(&line));
  close(fds[0]);
}

}  // namespace
}  // namespace wirehub::bench

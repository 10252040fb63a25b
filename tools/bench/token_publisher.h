// TokenPublisher: a backend streaming LLM replies token by token to many
// conversations (one channel each) through wirehub-control's gRPC API, at a
// fixed rate per conversation, in one of the ways docs/token-streaming.md
// compares.
#ifndef WIREHUB_TOOLS_BENCH_TOKEN_PUBLISHER_H_
#define WIREHUB_TOOLS_BENCH_TOKEN_PUBLISHER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/rate_publisher.h"

namespace wirehub::bench {

// How the backend hands its tokens to control.
enum class TokenApi {
  // One PublishStream per conversation, one request per token.
  kStream,
  // Every conversation on a few PublishStreams; each write carries every
  // token queued on its stream as one batch request (`items`).
  kMultiplexed,
  // One ControlService.Publish call per token.
  kUnary,
};

std::string_view TokenApiName(TokenApi api);
absl::StatusOr<TokenApi> ParseTokenApi(std::string_view name);

struct TokenPlan {
  TokenApi api = TokenApi::kMultiplexed;
  // "HOST:PORT" of wirehub-control's gRPC API.
  std::string target;
  // Conversation i publishes to channels[i].
  std::vector<std::string> channels;
  // Tokens per second of each conversation.
  double token_rate = 30;
  absl::Duration duration = absl::Seconds(10);
  // The bench payload of a token, padded to this size (BenchPayload); 0 or
  // anything below its minimum gives the smallest one.
  size_t payload_bytes = 0;
  // kMultiplexed: the PublishStreams, conversation i on stream i % streams,
  // all on one connection.
  size_t streams = 4;
  // kStream and kUnary: streams or calls per connection. Control allows
  // 1000 concurrent streams per connection (--max_concurrent_streams).
  size_t streams_per_connection = 500;
  // kUnary: calls in flight at most (a conversation has one at a time).
  size_t max_unary_in_flight = 4096;
  // kMultiplexed: items per batch request at most (control takes 1024).
  size_t max_batch_items = 1024;
  // How often the pacing thread wakes to send the tokens that are due.
  absl::Duration tick = absl::Milliseconds(1);
  absl::Duration connect_timeout = absl::Seconds(10);
  // kUnary: each call's deadline.
  absl::Duration call_timeout = absl::Seconds(10);
  // After the last token: how long to wait for the answers.
  absl::Duration drain_timeout = absl::Seconds(30);
};

// TokensPerConversation()
//
// The tokens each conversation of `plan` sends: token_rate * duration,
// rounded down. Their sequence numbers are 1..TokensPerConversation().
uint64_t TokensPerConversation(const TokenPlan& plan);

// TokenDueNs()
//
// When global token `j` is due, in nanoseconds after the start: token j is
// token j / n + 1 of conversation j % n (n conversations), and the
// conversations are staggered evenly over the first token interval, so
// tokens are due one every 1 / (token_rate * n) seconds.
int64_t TokenDueNs(uint64_t j, size_t conversations, double token_rate);

// RunTokenPublisher()
//
// Connects to control, sends every conversation's tokens on schedule from a
// pacing thread (this one) that wakes every plan.tick, then waits up to
// plan.drain_timeout for the answers and closes the streams. Each token is
// a bench payload stamped with the time its tick sent it; a token queued
// behind a write in flight keeps that stamp. Writes and answers complete on
// gRPC's callback threads: one write in flight per stream, at most
// plan.max_unary_in_flight calls.
//
// Errors only when it cannot start (bad plan, control unreachable);
// refused, lost or unanswered tokens are counted in the outcome (failed =
// sent - accepted). max_lag is how far behind schedule a tick fell.
absl::StatusOr<PublishOutcome> RunTokenPublisher(const TokenPlan& plan);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_TOKEN_PUBLISHER_H_

#include "tools/bench/token_publisher.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/token_acks.h"
#include "tools/bench/token_sink.h"

namespace wirehub::bench {

std::string_view TokenApiName(TokenApi api) {
  switch (api) {
    case TokenApi::kStream:
      return "stream";
    case TokenApi::kMultiplexed:
      return "multiplexed";
    case TokenApi::kUnary:
      return "unary";
  }
  return "unknown";
}

absl::StatusOr<TokenApi> ParseTokenApi(std::string_view name) {
  for (TokenApi api : {TokenApi::kStream, TokenApi::kMultiplexed, TokenApi::kUnary}) {
    if (TokenApiName(api) == name) return api;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown token publishing api '", AsAbsl(name),
                                                 "' (stream, multiplexed, unary)"));
}

uint64_t TokensPerConversation(const TokenPlan& plan) {
  double tokens = std::floor(plan.token_rate * absl::ToDoubleSeconds(plan.duration) + 1e-9);
  return tokens > 0 ? static_cast<uint64_t>(tokens) : 0;
}

int64_t TokenDueNs(uint64_t j, size_t conversations, double token_rate) {
  return static_cast<int64_t>(static_cast<double>(j) * 1e9 /
                              (token_rate * static_cast<double>(conversations)));
}

absl::StatusOr<PublishOutcome> RunTokenPublisher(const TokenPlan& plan) {
  const size_t conversations = plan.channels.size();
  if (conversations == 0 || conversations > UINT32_MAX || !(plan.token_rate > 0) ||
      plan.duration <= absl::ZeroDuration() || plan.streams == 0 || plan.max_unary_in_flight == 0) {
    return absl::InvalidArgumentError(
        "a token plan needs conversations, a positive rate, a duration, streams and calls");
  }
  // Both outlive every reactor, or are left alive with them (below).
  auto acks_owner = std::make_unique<AckCounter>();
  AckCounter& acks = *acks_owner;
  absl::StatusOr<std::unique_ptr<TokenSink>> started = StartTokenSink(plan, &acks);
  if (!started.ok()) return started.status();
  std::unique_ptr<TokenSink> sink = *std::move(started);
  if (plan.api != TokenApi::kUnary) {
    // Control sets up a reactor per stream as its headers arrive; give
    // that a moment so the first replies do not measure it.
    const size_t opened = plan.api == TokenApi::kStream ? conversations : plan.streams;
    absl::SleepFor(absl::Milliseconds(100) + absl::Microseconds(100) * opened);
  }

  const uint64_t per_conversation = TokensPerConversation(plan);
  const uint64_t total = per_conversation * conversations;
  PublishOutcome outcome;
  outcome.last_seq.assign(conversations, per_conversation);
  const int64_t start = MonotonicNowNs();
  uint64_t j = 0;
  while (j < total) {
    const int64_t now = MonotonicNowNs();
    const int64_t first_due = start + TokenDueNs(j, conversations, plan.token_rate);
    if (now >= first_due) {
      outcome.max_lag = std::max(outcome.max_lag, absl::Nanoseconds(now - first_due));
      for (; j < total && start + TokenDueNs(j, conversations, plan.token_rate) <= now; ++j) {
        sink->Push(Token{static_cast<uint32_t>(j % conversations), j / conversations + 1, now});
      }
      sink->Flush();
    }
    if (j < total) absl::SleepFor(plan.tick);
  }
  outcome.sent = total;

  // Answers: until every token is settled, or the drain timeout.
  const int64_t drain_deadline = MonotonicNowNs() + absl::ToInt64Nanoseconds(plan.drain_timeout);
  while (acks.settled() < total && MonotonicNowNs() < drain_deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  outcome.elapsed = absl::Nanoseconds(MonotonicNowNs() - start);
  const uint64_t unsettled = total - std::min(total, acks.settled());
  if (!sink->Close(absl::Seconds(10))) {
    // A reactor still running may touch the sink and the counts: leave
    // them be.
    acks.NoteError("gRPC did not end the publisher's streams; they were left running");
    static_cast<void>(sink.release());
    outcome.first_error = acks.first_error();
    outcome.accepted = acks.accepted();
    outcome.failed = total - std::min(total, outcome.accepted);
    static_cast<void>(acks_owner.release());
    return outcome;
  }
  outcome.accepted = acks.accepted();
  outcome.failed = total - std::min(total, outcome.accepted);
  outcome.first_error = acks.first_error();
  outcome.answer_latency = acks.answers();
  if (outcome.first_error.empty() && unsettled > 0) {
    outcome.first_error = absl::StrCat(unsettled, " tokens unanswered after ",
                                       absl::FormatDuration(plan.drain_timeout));
  }
  return outcome;
}

}  // namespace wirehub::bench

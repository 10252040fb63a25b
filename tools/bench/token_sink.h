// TokenSink: how a TokenPublisher's tokens reach control, one
// implementation per TokenApi, all on gRPC's callback API (no thread per
// stream or call).
#ifndef WIREHUB_TOOLS_BENCH_TOKEN_SINK_H_
#define WIREHUB_TOOLS_BENCH_TOKEN_SINK_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tools/bench/token_acks.h"
#include "tools/bench/token_publisher.h"

namespace wirehub::bench {

// TokenSink takes the pacing thread's tokens to control.
// Thread: Push(), Flush() and Close() from the pacing thread only; the
// implementations complete their work on gRPC's callback threads.
class TokenSink {
 public:
  virtual ~TokenSink() = default;
  // Queues a token.
  virtual void Push(const Token& token) = 0;
  // Starts sending what was queued since the last Flush().
  virtual void Flush() = 0;
  // Ends every stream (or lets every call finish), cancelling what is
  // still open after `timeout`. False when something did not end even
  // then: the sink must not be destroyed.
  virtual bool Close(absl::Duration timeout) = 0;
};

// StartTokenSink()
//
// Connects to control at plan.target (each connection waited for up to
// plan.connect_timeout) and, for the stream APIs, opens the streams; every
// token's fate is counted in `*acks`, which must outlive the sink.
// Unavailable when control cannot be reached.
absl::StatusOr<std::unique_ptr<TokenSink>> StartTokenSink(const TokenPlan& plan, AckCounter* acks);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_TOKEN_SINK_H_

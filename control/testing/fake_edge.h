// FakeEdge: a test stand-in for wirehub-edge's control link. It attaches to
// control through the real EdgeLinkService.Attach stub, records what control
// sends and answers server API commands with a handler the test chooses.
#ifndef WIREHUB_CONTROL_TESTING_FAKE_EDGE_H_
#define WIREHUB_CONTROL_TESTING_FAKE_EDGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wirehub/edge/v1/edge.grpc.pb.h"

namespace wirehub::control::testing {

// Answers one command; nullopt leaves it unanswered.
using CommandHandler =
    std::function<std::optional<edge::v1::CommandResult>(const edge::v1::EdgeCommand&)>;

// Thread-safe. Every wait is bounded and returns false on timeout.
class FakeEdge {
 public:
  // Attaches to `channel` with `hello` (sent at once).
  FakeEdge(const std::shared_ptr<grpc::Channel>& channel, const edge::v1::Hello& hello);
  // Cancels the stream if still open and joins the reader.
  ~FakeEdge();
  FakeEdge(const FakeEdge&) = delete;
  FakeEdge& operator=(const FakeEdge&) = delete;

  // Send() writes one message; false when the stream is broken.
  bool Send(const edge::v1::EdgeMessage& message);
  // SendInterest() sends `change` and waits for its ack (`change.seq` != 0).
  bool SendInterest(const edge::v1::InterestChange& change,
                    absl::Duration timeout = absl::Seconds(10));
  // WaitForAck() waits until control acknowledged interest `seq`.
  bool WaitForAck(uint64_t seq, absl::Duration timeout = absl::Seconds(10));
  // WaitForPublications() waits until at least `count` publications (join
  // and leave events included) arrived.
  bool WaitForPublications(size_t count, absl::Duration timeout = absl::Seconds(10));
  // Everything received so far, in arrival order.
  std::vector<edge::v1::Publication> publications() const;
  // Commands received so far.
  std::vector<edge::v1::EdgeCommand> commands() const;
  bool WaitForCommands(size_t count, absl::Duration timeout = absl::Seconds(10));

  // Answers every later command (default: answer nothing).
  void set_command_handler(CommandHandler handler);

  // Close() half-closes and waits for control to end the stream.
  bool Close(absl::Duration timeout = absl::Seconds(10));
  // Cancel() drops the stream abruptly, as a crashed edge's kernel would.
  void Cancel();
  // WaitForEnd() waits until control ended the stream; `status` is how.
  bool WaitForEnd(grpc::Status* status, absl::Duration timeout = absl::Seconds(10));

 private:
  void ReadLoop();

  grpc::ClientContext context_;
  std::unique_ptr<edge::v1::EdgeLinkService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<edge::v1::EdgeMessage, edge::v1::ControlMessage>>
      stream_;
  absl::Mutex write_mu_;  // One writer at a time: test thread and reader.
  bool writes_done_ ABSL_GUARDED_BY(write_mu_) = false;

  mutable absl::Mutex mu_;
  std::vector<edge::v1::Publication> publications_ ABSL_GUARDED_BY(mu_);
  std::vector<edge::v1::EdgeCommand> commands_ ABSL_GUARDED_BY(mu_);
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  CommandHandler handler_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_);
  std::thread reader_;
};

}  // namespace wirehub::control::testing

#endif  // WIREHUB_CONTROL_TESTING_FAKE_EDGE_H_

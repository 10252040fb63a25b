#include "control/testing/fake_edge.h"

#include <chrono>
#include <utility>

namespace wirehub::control::testing {

FakeEdge::FakeEdge(const std::shared_ptr<grpc::Channel>& channel, const edge::v1::Hello& hello)
    : stub_(edge::v1::EdgeLinkService::NewStub(channel)) {
  // Bounded even if a test forgets to close: nothing here outlives a minute.
  context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  stream_ = stub_->Attach(&context_);
  edge::v1::EdgeMessage message;
  *message.mutable_hello() = hello;
  Send(message);
  reader_ = std::thread([this] { ReadLoop(); });
}

FakeEdge::~FakeEdge() {
  context_.TryCancel();
  reader_.join();
}

bool FakeEdge::Send(const edge::v1::EdgeMessage& message) {
  absl::MutexLock lock(&write_mu_);
  if (writes_done_) return false;
  return stream_->Write(message);
}

bool FakeEdge::SendInterest(const edge::v1::InterestChange& change, absl::Duration timeout) {
  edge::v1::EdgeMessage message;
  *message.mutable_interest() = change;
  return Send(message) && WaitForAck(change.seq(), timeout);
}

bool FakeEdge::WaitForAck(uint64_t seq, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto acked = [this, seq]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return acked_ >= seq; };
  return mu_.AwaitWithTimeout(absl::Condition(&acked), timeout);
}

bool FakeEdge::WaitForPublications(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return publications_.size() >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

std::vector<edge::v1::Publication> FakeEdge::publications() const {
  absl::MutexLock lock(&mu_);
  return publications_;
}

std::vector<edge::v1::EdgeCommand> FakeEdge::commands() const {
  absl::MutexLock lock(&mu_);
  return commands_;
}

bool FakeEdge::WaitForCommands(size_t count, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return commands_.size() >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void FakeEdge::set_command_handler(CommandHandler handler) {
  absl::MutexLock lock(&mu_);
  handler_ = std::move(handler);
}

bool FakeEdge::Close(absl::Duration timeout) {
  {
    absl::MutexLock lock(&write_mu_);
    if (!writes_done_) {
      writes_done_ = true;
      stream_->WritesDone();
    }
  }
  grpc::Status status;
  return WaitForEnd(&status, timeout);
}

void FakeEdge::Cancel() { context_.TryCancel(); }

bool FakeEdge::WaitForEnd(grpc::Status* status, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return ended_; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&ended), timeout)) return false;
  *status = end_status_;
  return true;
}

void FakeEdge::ReadLoop() {
  edge::v1::ControlMessage message;
  while (stream_->Read(&message)) {
    std::vector<edge::v1::CommandResult> answers;
    {
      absl::MutexLock lock(&mu_);
      for (const edge::v1::Publication& publication : message.publications()) {
        publications_.push_back(publication);
      }
      if (message.interest_ack() != 0) acked_ = message.interest_ack();
      for (const edge::v1::EdgeCommand& command : message.commands()) {
        commands_.push_back(command);
        if (!handler_) continue;
        std::optional<edge::v1::CommandResult> result = handler_(command);
        if (!result.has_value()) continue;
        result->set_id(command.id());
        answers.push_back(std::move(*result));
      }
    }
    for (edge::v1::CommandResult& answer : answers) {
      edge::v1::EdgeMessage reply;
      *reply.mutable_result() = std::move(answer);
      Send(reply);
    }
  }
  grpc::Status status = stream_->Finish();
  absl::MutexLock lock(&mu_);
  ended_ = true;
  end_status_ = status;
}

}  // namespace wirehub::control::testing

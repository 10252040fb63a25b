// FakeTransport: a Transport for tests, driven by hand.
#ifndef WIREHUB_EDGE_TESTING_FAKE_TRANSPORT_H_
#define WIREHUB_EDGE_TESTING_FAKE_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "edge/transport.h"

namespace wirehub::edge::testing {

// FakeTransport records what the server sends and closes, queues posted
// tasks until RunPosted(), and fires timers on Tick().
// Thread: the test's thread only (Post() too).
class FakeTransport final : public Transport {
 public:
  struct Peer {
    std::unique_ptr<Connection> connection;
    // Every frame sent, one protocol message each.
    std::vector<std::string> sent;
    // The same frames as shared: equal pointers are one encoding.
    std::vector<Frame> frames;
    size_t queued_bytes = 0;
    int close_code = 0;
    std::string close_reason;
  };

  explicit FakeTransport(size_t queue_max_bytes = 1 << 20) : queue_max_bytes_(queue_max_bytes) {}

  void set_handler(TransportHandler* handler) { handler_ = handler; }

  // A client connects: returns its connection id.
  uint64_t Open(WireFormat format = WireFormat::kJson) {
    uint64_t id = next_id_++;
    Peer& peer = peers_[id];
    peer.connection = std::make_unique<Connection>(id);
    peer.connection->format = format;
    handler_->OnOpen(peer.connection.get());
    return id;
  }
  // A client sends one text message.
  void Receive(uint64_t id, std::string_view message, bool binary = false) {
    handler_->OnMessage(peers_.at(id).connection.get(), message, binary);
  }
  // The socket is gone (after a close, or the client left).
  void Drop(uint64_t id) {
    auto it = peers_.find(id);
    if (it == peers_.end() || it->second.connection == nullptr) return;
    handler_->OnClose(it->second.connection.get());
    it->second.connection.reset();
  }
  Peer& peer(uint64_t id) { return peers_.at(id); }
  // Messages sent to `id` since the last call.
  std::vector<std::string> Take(uint64_t id) {
    Peer& p = peers_.at(id);
    std::vector<std::string> out = std::move(p.sent);
    p.sent.clear();
    p.queued_bytes = 0;
    return out;
  }
  // Makes the next sends to `id` report a full queue.
  void SetQueued(uint64_t id, size_t bytes) { peers_.at(id).queued_bytes = bytes; }

  // Runs every posted task (and the tasks they post), in order.
  size_t RunPosted() {
    size_t ran = 0;
    while (!posted_.empty()) {
      std::vector<std::function<void()>> tasks = std::move(posted_);
      posted_.clear();
      for (auto& task : tasks) task();
      ran += tasks.size();
    }
    return ran;
  }
  // Fires every timer once.
  void Tick() {
    std::vector<TimerId> ids;
    for (const auto& [id, timer] : timers_) ids.push_back(id);
    for (TimerId id : ids) {
      auto it = timers_.find(id);
      if (it != timers_.end()) it->second.task();
    }
  }
  bool stopped() const { return stopped_; }
  size_t timers() const { return timers_.size(); }

  bool Send(Connection* connection, Frame frame) override {
    Peer& p = peers_.at(connection->id);
    if (p.close_code != 0) return true;
    if (p.queued_bytes + frame->size() > queue_max_bytes_) return false;
    p.queued_bytes += frame->size();
    p.sent.push_back(*frame);
    p.frames.push_back(std::move(frame));
    return true;
  }
  void Close(Connection* connection, int code, std::string_view reason) override {
    Peer& p = peers_.at(connection->id);
    if (p.close_code != 0) return;
    p.close_code = code;
    p.close_reason = std::string(reason);
  }
  size_t QueuedBytes(const Connection* connection) const override {
    return peers_.at(connection->id).queued_bytes;
  }
  TimerId StartTimer(absl::Duration period, std::function<void()> task) override {
    TimerId id = next_timer_++;
    timers_[id] = Timer{period, std::move(task)};
    return id;
  }
  void CancelTimer(TimerId id) override { timers_.erase(id); }
  void Post(std::function<void()> task) override { posted_.push_back(std::move(task)); }
  void StopLoop() override { stopped_ = true; }
  bool OnLoopThread() const override { return true; }

 private:
  struct Timer {
    absl::Duration period;
    std::function<void()> task;
  };
  const size_t queue_max_bytes_;
  TransportHandler* handler_ = nullptr;
  std::map<uint64_t, Peer> peers_;
  uint64_t next_id_ = 1;
  TimerId next_timer_ = 1;
  std::map<TimerId, Timer> timers_;
  std::vector<std::function<void()>> posted_;
  bool stopped_ = false;
};

}  // namespace wirehub::edge::testing

#endif  // WIREHUB_EDGE_TESTING_FAKE_TRANSPORT_H_

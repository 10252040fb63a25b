// Transport: the edge's WebSocket server as the protocol logic sees it.
#ifndef WIREHUB_EDGE_TRANSPORT_H_
#define WIREHUB_EDGE_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "edge/outbound_queue.h"
#include "edge/wire_format.h"

namespace wirehub::edge {

// One client connection. The transport creates it before
// TransportHandler::OnOpen and destroys it after OnClose returns; the
// handler keeps its own state in `user`.
// Thread: edge loop only.
struct Connection {
  explicit Connection(uint64_t id) : id(id) {}
  virtual ~Connection() = default;

  const uint64_t id;
  void* user = nullptr;
  // Set by the transport from the handshake, before OnOpen; never changes.
  WireFormat format = WireFormat::kJson;
};

// The transport's calls up into the protocol logic.
// Thread: edge loop only.
class TransportHandler {
 public:
  virtual ~TransportHandler() = default;
  // A WebSocket handshake completed.
  virtual void OnOpen(Connection* connection) = 0;
  // One whole message (fragments already joined, at most the transport's
  // message bound; a larger one closes the connection with 1009 instead).
  virtual void OnMessage(Connection* connection, std::string_view message, bool binary) = 0;
  // The connection is gone; `connection` is destroyed when this returns.
  virtual void OnClose(Connection* connection) = 0;
};

// Transport owns the event loop and the client sockets. Everything but
// Post() and RequestStop() runs on the loop thread.
class Transport {
 public:
  using TimerId = uint64_t;

  virtual ~Transport() = default;

  // Queues `frame` for `connection`. False, queueing nothing, when that
  // would take the connection's queue past its bound (the caller closes
  // it as slow). Frames queued in one loop turn leave in one write.
  virtual bool Send(Connection* connection, Frame frame) = 0;
  // Closes with a close frame carrying `code` and `reason` (cut to what a
  // close frame holds). What is already queued goes out first when it is
  // small (replies to the commands that led to the close); a large queue
  // (the client is not reading) is dropped. Nothing queued after the call
  // is sent. Idempotent.
  virtual void Close(Connection* connection, int code, std::string_view reason) = 0;
  // Bytes queued and not yet written.
  virtual size_t QueuedBytes(const Connection* connection) const = 0;

  // Runs `task` every `period` on the loop until CancelTimer().
  virtual TimerId StartTimer(absl::Duration period, std::function<void()> task) = 0;
  virtual void CancelTimer(TimerId id) = 0;

  // The one door into the loop from other threads. Thread-safe. Tasks run
  // in the order posted; tasks still queued when the loop ends are
  // destroyed without running.
  virtual void Post(std::function<void()> task) = 0;
  // Ends the loop (Run() returns) after the current turn. Loop thread.
  virtual void StopLoop() = 0;
  // True on the loop thread (or before the loop runs).
  virtual bool OnLoopThread() const = 0;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_TRANSPORT_H_

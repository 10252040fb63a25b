#include "edge/session_registry.h"

#include <memory>
#include <utility>

#include "edge/client_protocol.h"

namespace wirehub::edge {

SessionRegistry::~SessionRegistry() {
  for (ClientSession* session : sessions_) delete session;
}

ClientSession* SessionRegistry::Open(Connection* connection) {
  auto* session = new ClientSession(connection);
  connection->user = session;
  sessions_.insert(session);
  return session;
}

void SessionRegistry::Remove(ClientSession* session) {
  session->connection->user = nullptr;
  sessions_.erase(session);
  delete session;
}

ClientSession* SessionRegistry::Find(uint64_t id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : *it;
}

void SessionRegistry::Write(ClientSession* session, Frame frame) {
  if (session->close_code != 0) return;
  if (!transport_->Send(session->connection, std::move(frame))) {
    Disconnect(session, kCloseSlow, "slow");
  }
}

bool SessionRegistry::Send(ClientSession* session, Frame frame) {
  if (session->close_code != 0) return false;
  if (session->replies.Pass(frame)) {
    Write(session, std::move(frame));
    return session->close_code == 0;
  }
  if (session->replies.held_bytes() + transport_->QueuedBytes(session->connection) >
      limits_.queue_max_bytes) {
    Disconnect(session, kCloseSlow, "slow");
    return false;
  }
  return true;
}

bool SessionRegistry::SendText(ClientSession* session, std::string text) {
  return Send(session, std::make_shared<const std::string>(std::move(text)));
}

void SessionRegistry::Answer(ClientSession* session, ReplySequencer::Ticket ticket,
                             std::vector<Frame> frames) {
  if (session->close_code != 0) return;
  session->replies.Fill(ticket, std::move(frames));
  Flush(session);
}

void SessionRegistry::AnswerText(ClientSession* session, ReplySequencer::Ticket ticket,
                                 std::string text) {
  std::vector<Frame> frames;
  frames.push_back(std::make_shared<const std::string>(std::move(text)));
  Answer(session, ticket, std::move(frames));
}

void SessionRegistry::Flush(ClientSession* session) {
  released_.clear();
  session->replies.Release(&released_);
  for (Frame& frame : released_) {
    Write(session, std::move(frame));
    if (session->close_code != 0) break;
  }
  released_.clear();
}

void SessionRegistry::Disconnect(ClientSession* session, int code, std::string_view reason) {
  if (session->close_code != 0) return;
  session->close_code = code;
  transport_->Close(session->connection, code, reason);
}

bool SessionRegistry::TryAcquireCall(ClientSession* session) {
  if (session->calls_in_flight >= limits_.max_calls_per_connection ||
      edge_calls_ >= limits_.max_calls_per_edge) {
    return false;
  }
  ++session->calls_in_flight;
  ++edge_calls_;
  return true;
}

void SessionRegistry::ReleaseCall(uint64_t session_id) {
  if (edge_calls_ > 0) --edge_calls_;
  ClientSession* session = Find(session_id);
  if (session != nullptr && session->calls_in_flight > 0) --session->calls_in_flight;
}

}  // namespace wirehub::edge

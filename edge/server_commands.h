// ServerCommands: the server API's calls (Subscribe ... Info) as they reach
// one edge from control.
#ifndef WIREHUB_EDGE_SERVER_COMMANDS_H_
#define WIREHUB_EDGE_SERVER_COMMANDS_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "edge/client_session.h"
#include "edge/session_registry.h"
#include "edge/subscriptions.h"
#include "wirehub/edge/v1/edge.pb.h"

namespace wirehub::edge {

struct NodeIdentity {
  std::string edge_id;
  std::string version;
  // HOST:PORT clients connect to.
  std::string address;
  absl::Time started_at;
};

// ServerCommands applies each EdgeCommand to the matching local connections
// and describes the outcome in one CommandResult.
// Thread: edge loop only.
class ServerCommands {
 public:
  // `server_subscribe` starts a server-side subscription; false when the
  // session is already subscribed, the channel is invalid or the session
  // is at its limit.
  using ServerSubscribe = std::function<bool(ClientSession*, const std::string& channel)>;

  ServerCommands(NodeIdentity identity, SessionRegistry* sessions, Subscriptions* subscriptions,
                 ServerSubscribe server_subscribe)
      : identity_(std::move(identity)),
        sessions_(sessions),
        subscriptions_(subscriptions),
        server_subscribe_(std::move(server_subscribe)) {}

  edge::v1::CommandResult Handle(const edge::v1::EdgeCommand& command);
  void set_address(std::string address) { identity_.address = std::move(address); }

 private:
  // Connected sessions of `tenant` with that user and/or client id; none
  // when both are empty.
  std::vector<ClientSession*> Match(std::string_view tenant, std::string_view user,
                                    std::string_view client) const;
  uint64_t Subscribe(const control::v1::SubscribeRequest& request);
  uint64_t Unsubscribe(const control::v1::UnsubscribeRequest& request);
  uint64_t Disconnect(const control::v1::DisconnectRequest& request);
  uint64_t Refresh(const control::v1::RefreshRequest& request);
  void Connections(const control::v1::ConnectionsRequest& request,
                   edge::v1::CommandResult* result) const;
  void Channels(const control::v1::ChannelsRequest& request, edge::v1::CommandResult* result) const;
  void Info(edge::v1::CommandResult* result) const;

  NodeIdentity identity_;
  SessionRegistry* const sessions_;
  Subscriptions* const subscriptions_;
  const ServerSubscribe server_subscribe_;
};

}  // namespace wirehub::edge

#endif  // WIREHUB_EDGE_SERVER_COMMANDS_H_

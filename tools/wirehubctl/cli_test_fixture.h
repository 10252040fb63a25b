// The fixture of wirehubctl's subcommand tests: CliTest runs RunCli() with
// captured streams, a fixed clock and environment, and a FakeClient that
// records every request and answers from FakeControl.
#ifndef WIREHUB_TOOLS_WIREHUBCTL_CLI_TEST_FIXTURE_H_
#define WIREHUB_TOOLS_WIREHUBCTL_CLI_TEST_FIXTURE_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include "tools/wirehubctl/cli.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/jwt.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tools/wirehubctl/ws_test_server.h"

namespace wirehub::ctl {

namespace v1 = ::wirehub::control::v1;

// What the fake ControlService saw and what it answers. Shared by every
// client the fixture's factory hands out.
struct FakeControl {
  grpc::Status status = grpc::Status::OK;
  v1::PublishResponse publish_response;
  v1::BroadcastResponse broadcast_response;
  v1::StatsResponse stats_response;
  v1::HistoryResponse history_response;

  // PublishStream: how one request is answered (default: success with
  // offset 10 * request_id and epoch "e"), whether answers wait for the end
  // of the input, how many of the last answers are never sent, and the
  // stream's final status.
  std::function<v1::PublishStreamResponse(const v1::PublishStreamRequest&)> answer;
  bool answer_after_input = false;
  size_t drop_answers = 0;
  grpc::Status stream_status = grpc::Status::OK;

  std::vector<v1::PublishRequest> publishes;
  std::vector<v1::BroadcastRequest> broadcasts;
  std::vector<v1::StatsRequest> stats;
  std::vector<v1::HistoryRequest> histories;
  std::vector<v1::HistoryRemoveRequest> history_removes;
  std::vector<v1::PublishStreamRequest> stream_requests;
  int streams = 0;

  // The calls added with tenants: each records its requests and answers
  // with the matching response (paged calls: one response per call, in
  // order, the last one repeated).
  std::vector<v1::PresenceResponse> presence_pages;
  v1::PresenceStatsResponse presence_stats_response;
  v1::SubscribeResponse subscribe_response;
  v1::UnsubscribeResponse unsubscribe_response;
  v1::DisconnectResponse disconnect_response;
  v1::RefreshResponse refresh_response;
  std::vector<v1::ConnectionsResponse> connections_pages;
  std::vector<v1::ChannelsResponse> channels_pages;
  v1::InfoResponse info_response;

  std::vector<v1::PresenceRequest> presences;
  std::vector<v1::PresenceStatsRequest> presence_stats;
  std::vector<v1::SubscribeRequest> subscribes;
  std::vector<v1::UnsubscribeRequest> unsubscribes;
  std::vector<v1::DisconnectRequest> disconnects;
  std::vector<v1::RefreshRequest> refreshes;
  std::vector<v1::ConnectionsRequest> connection_lists;
  std::vector<v1::ChannelsRequest> channel_lists;
  int infos = 0;
};

// The answer to the `index`th call of a paged RPC.
template <typename Response>
Response Page(const std::vector<Response>& pages, size_t index) {
  if (pages.empty()) return Response();
  return pages[std::min(index, pages.size() - 1)];
}

class FakeClient : public ControlClient {
 public:
  explicit FakeClient(FakeControl* control) : control_(control) {}

  grpc::Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) override {
    control_->publishes.push_back(request);
    *response = control_->publish_response;
    return control_->status;
  }
  grpc::Status Broadcast(const v1::BroadcastRequest& request,
                         v1::BroadcastResponse* response) override {
    control_->broadcasts.push_back(request);
    *response = control_->broadcast_response;
    return control_->status;
  }
  grpc::Status Stats(const v1::StatsRequest& request, v1::StatsResponse* response) override {
    control_->stats.push_back(request);
    *response = control_->stats_response;
    return control_->status;
  }
  grpc::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) override {
    control_->histories.push_back(request);
    *response = control_->history_response;
    return control_->status;
  }
  grpc::Status HistoryRemove(const v1::HistoryRemoveRequest& request,
                             v1::HistoryRemoveResponse* response) override {
    control_->history_removes.push_back(request);
    *response = v1::HistoryRemoveResponse();
    return control_->status;
  }
  grpc::Status Presence(const v1::PresenceRequest& request,
                        v1::PresenceResponse* response) override {
    control_->presences.push_back(request);
    *response = Page(control_->presence_pages, control_->presences.size() - 1);
    return control_->status;
  }
  grpc::Status PresenceStats(const v1::PresenceStatsRequest& request,
                             v1::PresenceStatsResponse* response) override {
    control_->presence_stats.push_back(request);
    *response = control_->presence_stats_response;
    return control_->status;
  }
  grpc::Status Subscribe(const v1::SubscribeRequest& request,
                         v1::SubscribeResponse* response) override {
    control_->subscribes.push_back(request);
    *response = control_->subscribe_response;
    return control_->status;
  }
  grpc::Status Unsubscribe(const v1::UnsubscribeRequest& request,
                           v1::UnsubscribeResponse* response) override {
    control_->unsubscribes.push_back(request);
    *response = control_->unsubscribe_response;
    return control_->status;
  }
  grpc::Status Disconnect(const v1::DisconnectRequest& request,
                          v1::DisconnectResponse* response) override {
    control_->disconnects.push_back(request);
    *response = control_->disconnect_response;
    return control_->status;
  }
  grpc::Status Refresh(const v1::RefreshRequest& request, v1::RefreshResponse* response) override {
    control_->refreshes.push_back(request);
    *response = control_->refresh_response;
    return control_->status;
  }
  grpc::Status Connections(const v1::ConnectionsRequest& request,
                           v1::ConnectionsResponse* response) override {
    control_->connection_lists.push_back(request);
    *response = Page(control_->connections_pages, control_->connection_lists.size() - 1);
    return control_->status;
  }
  grpc::Status Channels(const v1::ChannelsRequest& request,
                        v1::ChannelsResponse* response) override {
    control_->channel_lists.push_back(request);
    *response = Page(control_->channels_pages, control_->channel_lists.size() - 1);
    return control_->status;
  }
  grpc::Status Info(const v1::InfoRequest& request, v1::InfoResponse* response) override {
    ++control_->infos;
    *response = control_->info_response;
    return control_->status;
  }
  grpc::Status PublishStream(const NextStreamRequest& next_request,
                             const OnStreamResponse& on_response) override {
    ++control_->streams;
    std::vector<v1::PublishStreamResponse> answers;
    while (std::optional<v1::PublishStreamRequest> request = next_request()) {
      control_->stream_requests.push_back(*request);
      answers.push_back(Answer(*request));
      if (!control_->answer_after_input && control_->drop_answers == 0) {
        on_response(answers.back());
        answers.clear();
      }
    }
    answers.resize(answers.size() - std::min(answers.size(), control_->drop_answers));
    for (const v1::PublishStreamResponse& answer : answers) on_response(answer);
    return control_->stream_status;
  }

 private:
  v1::PublishStreamResponse Answer(const v1::PublishStreamRequest& request) const {
    if (control_->answer) return control_->answer(request);
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(10 * request.request_id());
    response.set_epoch("e");
    return response;
  }

 private:
  FakeControl* control_;
};

struct Connection {
  std::string target;
  absl::Duration timeout;
  std::string api_key;
  std::string tls_ca_file;
  std::string tls_server_name;
};

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args, const std::string& input = "") {
    out_.str("");
    err_.str("");
    in_.str(input);
    in_.clear();
    CliContext context;
    context.out = &out_;
    context.err = &err_;
    context.in = &in_;
    context.get_env = [this](std::string_view name) -> std::optional<std::string> {
      auto it = env_.find(std::string(name));
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    context.now = [this] { return now_; };
    context.connect =
        [this](const ControlTarget& target) -> absl::StatusOr<std::unique_ptr<ControlClient>> {
      connections_.push_back({target.address, target.timeout, target.api_key, target.tls_ca_file,
                              target.tls_server_name});
      return std::make_unique<FakeClient>(&control_);
    };
    return RunCli(args, context);
  }

  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

  std::string WriteSecretFile(const std::string& name, const std::string& contents) {
    std::string path = ::testing::TempDir() + "/" + name;
    std::ofstream file(path, std::ios::trunc);
    file << contents;
    return path;
  }

  FakeControl control_;
  std::vector<Connection> connections_;
  std::map<std::string, std::string> env_;
  absl::Time now_ = absl::FromUnixSeconds(1700000000);
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CLI_TEST_FIXTURE_H_

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
#include <streambuf>
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

  // PublishStream: how one publication is answered (default: success with
  // offset 10 * request_id and epoch "e"; a batch gets one such result per
  // item, unless `answer_batch` answers it whole), whether answers wait for
  // the end of the input, how many of the last answers are never sent, and
  // the stream's final status.
  std::function<v1::PublishStreamResponse(const v1::PublishStreamRequest&)> answer;
  std::function<v1::PublishStreamResponse(const v1::PublishStreamRequest&)> answer_batch;
  bool answer_after_input = false;
  size_t drop_answers = 0;
  grpc::Status stream_status = grpc::Status::OK;

  std::vector<v1::PublishRequest> publishes;
  std::vector<v1::BroadcastRequest> broadcasts;
  std::vector<v1::StatsRequest> stats;
  std::vector<v1::HistoryRequest> histories;
  std::vector<v1::HistoryRemoveRequest> history_removes;
  // Every request as sent (a batch as one), its `more_ready`, and every
  // publication (a batch's items in order).
  std::vector<v1::PublishStreamRequest> stream_requests;
  std::vector<bool> stream_more_ready;
  std::vector<v1::PublishStreamRequest> stream_publications;
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
    while (std::optional<StreamRequest> next = next_request()) {
      const v1::PublishStreamRequest& request = next->request;
      control_->stream_requests.push_back(request);
      control_->stream_more_ready.push_back(next->more_ready);
      if (request.items_size() == 0) {
        control_->stream_publications.push_back(request);
        answers.push_back(Answer(request));
      } else {
        control_->stream_publications.insert(control_->stream_publications.end(),
                                             request.items().begin(), request.items().end());
        answers.push_back(AnswerBatch(request));
      }
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

  v1::PublishStreamResponse AnswerBatch(const v1::PublishStreamRequest& request) const {
    if (control_->answer_batch) return control_->answer_batch(request);
    v1::PublishStreamResponse response;
    for (const v1::PublishStreamRequest& item : request.items()) {
      *response.add_results() = Answer(item);
    }
    return response;
  }

  FakeControl* control_;
};

struct Connection {
  std::string target;
  absl::Duration timeout;
  std::string api_key;
  std::string tls_ca_file;
  std::string tls_server_name;
};

// ChunkedInput is standard input fed by a producer that writes `chunks` one
// at a time, each only once the previous one has been read and the reader
// asks for more: what in_avail() reports is only the rest of the current
// chunk, as with a pipe whose writer is slower than its reader.
class ChunkedInput : public std::streambuf {
 public:
  explicit ChunkedInput(std::vector<std::string> chunks) : chunks_(std::move(chunks)) {
    setg(nullptr, nullptr, nullptr);
  }

  // How many chunks the reader has asked for so far.
  size_t taken() const { return next_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (next_ == chunks_.size()) return traits_type::eof();
    std::string& chunk = chunks_[next_++];
    setg(chunk.data(), chunk.data(), chunk.data() + chunk.size());
    return gptr() < egptr() ? traits_type::to_int_type(*gptr()) : underflow();
  }
  std::streamsize showmanyc() override { return next_ == chunks_.size() ? -1 : 0; }

 private:
  std::vector<std::string> chunks_;
  size_t next_ = 0;
};

class CliTest : public ::testing::Test {
 protected:
  int Run(std::vector<std::string> args, const std::string& input = "") {
    in_.str(input);
    in_.clear();
    return RunWithInput(std::move(args), &in_);
  }

  // Runs with `chunks` as standard input (ChunkedInput); `chunked_input_`
  // then tells how far it was read.
  int RunWithChunks(std::vector<std::string> args, std::vector<std::string> chunks) {
    chunked_input_ = std::make_unique<ChunkedInput>(std::move(chunks));
    chunked_stream_ = std::make_unique<std::istream>(chunked_input_.get());
    return RunWithInput(std::move(args), chunked_stream_.get());
  }

  int RunWithInput(std::vector<std::string> args, std::istream* in) {
    out_.str("");
    err_.str("");
    CliContext context;
    context.out = &out_;
    context.err = &err_;
    context.in = in;
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
  std::unique_ptr<ChunkedInput> chunked_input_;
  std::unique_ptr<std::istream> chunked_stream_;
};

}  // namespace wirehub::ctl

#endif  // WIREHUB_TOOLS_WIREHUBCTL_CLI_TEST_FIXTURE_H_

// FakeControlApi: a ControlApi for tests; calls wait until the test answers.
#ifndef WIREHUB_EDGE_TESTING_FAKE_CONTROL_API_H_
#define WIREHUB_EDGE_TESTING_FAKE_CONTROL_API_H_

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "edge/control_api.h"

namespace wirehub::edge::testing {

// FakeControlApi mirrors interest and presence like the real link, and
// keeps every unary call until the test answers it.
// Thread: the test's thread only.
class FakeControlApi final : public ControlApi {
 public:
  template <typename Request, typename Response>
  struct Call {
    Request request;
    Callback<Response> done;
  };

  uint64_t AddChannel(const std::string& key) override {
    channels.insert(key);
    return ++seq;
  }
  uint64_t RemoveChannel(const std::string& key) override {
    channels.erase(key);
    return ++seq;
  }
  void AddUser(const std::string& user) override { users.insert(user); }
  void RemoveUser(const std::string& user) override { users.erase(user); }
  void AddPresence(const std::string& key, const control::v1::ClientInfo& info) override {
    presence[key].insert(info.client());
  }
  void RemovePresence(const std::string& key, const std::string& client) override {
    presence[key].erase(client);
    if (presence[key].empty()) presence.erase(key);
  }
  void SendStats(edge::v1::EdgeStats report) override { stats.push_back(std::move(report)); }
  void SendResult(edge::v1::CommandResult result) override { results.push_back(std::move(result)); }

  void FetchHistory(const control::v1::HistoryRequest& request, absl::Duration,
                    Callback<control::v1::HistoryResponse> done) override {
    history.push_back({request, std::move(done)});
  }
  void FetchPresence(const control::v1::PresenceRequest& request, absl::Duration,
                     Callback<control::v1::PresenceResponse> done) override {
    presence_calls.push_back({request, std::move(done)});
  }
  void FetchPresenceStats(const control::v1::PresenceStatsRequest& request, absl::Duration,
                          Callback<control::v1::PresenceStatsResponse> done) override {
    presence_stats_calls.push_back({request, std::move(done)});
  }
  void Publish(const edge::v1::ClientPublishRequest& request, absl::Duration,
               Callback<control::v1::PublishResponse> done) override {
    publishes.push_back({request, std::move(done)});
  }

  // Answers the oldest call of `calls`.
  template <typename Request, typename Response>
  static void AnswerOldest(std::deque<Call<Request, Response>>& calls,
                           absl::StatusOr<Response> answer) {
    Call<Request, Response> call = std::move(calls.front());
    calls.pop_front();
    call.done(std::move(answer));
  }

  uint64_t seq = 0;
  std::set<std::string> channels;
  std::set<std::string> users;
  std::map<std::string, std::set<std::string>> presence;
  std::vector<edge::v1::EdgeStats> stats;
  std::vector<edge::v1::CommandResult> results;
  std::deque<Call<control::v1::HistoryRequest, control::v1::HistoryResponse>> history;
  std::deque<Call<control::v1::PresenceRequest, control::v1::PresenceResponse>> presence_calls;
  std::deque<Call<control::v1::PresenceStatsRequest, control::v1::PresenceStatsResponse>>
      presence_stats_calls;
  std::deque<Call<edge::v1::ClientPublishRequest, control::v1::PublishResponse>> publishes;
};

}  // namespace wirehub::edge::testing

#endif  // WIREHUB_EDGE_TESTING_FAKE_CONTROL_API_H_

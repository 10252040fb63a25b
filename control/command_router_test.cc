#include "control/command_router.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::UnorderedElementsAre;

int storage[3];
const EdgeSession* Session(int i) { return reinterpret_cast<const EdgeSession*>(&storage[i]); }

// Collects the one outcome of a command and counts completions.
// Declare before the router: its destructor completes what is in flight.
class Recorder {
 public:
  CommandCallback Callback() {
    return [this](CommandOutcome outcome) {
      absl::MutexLock lock(&mu_);
      ++calls_;
      outcome_ = std::move(outcome);
    };
  }
  // Waits (bounded) for the first completion.
  bool Wait(absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return calls_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  CommandOutcome outcome() {
    absl::MutexLock lock(&mu_);
    return *outcome_;
  }

 private:
  absl::Mutex mu_;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<CommandOutcome> outcome_ ABSL_GUARDED_BY(mu_);
};

edge::v1::CommandResult Result(uint64_t id, uint64_t connections) {
  edge::v1::CommandResult result;
  result.set_id(id);
  result.set_connections(connections);
  return result;
}

std::vector<std::string> AnsweredEdges(const CommandOutcome& outcome) {
  std::vector<std::string> ids;
  for (const auto& answer : outcome.answers) ids.push_back(answer.edge_id);
  return ids;
}

std::vector<CommandTarget> Targets(int n) {
  std::vector<CommandTarget> targets;
  for (int i = 0; i < n; ++i) targets.push_back({Session(i), "edge-" + std::to_string(i)});
  return targets;
}

TEST(CommandRouterTest, CompletesWhenEveryEdgeAnswered) {
  Recorder recorder;
  CommandRouter router;
  router.Start();
  uint64_t id = router.Begin(Targets(2), absl::Now() + absl::Seconds(30), recorder.Callback());
  EXPECT_NE(id, 0u);
  router.OnResult(Session(0), Result(id, 2));
  EXPECT_EQ(recorder.calls(), 0);
  router.OnResult(Session(1), Result(id, 3));
  // The last answer completes inline.
  ASSERT_EQ(recorder.calls(), 1);
  CommandOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.missing, 0u);
  EXPECT_THAT(AnsweredEdges(outcome), UnorderedElementsAre("edge-0", "edge-1"));
  uint64_t sum = 0;
  for (const auto& answer : outcome.answers) sum += answer.result.connections();
  EXPECT_EQ(sum, 5u);
  EXPECT_EQ(router.in_flight(), 0u);
}

TEST(CommandRouterTest, NoTargetsCompletesAtOnceWithEmptyOutcome) {
  Recorder recorder;
  CommandRouter router;
  router.Start();
  router.Begin({}, absl::Now() + absl::Seconds(30), recorder.Callback());
  ASSERT_TRUE(recorder.Wait()) << "no completion without targets";
  EXPECT_EQ(recorder.outcome().missing, 0u);
  EXPECT_TRUE(recorder.outcome().answers.empty());
}

TEST(CommandRouterTest, SilentEdgeCountsMissingAtDeadline) {
  Recorder recorder;
  CommandRouter router;
  router.Start();
  absl::Time start = absl::Now();
  uint64_t id = router.Begin(Targets(3), start + absl::Milliseconds(200), recorder.Callback());
  router.OnResult(Session(0), Result(id, 1));
  router.OnResult(Session(2), Result(id, 1));
  ASSERT_TRUE(recorder.Wait()) << "deadline did not complete the command";
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  CommandOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.missing, 1u);
  EXPECT_THAT(AnsweredEdges(outcome), UnorderedElementsAre("edge-0", "edge-2"));
  // A late answer changes nothing.
  router.OnResult(Session(1), Result(id, 1));
  EXPECT_EQ(recorder.calls(), 1);
}

TEST(CommandRouterTest, EarlierDeadlineWakesTheRouter) {
  Recorder slow;
  Recorder fast;
  CommandRouter router;
  router.Start();
  router.Begin(Targets(1), absl::Now() + absl::Seconds(60), slow.Callback());
  router.Begin(Targets(1), absl::Now() + absl::Milliseconds(100), fast.Callback());
  ASSERT_TRUE(fast.Wait(absl::Seconds(5))) << "a later deadline held back an earlier one";
  EXPECT_EQ(slow.calls(), 0);
}

TEST(CommandRouterTest, DetachedEdgeCountsMissingWithoutWaitingForDeadline) {
  Recorder recorder;
  CommandRouter router;
  router.Start();
  uint64_t id = router.Begin(Targets(2), absl::Now() + absl::Seconds(60), recorder.Callback());
  router.OnResult(Session(0), Result(id, 4));
  router.SessionGone(Session(1));
  ASSERT_TRUE(recorder.Wait(absl::Seconds(5))) << "detach did not complete the command";
  CommandOutcome outcome = recorder.outcome();
  EXPECT_EQ(outcome.missing, 1u);
  EXPECT_THAT(AnsweredEdges(outcome), UnorderedElementsAre("edge-0"));
}

TEST(CommandRouterTest, DetachCompletesOnTheRouterThreadNotInline) {
  // SessionGone is called under the hub lock; the callback must not run there.
  std::atomic<std::thread::id> ran_on{};
  absl::Notification done;
  CommandRouter router;
  router.Start();
  router.Begin(Targets(1), absl::Now() + absl::Seconds(60), [&](CommandOutcome outcome) {
    ran_on = std::this_thread::get_id();
    done.Notify();
  });
  router.SessionGone(Session(0));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(5)));
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
}

TEST(CommandRouterTest, IgnoresStrangersDuplicatesAndUnknownIds) {
  Recorder recorder;
  CommandRouter router;
  router.Start();
  uint64_t id = router.Begin(Targets(2), absl::Now() + absl::Seconds(60), recorder.Callback());
  router.OnResult(Session(2), Result(id, 100));      // not targeted
  router.OnResult(Session(0), Result(id + 1, 100));  // unknown id
  router.OnResult(Session(0), Result(id, 1));
  router.OnResult(Session(0), Result(id, 100));  // duplicate
  EXPECT_EQ(recorder.calls(), 0);
  router.OnResult(Session(1), Result(id, 2));
  ASSERT_EQ(recorder.calls(), 1);
  uint64_t sum = 0;
  for (const auto& answer : recorder.outcome().answers) sum += answer.result.connections();
  EXPECT_EQ(sum, 3u);
}

TEST(CommandRouterTest, CompletesExactlyOnceWhenAnswerDetachAndDeadlineRace) {
  for (int round = 0; round < 50; ++round) {
    Recorder recorder;
    CommandRouter router;
    router.Start();
    uint64_t id =
        router.Begin(Targets(2), absl::Now() + absl::Milliseconds(2), recorder.Callback());
    std::thread answer([&] { router.OnResult(Session(0), Result(id, 1)); });
    std::thread gone([&] { router.SessionGone(Session(1)); });
    answer.join();
    gone.join();
    ASSERT_TRUE(recorder.Wait());
    absl::SleepFor(absl::Milliseconds(5));
    EXPECT_EQ(recorder.calls(), 1);
    EXPECT_EQ(router.in_flight(), 0u);
  }
}

TEST(CommandRouterTest, DestructionCompletesWhatIsInFlight) {
  Recorder recorder;
  {
    CommandRouter router;
    router.Start();
    router.Begin(Targets(2), absl::Now() + absl::Hours(1), recorder.Callback());
  }
  ASSERT_EQ(recorder.calls(), 1);
  EXPECT_EQ(recorder.outcome().missing, 2u);
}

TEST(CommandRouterTest, IdsAreUnique) {
  Recorder a;
  Recorder b;
  CommandRouter router;
  router.Start();
  uint64_t first = router.Begin(Targets(1), absl::Now() + absl::Seconds(60), a.Callback());
  uint64_t second = router.Begin(Targets(1), absl::Now() + absl::Seconds(60), b.Callback());
  EXPECT_NE(first, second);
  router.OnResult(Session(0), Result(second, 7));
  ASSERT_EQ(b.calls(), 1);
  EXPECT_EQ(a.calls(), 0);
}

}  // namespace
}  // namespace wirehub::control

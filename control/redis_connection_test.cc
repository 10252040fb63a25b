#include "control/redis_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "control/redis_reply.h"
#include "control/testing/redis_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::control {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::RedisServer;
using ::testing::StartsWith;

constexpr absl::Duration kWait = absl::Seconds(10);

// What on_state, on_push and command callbacks reported, in order, for tests
// that check one against the other. Thread-safe.
class EventLog {
 public:
  void Add(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }

  RedisConnection::StateCallback StateCallback() {
    return [this](bool up, const std::string& run_id) {
      Add(up ? absl::StrCat("up ", run_id) : "down");
    };
  }

  // Waits until at least `count` events were added.
  bool WaitForCount(size_t count, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]()
                      ABSL_NO_THREAD_SAFETY_ANALYSIS { return events_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

// The result of one command, shared with its callback (which may run after
// a test gave up waiting).
struct Outcome {
  absl::Mutex mu;
  std::optional<absl::StatusOr<RedisReply>> result ABSL_GUARDED_BY(mu);
  int calls ABSL_GUARDED_BY(mu) = 0;
};

std::shared_ptr<Outcome> Send(RedisConnection& redis, std::vector<std::string> args,
                              int replies = 1, std::string_view expected_run_id = {}) {
  auto outcome = std::make_shared<Outcome>();
  redis.Command(
      std::move(args),
      [outcome](absl::StatusOr<RedisReply> reply) {
        absl::MutexLock lock(&outcome->mu);
        outcome->result = std::move(reply);
        ++outcome->calls;
      },
      replies, expected_run_id);
  return outcome;
}

absl::StatusOr<RedisReply> Wait(const std::shared_ptr<Outcome>& outcome,
                                absl::Duration timeout = kWait) {
  absl::MutexLock lock(&outcome->mu);
  Outcome* raw = outcome.get();
  auto done = [raw]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return raw->result.has_value(); };
  if (!outcome->mu.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    return absl::DeadlineExceededError("the callback did not run in time");
  }
  return *outcome->result;
}

// Sends one command and waits (bounded) for its callback.
absl::StatusOr<RedisReply> Call(RedisConnection& redis, std::vector<std::string> args,
                                int replies = 1) {
  return Wait(Send(redis, std::move(args), replies));
}

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = kWait) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

RedisReply Str(std::string value) { return RedisReply::String(std::move(value)); }
RedisReply Int(int64_t value) { return RedisReply::Integer(value); }

// A port with no listener (bound to port 0, read back, closed).
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Keeps the log lines written while it lives.
class CapturedLog : public LogSink {
 public:
  CapturedLog() { previous_ = SetLogSink(this); }
  ~CapturedLog() override { SetLogSink(previous_); }

  void Write(std::string_view line) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }

  // Lines containing `text`.
  int Count(std::string_view text) {
    absl::MutexLock lock(&mu_);
    int count = 0;
    for (const std::string& line : lines_) count += line.find(text) != std::string::npos;
    return count;
  }

 private:
  LogSink* previous_ = nullptr;
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// A TCP server that misbehaves as a Redis server, on its own thread.
class FakeRedis {
 public:
  enum class Mode {
    kGarbage,               // sends "?bad\r\n" on accept
    kSilent,                // reads and never answers
    kHandshakeThenGarbage,  // answers INFO server, then garbage to anything
  };

  // Listens on 127.0.0.1:`port` (0: any free port).
  explicit FakeRedis(Mode mode, int port = 0) : mode_(mode) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    socklen_t length = sizeof(address);
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(listen(listen_fd_, 16), 0);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Run(); });
  }

  ~FakeRedis() {
    stop_ = true;
    thread_.join();
    if (client_fd_ >= 0) close(client_fd_);
    close(listen_fd_);
  }

  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  void Run() {
    const size_t handshake_size = EncodedCommandSize({"INFO", "server"});
    size_t received = 0;
    while (!stop_) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {client_fd_, POLLIN, 0}};
      if (poll(fds, client_fd_ >= 0 ? 2 : 1, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        if (client_fd_ >= 0) close(client_fd_);
        client_fd_ = fd;
        received = 0;
        ++accepted_;
        if (mode_ == Mode::kGarbage) SendText("?bad\r\n");
        continue;
      }
      if (client_fd_ >= 0 && fds[1].revents != 0) {
        char buffer[4096];
        const ssize_t n = recv(client_fd_, buffer, sizeof(buffer), 0);
        if (n <= 0) {
          close(client_fd_);
          client_fd_ = -1;
          continue;
        }
        if (mode_ != Mode::kHandshakeThenGarbage) continue;
        const size_t before = received;
        received += static_cast<size_t>(n);
        if (before < handshake_size && received >= handshake_size) {
          const std::string info = "# Server\r\nredis_version:7.0.0\r\nrun_id:fake\r\n";
          SendText(absl::StrCat("$", info.size(), "\r\n", info, "\r\n"));
        }
        if (received > handshake_size) SendText("?bad\r\n");
      }
    }
  }

  void SendText(const std::string& text) {
    EXPECT_EQ(send(client_fd_, text.data(), text.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(text.size()));
  }

  const Mode mode_;
  int listen_fd_ = -1;
  int port_ = 0;
  // Fake's thread only.
  int client_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

class RedisConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> server = RedisServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  RedisConnectionOptions Options() {
    RedisConnectionOptions options;
    options.port = server_->port();
    options.name = "wirehub-test";
    options.min_reconnect_delay = absl::Milliseconds(20);
    options.max_reconnect_delay = absl::Milliseconds(200);
    return options;
  }

  // A started connection that is up (the test fails otherwise).
  std::unique_ptr<RedisConnection> Connect(RedisConnectionOptions options,
                                           RedisConnection::PushCallback on_push = nullptr) {
    auto redis =
        std::make_unique<RedisConnection>(std::move(options), log_.StateCallback(), on_push);
    redis->Start();
    EXPECT_TRUE(WaitUntil([&] { return redis->up(); })) << "not up within " << kWait;
    return redis;
  }

  std::unique_ptr<RedisServer> server_;
  EventLog log_;
};

TEST_F(RedisConnectionTest, SetGetIncrRoundTrip) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  EXPECT_EQ(*Call(*redis, {"SET", "key", "value"}), RedisReply::Status("OK"));
  EXPECT_EQ(*Call(*redis, {"GET", "key"}), Str("value"));
  EXPECT_EQ(*Call(*redis, {"INCR", "counter"}), Int(1));
  EXPECT_EQ(*Call(*redis, {"INCRBY", "counter", "41"}), Int(42));
  EXPECT_EQ(*Call(*redis, {"GET", "missing"}), RedisReply::Nil());
  EXPECT_TRUE(Call(*redis, {"GET", "missing"})->is_nil());
}

TEST_F(RedisConnectionTest, ErrorReplyIsAReplyNotAFailedStatus) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  ASSERT_TRUE(Call(*redis, {"SET", "key", "text"}).ok());
  absl::StatusOr<RedisReply> not_a_number = Call(*redis, {"INCR", "key"});
  ASSERT_TRUE(not_a_number.ok()) << not_a_number.status();
  EXPECT_TRUE(not_a_number->is_error());
  EXPECT_THAT(not_a_number->str, StartsWith("ERR value is not an integer"));

  absl::StatusOr<RedisReply> unknown = Call(*redis, {"NOSUCHCOMMAND", "x"});
  ASSERT_TRUE(unknown.ok()) << unknown.status();
  EXPECT_TRUE(unknown->is_error());
  EXPECT_THAT(unknown->str, StartsWith("ERR unknown command"));

  absl::StatusOr<RedisReply> wrong_type = Call(*redis, {"LPUSH", "key", "a"});
  ASSERT_TRUE(wrong_type.ok());
  EXPECT_THAT(wrong_type->str, StartsWith("WRONGTYPE"));
  // The connection is still in step.
  EXPECT_EQ(*Call(*redis, {"GET", "key"}), Str("text"));
}

TEST_F(RedisConnectionTest, ArraysWithNilAndEmptyArrays) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  EXPECT_EQ(*Call(*redis, {"RPUSH", "list", "a", "b", "c"}), Int(3));
  EXPECT_EQ(*Call(*redis, {"LRANGE", "list", "0", "-1"}),
            RedisReply::Array({Str("a"), Str("b"), Str("c")}));
  RedisReply empty = *Call(*redis, {"LRANGE", "nothing", "0", "-1"});
  EXPECT_TRUE(empty.is_array());
  EXPECT_TRUE(empty.elements.empty());
  ASSERT_TRUE(Call(*redis, {"SET", "k", "v"}).ok());
  EXPECT_EQ(*Call(*redis, {"MGET", "k", "missing"}),
            RedisReply::Array({Str("v"), RedisReply::Nil()}));
}

TEST_F(RedisConnectionTest, NestedArraysFromEval) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  absl::StatusOr<RedisReply> nested =
      Call(*redis, {"EVAL", "return {1, {2, {'x', 3}, {}}, 'y', redis.status_reply('FINE')}", "0"});
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_EQ(*nested,
            RedisReply::Array({Int(1),
                               RedisReply::Array({Int(2), RedisReply::Array({Str("x"), Int(3)}),
                                                  RedisReply::Array({})}),
                               Str("y"), RedisReply::Status("FINE")}))
      << nested->DebugString();
  absl::StatusOr<RedisReply> error =
      Call(*redis, {"EVAL", "return redis.error_reply('MINE')", "0"});
  ASSERT_TRUE(error.ok());
  EXPECT_TRUE(error->is_error());
  EXPECT_THAT(error->str, HasSubstr("MINE"));
}

TEST_F(RedisConnectionTest, BulkStringsAreBinarySafe) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  static constexpr char kTricky[] = "a\0b\r\n$3\r\n*1\r\n-ERR\r\n\0";
  const std::string tricky(kTricky, sizeof(kTricky) - 1);
  ASSERT_EQ(tricky.size(), 20u);
  ASSERT_TRUE(Call(*redis, {"SET", std::string("key\0\r\n", 6), tricky}).ok());
  EXPECT_EQ(*Call(*redis, {"GET", std::string("key\0\r\n", 6)}), Str(tricky));

  std::string big(1 << 20, '\0');
  std::mt19937 random(42);
  for (char& c : big) c = static_cast<char>(random());
  EXPECT_EQ(*Call(*redis, {"SET", "big", big}), RedisReply::Status("OK"));
  EXPECT_EQ(*Call(*redis, {"STRLEN", "big"}), Int(1 << 20));
  absl::StatusOr<RedisReply> back = Call(*redis, {"GET", "big"});
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->str == big) << "the 1 MiB value came back different";
  // Several large values in one pipeline.
  std::vector<std::shared_ptr<Outcome>> gets;
  for (int i = 0; i < 8; ++i) gets.push_back(Send(*redis, {"GET", "big"}));
  for (const auto& get : gets) {
    absl::StatusOr<RedisReply> reply = Wait(get);
    ASSERT_TRUE(reply.ok());
    EXPECT_TRUE(reply->str == big);
  }
}

TEST_F(RedisConnectionTest, HundredThousandPipelinedIncrsCompleteInOrder) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  constexpr int kCommands = 100000;
  std::atomic<int> done{0};
  std::atomic<int> out_of_order{0};
  const absl::Time start = absl::Now();
  for (int i = 0; i < kCommands; ++i) {
    redis->Command({"INCR", "pipelined"}, [&, expected = i + 1](absl::StatusOr<RedisReply> reply) {
      // Callbacks run one at a time on the loop thread, in the order sent.
      if (!reply.ok() || reply->integer != expected || done.load() != expected - 1) {
        ++out_of_order;
      }
      ++done;
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return done.load() == kCommands; }, absl::Seconds(60)))
      << done.load() << " of " << kCommands << " completed";
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_EQ(*Call(*redis, {"GET", "pipelined"}), Str(std::to_string(kCommands)));
  RedisConnection::Counts counts = redis->counts();
  EXPECT_EQ(counts.sent, kCommands + 1u);
  EXPECT_EQ(counts.replies, kCommands + 1u);
  EXPECT_EQ(counts.in_flight, 0u);
  EXPECT_EQ(counts.queued_bytes, 0u);
  EXPECT_EQ(counts.failures + counts.timeouts, 0u);
  std::cerr << "100k pipelined INCRs: " << absl::Now() - start << "\n";
}

TEST_F(RedisConnectionTest, ConcurrentCallersEachSeeTheirOwnOrder) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  constexpr int kThreads = 4;
  constexpr int kCommands = 20000;
  std::atomic<int> done{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, key = absl::StrCat("thread-", t)] {
      for (int i = 0; i < kCommands; ++i) {
        redis->Command({"INCR", key}, [&, expected = i + 1](absl::StatusOr<RedisReply> reply) {
          if (!reply.ok() || reply->integer != expected) ++wrong;
          ++done;
        });
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_TRUE(WaitUntil([&] { return done.load() == kThreads * kCommands; }))
      << done.load() << " of " << kThreads * kCommands << " completed";
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(RedisConnectionTest, CallbacksMaySendCommands) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  // Each reply sends the next command, from the loop thread.
  constexpr int kChain = 2000;
  std::atomic<int> last{0};
  std::function<void(absl::StatusOr<RedisReply>)> next = [&](absl::StatusOr<RedisReply> reply) {
    if (!reply.ok() || reply->integer != last.load() + 1) return;  // the chain stops
    last = static_cast<int>(reply->integer);
    if (last.load() < kChain) redis->Command({"INCR", "chain"}, next);
  };
  redis->Command({"INCR", "chain"}, next);
  EXPECT_TRUE(WaitUntil([&] { return last.load() == kChain; })) << "stopped at " << last.load();
  redis->Stop();  // before `next`, which the callbacks use, goes away
}

TEST_F(RedisConnectionTest, UpCarriesTheServersRunId) {
  std::unique_ptr<RedisConnection> redis = Connect(Options());
  absl::StatusOr<std::string> run_id = server_->RunId();
  ASSERT_TRUE(run_id.ok()) << run_id.status();
  EXPECT_EQ(run_id->size(), 40u);
  ASSERT_TRUE(log_.WaitForCount(1));
  EXPECT_THAT(log_.events(), ElementsAre(absl::StrCat("up ", *run_id)));
  EXPECT_EQ(redis->run_id(), *run_id);
  // The name and the connection are the server's view too.
  absl::StatusOr<RedisReply> info = Call(*redis, {"CLIENT", "INFO"});
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(info->str, HasSubstr("name=wirehub-test"));
}

TEST_F(RedisConnectionTest, AuthSelectAndWrongPassword) {
  server_.reset();
  absl::StatusOr<std::unique_ptr<RedisServer>> server =
      RedisServer::Start({"--requirepass", "s3cret"});
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);

  RedisConnectionOptions options = Options();
  options.password = "s3cret";
  options.db = 3;
  std::unique_ptr<RedisConnection> redis = Connect(options);
  absl::StatusOr<RedisReply> info = Call(*redis, {"CLIENT", "INFO"});
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(info->str, HasSubstr(" db=3 "));

  options.username = "default";
  std::unique_ptr<RedisConnection> with_user = Connect(options);
  EXPECT_TRUE(with_user->up());

  options.username.clear();
  options.password = "wrong";
  EventLog wrong_log;
  RedisConnection wrong(options, wrong_log.StateCallback());
  wrong.Start();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(wrong.up());
  EXPECT_TRUE(wrong_log.events().empty());
  absl::StatusOr<RedisReply> refused = Call(wrong, {"PING"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("not connected"));
}

TEST_F(RedisConnectionTest, SubscriberGetsShardedMessagesAndPingWorks) {
  EventLog pushes;
  RedisConnectionOptions options = Options();
  options.subscriber = true;
  std::unique_ptr<RedisConnection> subscriber =
      Connect(options, [&pushes](RedisReply&& message) { pushes.Add(message.DebugString()); });

  absl::StatusOr<RedisReply> subscribed =
      Call(*subscriber, {"SSUBSCRIBE", "a", "b", "c"}, /*replies=*/3);
  ASSERT_TRUE(subscribed.ok()) << subscribed.status();
  EXPECT_EQ(*subscribed, RedisReply::Array({Str("ssubscribe"), Str("c"), Int(3)}));

  EXPECT_EQ(*server_->Command({"SPUBLISH", "b", "hello"}), Int(1));
  ASSERT_TRUE(pushes.WaitForCount(1));
  EXPECT_THAT(pushes.events(), ElementsAre(R"(["smessage", "b", "hello"])"));

  EXPECT_EQ(*Call(*subscriber, {"PING"}), RedisReply::Array({Str("pong"), Str("")}));

  // Messages between replies keep their place.
  std::shared_ptr<Outcome> ping = Send(*subscriber, {"PING", "p1"});
  EXPECT_EQ(*server_->Command({"SPUBLISH", "c", std::string("bin\0ary", 7)}), Int(1));
  EXPECT_EQ(*Wait(ping), RedisReply::Array({Str("pong"), Str("p1")}));
  ASSERT_TRUE(pushes.WaitForCount(2));
  EXPECT_EQ(pushes.events()[1], R"(["smessage", "c", "bin\000ary"])");

  absl::StatusOr<RedisReply> unsubscribed =
      Call(*subscriber, {"SUNSUBSCRIBE", "a", "b", "c"}, /*replies=*/3);
  ASSERT_TRUE(unsubscribed.ok());
  EXPECT_EQ(*unsubscribed, RedisReply::Array({Str("sunsubscribe"), Str("c"), Int(0)}));
  EXPECT_EQ(*server_->Command({"SPUBLISH", "b", "nobody"}), Int(0));

  // Plain and pattern subscriptions deliver "message" and "pmessage".
  ASSERT_TRUE(Call(*subscriber, {"SUBSCRIBE", "plain"}).ok());
  EXPECT_EQ(*server_->Command({"PUBLISH", "plain", "m1"}), Int(1));
  ASSERT_TRUE(pushes.WaitForCount(3));
  EXPECT_EQ(pushes.events()[2], R"(["message", "plain", "m1"])");
  ASSERT_TRUE(Call(*subscriber, {"PSUBSCRIBE", "pat*"}).ok());
  EXPECT_EQ(*server_->Command({"PUBLISH", "pattern", "m2"}), Int(1));
  ASSERT_TRUE(pushes.WaitForCount(4));
  EXPECT_EQ(pushes.events()[3], R"(["pmessage", "pat*", "pattern", "m2"])");
}

TEST_F(RedisConnectionTest, TimeoutsKeepLaterRepliesMatched) {
  RedisConnectionOptions options = Options();
  options.command_timeout = absl::Milliseconds(200);
  std::unique_ptr<RedisConnection> redis = Connect(options);
  EXPECT_EQ(*Call(*redis, {"INCR", "n"}), Int(1));

  ASSERT_TRUE(server_->Pause(1500).ok());
  const absl::Time sent = absl::Now();
  std::vector<std::shared_ptr<Outcome>> paused;
  for (int i = 0; i < 3; ++i) paused.push_back(Send(*redis, {"INCR", "n"}));
  for (const auto& outcome : paused) {
    absl::StatusOr<RedisReply> reply = Wait(outcome, absl::Seconds(1));
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable) << reply.status();
    EXPECT_THAT(std::string(reply.status().message()), HasSubstr(": no reply within 200ms"));
  }
  const absl::Duration elapsed = absl::Now() - sent;
  EXPECT_GE(elapsed, absl::Milliseconds(190));
  EXPECT_LT(elapsed, absl::Milliseconds(1000));
  EXPECT_TRUE(redis->up()) << "a timeout must not close the connection";
  EXPECT_EQ(redis->counts().timeouts, 3u);
  EXPECT_EQ(redis->counts().in_flight, 3u) << "timed-out slots wait for their replies";

  // Returns once the pause is over.
  ASSERT_TRUE(server_->Command({"PING"}).ok());
  // The three timed-out INCRs ran; their late replies are dropped and this
  // one gets its own.
  EXPECT_EQ(*Call(*redis, {"INCR", "n"}), Int(5));
  EXPECT_EQ(redis->counts().in_flight, 0u);
  for (const auto& outcome : paused) {
    absl::MutexLock lock(&outcome->mu);
    EXPECT_EQ(outcome->calls, 1);
  }
}

TEST_F(RedisConnectionTest, LimitsRefuseAtOnce) {
  RedisConnectionOptions options = Options();
  options.command_timeout = absl::Seconds(10);
  options.max_in_flight = 4;
  options.max_queued_bytes = 1000;
  std::unique_ptr<RedisConnection> redis = Connect(options);

  absl::StatusOr<RedisReply> too_big = Call(*redis, {"SET", "k", std::string(1000, 'x')});
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(too_big.status().message()), HasSubstr("send queue full"));

  ASSERT_TRUE(server_->Pause(1000).ok());
  std::vector<std::shared_ptr<Outcome>> accepted;
  for (int i = 0; i < 4; ++i) accepted.push_back(Send(*redis, {"INCR", "n"}));
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReply> refused = Call(*redis, {"INCR", "n"});
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("too many commands in flight"));
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<RedisReply> reply = Wait(accepted[i]);
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, Int(i + 1));
  }
  EXPECT_EQ(redis->counts().failures, 2u);
}

TEST_F(RedisConnectionTest, KilledServerFailsPendingThenRestartComesBackWithNewRunId) {
  RedisConnectionOptions options = Options();
  options.command_timeout = absl::Seconds(30);
  std::unique_ptr<RedisConnection> redis = Connect(options);
  const std::string first_run_id = redis->run_id();
  ASSERT_FALSE(first_run_id.empty());

  EXPECT_EQ(*Wait(Send(*redis, {"PING"}, 1, first_run_id)), RedisReply::Status("PONG"));
  // Blocks until the connection breaks.
  redis->Command({"BLPOP", "nothing", "0"}, [this](absl::StatusOr<RedisReply> reply) {
    log_.Add(absl::StrCat("blpop ", reply.status().ToString()));
  });
  ASSERT_TRUE(WaitUntil([&] { return redis->counts().queued_bytes == 0; }));
  server_->Kill();
  ASSERT_TRUE(log_.WaitForCount(3));
  std::vector<std::string> events = log_.events();
  EXPECT_EQ(events[0], absl::StrCat("up ", first_run_id));
  EXPECT_THAT(events[1], StartsWith("blpop UNAVAILABLE: redis 127.0.0.1:"));
  EXPECT_THAT(events[1], HasSubstr(": connection lost: "));
  EXPECT_EQ(events[2], "down");
  EXPECT_FALSE(redis->up());
  EXPECT_EQ(redis->run_id(), "");

  // While down, commands fail at once.
  const absl::Time start = absl::Now();
  absl::StatusOr<RedisReply> refused = Call(*redis, {"PING"});
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(300));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr(": not connected"));
  absl::SleepFor(absl::Milliseconds(300));  // a few failed attempts

  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(log_.WaitForCount(4));
  absl::StatusOr<std::string> second_run_id = server_->RunId();
  ASSERT_TRUE(second_run_id.ok());
  EXPECT_NE(*second_run_id, first_run_id);
  EXPECT_EQ(log_.events()[3], absl::StrCat("up ", *second_run_id));
  EXPECT_EQ(redis->run_id(), *second_run_id);
  // A command meant for the server's previous run is refused.
  absl::StatusOr<RedisReply> refused_stale =
      Wait(Send(*redis, {"SET", "stale", "1"}, 1, first_run_id));
  EXPECT_EQ(refused_stale.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused_stale.status().message()), HasSubstr(": run_id changed (now "));
  EXPECT_EQ(*Wait(Send(*redis, {"EXISTS", "stale"})), Int(0));
  EXPECT_EQ(*Call(*redis, {"SET", "again", "1"}), RedisReply::Status("OK"));
  EXPECT_EQ(*Call(*redis, {"GET", "again"}), Str("1"));
  EXPECT_EQ(redis->counts().reconnects, 1u);
}

TEST_F(RedisConnectionTest, StopRunsEveryPendingCallbackOnceBeforeReturning) {
  RedisConnectionOptions options = Options();
  options.command_timeout = absl::Seconds(30);
  std::unique_ptr<RedisConnection> redis = Connect(options);
  ASSERT_TRUE(server_->Pause(1000).ok());
  constexpr int kCommands = 1000;
  std::atomic<int> calls{0};
  std::atomic<int> stopped{0};
  for (int i = 0; i < kCommands; ++i) {
    redis->Command({"INCR", "n"}, [&](absl::StatusOr<RedisReply> reply) {
      ++calls;
      if (reply.status().code() == absl::StatusCode::kUnavailable &&
          absl::EndsWith(reply.status().message(), ": stopped")) {
        ++stopped;
      }
    });
  }
  redis->Stop();
  EXPECT_EQ(calls.load(), kCommands);
  EXPECT_EQ(stopped.load(), kCommands);
  EXPECT_THAT(log_.events(), ElementsAre(StartsWith("up "), "down"));
  redis->Stop();  // idempotent
  redis.reset();
  EXPECT_EQ(calls.load(), kCommands);
}

TEST(RedisConnectionLifecycleTest, CommandsBeforeStartAndAfterStopFailInline) {
  RedisConnectionOptions options;
  options.port = UnusedPort();
  RedisConnection redis(options, nullptr);
  std::optional<absl::Status> before;
  redis.Command({"PING"}, [&](absl::StatusOr<RedisReply> reply) { before = reply.status(); });
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(before->message()), HasSubstr("not connected"));

  redis.Start();
  absl::StatusOr<RedisReply> invalid = Call(redis, {});
  EXPECT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);
  redis.Stop();
  std::optional<absl::Status> after;
  redis.Command({"PING"}, [&](absl::StatusOr<RedisReply> reply) { after = reply.status(); });
  ASSERT_TRUE(after.has_value());
  EXPECT_THAT(std::string(after->message()), HasSubstr("stopped"));
}

TEST(RedisConnectionFakeServerTest, GarbageIsAProtocolErrorAndItRetries) {
  FakeRedis fake(FakeRedis::Mode::kGarbage);
  RedisConnectionOptions options;
  options.port = fake.port();
  options.min_reconnect_delay = absl::Milliseconds(10);
  options.max_reconnect_delay = absl::Milliseconds(50);
  EventLog log;
  RedisConnection redis(options, log.StateCallback());
  redis.Start();
  EXPECT_TRUE(WaitUntil([&] { return fake.accepted() >= 3; })) << "accepted " << fake.accepted();
  EXPECT_FALSE(redis.up());
  EXPECT_TRUE(log.events().empty());
  EXPECT_EQ(Call(redis, {"PING"}).status().code(), absl::StatusCode::kUnavailable);
}

TEST(RedisConnectionFakeServerTest, SilentServerTimesOutTheHandshakeAndItRetries) {
  FakeRedis fake(FakeRedis::Mode::kSilent);
  RedisConnectionOptions options;
  options.port = fake.port();
  options.command_timeout = absl::Milliseconds(100);
  options.min_reconnect_delay = absl::Milliseconds(10);
  options.max_reconnect_delay = absl::Milliseconds(50);
  EventLog log;
  RedisConnection redis(options, log.StateCallback());
  redis.Start();
  EXPECT_TRUE(WaitUntil([&] { return fake.accepted() >= 2; })) << "accepted " << fake.accepted();
  EXPECT_FALSE(redis.up());
  EXPECT_TRUE(log.events().empty());
}

TEST(RedisConnectionFakeServerTest, GarbageReplyFailsTheCommandAndReconnects) {
  FakeRedis fake(FakeRedis::Mode::kHandshakeThenGarbage);
  RedisConnectionOptions options;
  options.port = fake.port();
  options.min_reconnect_delay = absl::Milliseconds(10);
  options.max_reconnect_delay = absl::Milliseconds(50);
  EventLog log;
  RedisConnection redis(options, log.StateCallback());
  redis.Start();
  ASSERT_TRUE(log.WaitForCount(1));
  EXPECT_EQ(log.events()[0], "up fake");
  absl::StatusOr<RedisReply> reply = Call(redis, {"GET", "x"});
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(reply.status().message()), HasSubstr("connection lost: protocol error"));
  // It reconnects, and the fake answers the handshake again.
  ASSERT_TRUE(log.WaitForCount(3));
  EXPECT_THAT(log.events(), ElementsAre("up fake", "down", "up fake"));
}

TEST(RedisConnectionFakeServerTest, ClosedPortFailsUntilAServerListens) {
  const int port = UnusedPort();
  RedisConnectionOptions options;
  options.port = port;
  options.min_reconnect_delay = absl::Milliseconds(10);
  options.max_reconnect_delay = absl::Milliseconds(20);
  EventLog log;
  CapturedLog captured;
  RedisConnection redis(options, log.StateCallback());
  redis.Start();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(redis.up());
  // About 15 failed attempts, one line (the next at most 5 s later).
  EXPECT_EQ(captured.Count("cannot connect: connect: Connection refused"), 1);
  absl::StatusOr<RedisReply> refused = Call(redis, {"PING"});
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("not connected"));

  FakeRedis fake(FakeRedis::Mode::kHandshakeThenGarbage, port);
  ASSERT_TRUE(log.WaitForCount(1));
  EXPECT_EQ(log.events()[0], "up fake");
  redis.Stop();
}

// The helper itself: what the stream store's tests rely on.
TEST(RedisServerTest, RestartKeepsWhatTheAofHolds) {
  absl::StatusOr<std::unique_ptr<RedisServer>> server =
      RedisServer::Start({"--appendonly", "yes", "--appendfsync", "always"});
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  const std::string dir = (*server)->dir();
  EXPECT_EQ(*(*server)->Command({"SET", "kept", "yes"}), RedisReply::Status("OK"));
  (*server)->Kill();
  EXPECT_FALSE((*server)->running());
  EXPECT_FALSE((*server)->Command({"PING"}, absl::Milliseconds(200)).ok());
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_EQ((*server)->port(), port);
  EXPECT_EQ(*(*server)->Command({"GET", "kept"}), Str("yes"));
  (*server)->Stop();
  EXPECT_FALSE((*server)->running());
  server->reset();
  EXPECT_NE(access(dir.c_str(), F_OK), 0) << dir << " was not removed";
}

TEST(RedisReplyTest, AppendCommandEncodesBulkStrings) {
  std::string wire;
  AppendCommand({"SET", "key", std::string("a\0b", 3)}, &wire);
  EXPECT_EQ(wire, std::string("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\na\0b\r\n", 31));
  EXPECT_EQ(EncodedCommandSize({"SET", "key", std::string("a\0b", 3)}), wire.size());
  std::string big;
  AppendCommand({std::string(12345, 'x')}, &big);
  EXPECT_EQ(big.size(), EncodedCommandSize({std::string(12345, 'x')}));
  EXPECT_THAT(big, StartsWith("*1\r\n$12345\r\nxxx"));
}

}  // namespace
}  // namespace wirehub::control

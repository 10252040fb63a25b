// RedisConnection: one pipelined connection to a Redis server, with its own
// thread, that reconnects forever. Control's Redis engine (stream store,
// presence, the fan-out subscriber) sends every command through one of these.
//
// Why not hiredis's async layer: it aborts the process on sharded pub/sub
// messages ("smessage"). Only hiredis's reply parser is used here.
#ifndef WIREHUB_CONTROL_REDIS_CONNECTION_H_
#define WIREHUB_CONTROL_REDIS_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control/redis_reply.h"

// hiredis's reply parser (hiredis/read.h).
struct redisReader;

namespace wirehub::control {

struct RedisConnectionOptions {
  std::string host = "127.0.0.1";
  int port = 6379;
  // AUTH username password when both are set; AUTH password when only the
  // password is.
  std::string username;
  std::string password;
  // SELECT when not 0.
  int db = 0;
  // For each TCP connect (per resolved address).
  absl::Duration connect_timeout = absl::Seconds(1);
  // For each command, from Command() to its (last) reply; also for the
  // handshake after connecting. absl::InfiniteDuration(): no limit.
  absl::Duration command_timeout = absl::Seconds(1);
  // Reconnect backoff: jittered, doubling from min to max after each failed
  // attempt; the first attempt after a connection was lost waits min.
  absl::Duration min_reconnect_delay = absl::Milliseconds(50);
  absl::Duration max_reconnect_delay = absl::Seconds(1);
  // Commands sent or queued, awaiting their reply (timed-out ones included:
  // their replies are still due).
  size_t max_in_flight = 100000;
  // Encoded bytes not yet written to the socket.
  size_t max_queued_bytes = 64 << 20;
  // CLIENT SETNAME (when not empty) and log lines, e.g. "wirehub-control:pub".
  std::string name;
  // Subscriber mode: the connection only sends (S)SUBSCRIBE/(S)UNSUBSCRIBE/
  // PING; replies that are arrays starting with "message", "smessage" or
  // "pmessage" go to on_push, every other reply completes the oldest waiting
  // command (or, when none waits, also goes to on_push: e.g. the
  // "sunsubscribe" a cluster node sends when a slot moves away).
  bool subscriber = false;
};

// Thread-safe. Runs one thread of its own (the connection's loop: poll() over
// the socket, an eventfd for wakeups, and timers). Callbacks (command
// callbacks, on_push, on_state) run on that thread, never under a lock of the
// connection; they must not block and may call Command() again (never
// Stop()).
//
// Example:
//   RedisConnection redis({.host = "10.0.0.5", .name = "wirehub-control:store"},
//                         [](bool up, const std::string& run_id) { ... });
//   redis.Start();
//   ... once on_state(true, ...) ran:
//   redis.Command({"INCR", "counter"}, [](absl::StatusOr<RedisReply> reply) {
//     if (!reply.ok()) return;  // UNAVAILABLE: not sent, lost or timed out
//     if (reply->is_error()) return;  // Redis refused it
//     Use(reply->integer);
//   });
class RedisConnection {
 public:
  using Callback = std::function<void(absl::StatusOr<RedisReply>)>;
  using PushCallback = std::function<void(RedisReply&&)>;
  // Runs on the loop thread. `up` true once connected, authenticated,
  // SELECTed and `run_id` read (from INFO server, field run_id); up() is
  // already true then, so on_state may send commands (e.g. subscribe again),
  // and it runs before the callback of any command sent after it. `up` false
  // when the connection was lost or stopped (after every in-flight callback
  // got UNAVAILABLE); `run_id` empty then. Every true is followed by exactly
  // one false (at the latest in Stop()).
  using StateCallback = std::function<void(bool up, const std::string& run_id)>;

  // Starts nothing; `on_push` may be null unless options.subscriber.
  RedisConnection(RedisConnectionOptions options, StateCallback on_state,
                  PushCallback on_push = nullptr);
  // Stop().
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Start()
  //
  // Starts the thread, which connects (and reconnects forever, with
  // backoff). At most once, and not after Stop().
  void Start();

  // Stop()
  //
  // Idempotent. Closes the connection; every pending callback runs
  // (UNAVAILABLE "redis HOST:PORT: stopped"), then on_state(false) if it
  // was up, all before Stop() returns; no callback of the connection runs
  // after. Must not be called from one of its callbacks. A DNS lookup in
  // progress (a host name, not an address) delays it until it ends.
  void Stop();

  // Command()
  //
  // Sends `args` (pipelined: never waits for earlier replies). `cb` runs
  // exactly once on the loop thread: with the reply (a Redis error reply is
  // a RedisReply of type kError, NOT a failed status), or
  // absl::UnavailableError with a message that starts "redis HOST:PORT: "
  // and says why:
  //   "not connected": the connection is not up; commands are never queued
  //     while disconnected: they fail at once;
  //   "connection lost: <reason>": it broke before the reply;
  //   "no reply within <command_timeout>": the command may still run later
  //     (Redis executes what it received); its late reply is read and
  //     dropped;
  //   "too many commands in flight" / "send queue full": a limit of the
  //     options would be exceeded;
  //   "stopped": Stop() ran;
  //   "run_id changed (...)": `expected_run_id` is set and the connection
  //     is to another run of the server (it restarted since the caller
  //     learned its run_id); checked atomically with queueing the command.
  // `replies` > 1 waits for that many replies (SSUBSCRIBE with N channels
  // answers N times) and passes the last one; an error reply ends the wait
  // at once and is passed (a refused command answers once).
  //
  // Before Start() and once Stop() began there is no loop to run `cb`: it
  // runs at once on the caller's thread (UNAVAILABLE "not connected" /
  // "stopped"). Empty `args` or `replies` < 1: INVALID_ARGUMENT.
  void Command(std::vector<std::string> args, Callback cb, int replies = 1,
               std::string_view expected_run_id = {});

  // Connected and ready (the handshake done).
  bool up() const;
  // The server's run_id on the current connection; "" when down. A new
  // run_id after a reconnect means a restarted server (what it held in
  // memory may be gone).
  std::string run_id() const;

  struct Counts {
    // Commands accepted (queued to be sent).
    uint64_t sent = 0;
    // Replies read for commands (late ones included, pushes and the
    // handshake's excluded).
    uint64_t replies = 0;
    // Commands that got "no reply within ...".
    uint64_t timeouts = 0;
    // Commands that failed otherwise (not connected, a limit, connection
    // lost, stopped, invalid).
    uint64_t failures = 0;
    // Times the connection came up again after the first time.
    uint64_t reconnects = 0;
    // Commands awaiting replies (timed-out ones included).
    size_t in_flight = 0;
    // Encoded bytes not yet written to the socket.
    size_t queued_bytes = 0;
  };
  Counts counts() const;

 private:
  using Clock = std::chrono::steady_clock;

  // One command awaiting its replies, in the order sent.
  struct Pending {
    // Null once the command timed out: the slot stays, so that the replies
    // still due match the commands behind it.
    Callback cb;
    int replies_left;
    Clock::time_point deadline;
  };
  // A callback to run on the loop without a reply.
  struct Failed {
    Callback cb;
    absl::Status status;
  };

  // Where the loop is with the connection.
  enum class Phase {
    kIdle,        // no socket; next attempt at next_attempt_
    kConnecting,  // non-blocking connect in progress until phase_deadline_
    kHandshake,   // AUTH/SELECT/CLIENT SETNAME/INFO sent, replies due by phase_deadline_
    kReady,       // up
  };

  struct Address {
    sockaddr_storage addr;
    socklen_t length;
  };

  // The loop (runs on thread_).
  void Run();
  bool IsLoopThread() const;
  void AssertLoopThread() const;
  // Resolves the host and starts connecting to its first address.
  void BeginAttempt();
  // Starts connecting to addresses_[address_index_] or, when that fails at
  // once, the next ones; when none is left the attempt failed with `error`
  // (the last address's).
  void ConnectNextAddress(std::string error);
  // The connecting socket is writable: connected, or the next address.
  void OnConnectWritable();
  // Queues the handshake.
  void OnConnected();
  // The attempt failed before the connection was up.
  void AttemptFailed(const std::string& reason);
  void ScheduleRetry();
  // Reads what the socket holds and dispatches the replies.
  void ReadSome();
  // Writes what write_buf_ holds; false when the connection broke.
  bool WriteSome();
  // Dispatches `replies` (the handshake's first), then closes the
  // connection if the parser failed after them.
  void HandleReplies(std::vector<RedisReply>& replies, std::string protocol_error);
  // A handshake reply; false when it failed (and the connection is closed).
  bool HandleHandshakeReply(RedisReply& reply);
  void GoUp();
  void ExpireTimeouts(Clock::time_point now);
  // Closes the socket and fails every pending command with `status`.
  // Returns whether the connection was up.
  bool CloseAndFailAll(const absl::Status& status);
  // A connection that was up or in handshake broke.
  void Disconnect(const std::string& reason);
  // Stop(): fails everything left, on_state(false) if it was up.
  void Shutdown();
  // Closes the socket and drops the parser and the unwritten batch.
  void CloseSocket();
  absl::Status Unavailable(std::string_view what) const;
  void Wake();

  const RedisConnectionOptions options_;
  // "HOST:PORT" for messages.
  const std::string address_;
  // "redis HOST:PORT" or "redis HOST:PORT (name)" for log lines.
  const std::string log_prefix_;
  const StateCallback on_state_;
  const PushCallback on_push_;

  // Serializes Stop() callers, so each returns only once the loop ended.
  absl::Mutex stop_mu_;

  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
  std::thread::id loop_thread_id_ ABSL_GUARDED_BY(mu_);
  // The handshake is done: commands are accepted.
  bool ready_ ABSL_GUARDED_BY(mu_) = false;
  std::string run_id_ ABSL_GUARDED_BY(mu_);
  bool ever_up_ ABSL_GUARDED_BY(mu_) = false;
  // Encoded commands the loop has not taken yet.
  std::string outbound_ ABSL_GUARDED_BY(mu_);
  // Bytes the loop took but has not written yet.
  size_t unwritten_ ABSL_GUARDED_BY(mu_) = 0;
  // Every command sent and not fully answered, oldest first. Deadlines do
  // not decrease along it (taken under mu_ with one timeout), so the
  // timed-out entries are its first timed_out_ ones.
  std::deque<Pending> pending_ ABSL_GUARDED_BY(mu_);
  size_t timed_out_ ABSL_GUARDED_BY(mu_) = 0;
  // Commands refused while the loop runs, whose callbacks it runs.
  std::vector<Failed> failed_ ABSL_GUARDED_BY(mu_);
  // The loop will look at outbound_ and failed_ before it next sleeps:
  // Command() writes to the eventfd only when this was false.
  bool wake_scheduled_ ABSL_GUARDED_BY(mu_) = false;
  Counts counts_ ABSL_GUARDED_BY(mu_);

  // Set by Start() (under mu_, before started_) and closed by the
  // destructor; constant in between.
  int wake_fd_ = -1;

  // Loop thread only.
  Phase phase_ = Phase::kIdle;
  int fd_ = -1;
  redisReader* reader_ = nullptr;
  std::vector<Address> addresses_;
  size_t address_index_ = 0;
  Clock::time_point next_attempt_;
  Clock::time_point phase_deadline_;
  int handshake_left_ = 0;
  std::string handshake_run_id_;
  // The loop's batch being written; written up to write_offset_.
  std::string write_buf_;
  size_t write_offset_ = 0;
  std::unique_ptr<char[]> read_buf_;
  // Failed attempts since the connection was last up (backoff exponent).
  int failed_attempts_ = 0;
  // Failed-attempt logging: the reason last logged, when, and attempts since.
  std::string last_failure_logged_;
  Clock::time_point last_failure_log_time_;
  uint64_t failures_since_log_ = 0;
  std::minstd_rand jitter_;
};

}  // namespace wirehub::control

#endif  // WIREHUB_CONTROL_REDIS_CONNECTION_H_

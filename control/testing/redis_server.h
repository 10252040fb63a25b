// RedisServer: a real redis-server for tests, on 127.0.0.1 at a free port in
// a fresh temporary directory, with a small blocking client of its own.
#ifndef WIREHUB_CONTROL_TESTING_REDIS_SERVER_H_
#define WIREHUB_CONTROL_TESTING_REDIS_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "control/redis_reply.h"

namespace wirehub::control::testing {

// Thread-compatible: one test thread drives it. The server process gets
// SIGKILL if the thread that started (or restarted) it exits first
// (PR_SET_PDEATHSIG), so a crashed or killed test leaves no server behind.
//
// Example:
//   absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
//   ASSERT_TRUE(redis.ok()) << redis.status();
//   options.port = (*redis)->port();
//   (*redis)->Kill();               // crash it
//   ASSERT_TRUE((*redis)->Restart().ok());  // same port, same directory
class RedisServer {
 public:
  // Start()
  //
  // Starts `redis-server` (from PATH) on 127.0.0.1 at a free port in a new
  // temporary directory, with `--save "" --appendonly no` and then
  // `extra_args` (later arguments win: {"--appendonly", "yes"}). Waits (at
  // most 10 s) until PING answers. Retries a few times with another port if
  // the server cannot start (another process took the port). A
  // "--requirepass" in `extra_args` is used by Command() too.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(
      std::vector<std::string> extra_args = {});

  // Stops the server and removes the directory.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // -1 when not running.
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // The server's working directory (AOF and RDB files, redis.log).
  const std::string& dir() const { return dir_; }

  // Restart()
  //
  // Starts the server again on the same port and directory (stopping it
  // first if it runs), e.g. to test what an AOF brings back. Waits until
  // PING answers.
  absl::Status Restart();

  // Kill()
  //
  // SIGKILL, and waits for the process to end: a crash.
  void Kill();

  // Stop()
  //
  // SIGTERM (a clean shutdown that finishes the AOF), SIGKILL after 5 s;
  // waits for the process to end. Nothing when not running.
  void Stop();

  // Command()
  //
  // Runs one command on a new blocking connection (closed after) and
  // returns its reply; a Redis error is a reply of type kError. Fails when
  // the server cannot be reached or does not answer within `timeout`.
  absl::StatusOr<RedisReply> Command(const std::vector<std::string>& args,
                                     absl::Duration timeout = absl::Seconds(10));

  // Pause()
  //
  // CLIENT PAUSE `ms` (every client's commands wait that long; Command()
  // too).
  absl::Status Pause(int ms);

  // RunId()
  //
  // The run_id field of INFO server (changes with each restart).
  absl::StatusOr<std::string> RunId();

 private:
  RedisServer(std::string dir, std::vector<std::string> extra_args);

  // Starts the process on port_ and waits for PING.
  absl::Status Launch();
  // Whether the process has exited (and reaps it).
  bool Exited();

  const std::string dir_;
  const std::vector<std::string> extra_args_;
  std::string password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace wirehub::control::testing

#endif  // WIREHUB_CONTROL_TESTING_REDIS_SERVER_H_

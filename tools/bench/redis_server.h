// The redis-server the Redis engine's benchmarks run control against
// (Debian's redis-server, started on a free loopback port), and a minimal
// blocking client for the few commands the bench itself sends.
#ifndef WIREHUB_TOOLS_BENCH_REDIS_SERVER_H_
#define WIREHUB_TOOLS_BENCH_REDIS_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub::bench {

struct RedisServerOptions {
  // An existing directory for redis.log and, with AOF, the append-only
  // files.
  std::string work_dir;
  // Empty: no persistence at all (no RDB snapshots, no AOF). "no",
  // "everysec" or "always": AOF on with that appendfsync policy.
  std::string appendfsync;
  std::string binary = "/usr/bin/redis-server";
};

// RedisServer is one redis-server child process on 127.0.0.1. Main thread
// only (the child gets SIGTERM when the thread that started it exits).
class RedisServer {
 public:
  // Start()
  //
  // Starts redis-server on a port from 65001-65535 (another one when that
  // one is taken) and waits until it answers PING. FailedPrecondition when
  // redis-server is not installed, InvalidArgument for a bad appendfsync,
  // Unavailable (with the log's tail) when it does not come up.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const RedisServerOptions& options);

  // Stops it: SIGTERM, up to 5 s, then SIGKILL.
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // "127.0.0.1:PORT".
  std::string address() const;
  // How it persists, for the results: "off" or "aof appendfsync=POLICY".
  const std::string& persistence() const { return persistence_; }

 private:
  RedisServer(pid_t pid, int port, std::string log_path, std::string persistence)
      : pid_(pid),
        port_(port),
        log_path_(std::move(log_path)),
        persistence_(std::move(persistence)) {}

  pid_t pid_;
  int port_;
  std::string log_path_;
  std::string persistence_;
};

// RedisClient is one blocking RESP2 connection for set-up commands (SCRIPT
// LOAD, INFO) and for a subscriber that only drains. Thread-compatible.
class RedisClient {
 public:
  // Connect()
  //
  // Connects to 127.0.0.1:port within `timeout`.
  static absl::StatusOr<std::unique_ptr<RedisClient>> Connect(
      int port, absl::Duration timeout = absl::Seconds(2));
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Call()
  //
  // Sends one command and reads its reply: a status, bulk string or integer
  // as its text, an array as its elements' texts joined by '\n', nil as "".
  // An error reply is FailedPrecondition with Redis's message.
  absl::StatusOr<std::string> Call(const std::vector<std::string>& args);

  // Send()/Read() split Call() for a caller that pipelines; Read() reads
  // one reply.
  absl::Status Send(const std::vector<std::string>& args);
  absl::StatusOr<std::string> Read();

  // Drain()
  //
  // Reads and discards whatever arrives until Shutdown() is called (a
  // subscriber's messages); returns the bytes read.
  uint64_t Drain();
  // Shutdown()
  //
  // Ends Drain() from another thread (shuts the socket down).
  void Shutdown();

 private:
  explicit RedisClient(int fd) : fd_(fd) {}
  absl::StatusOr<std::string> ReadLine();
  absl::Status Fill();

  int fd_;
  std::string buffer_;
  size_t consumed_ = 0;
};

// EncodeRedisCommand()
//
// `args` as a RESP array of bulk strings.
std::string EncodeRedisCommand(const std::vector<std::string>& args);

// InfoField()
//
// The value of `name` in an INFO reply ("run_id:abc\r\n" -> "abc"); empty
// when absent.
std::string InfoField(std::string_view info, std::string_view name);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_REDIS_SERVER_H_

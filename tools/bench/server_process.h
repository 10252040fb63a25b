// ServerProcess: a wirehub binary the bench starts, waits for and stops.
#ifndef WIREHUB_TOOLS_BENCH_SERVER_PROCESS_H_
#define WIREHUB_TOOLS_BENCH_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace wirehub::bench {

// ServerProcess runs `binary` with `args` (through SpawnChild(), so it dies
// with the bench), its stderr going to a log file, and finds its port in the first stdout line that
// starts with `ready_prefix` (wirehub-control and wirehub-edge print one once listening).
// Thread-compatible: one thread starts and stops it.
class ServerProcess {
 public:
  // Start()
  //
  // Spawns the process and waits up to `timeout` for the ready line.
  // Errors: Unavailable when it exits or stays silent (with the log's tail),
  // Internal when it cannot be spawned.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      std::string name, const std::string& binary, const std::vector<std::string>& args,
      std::string_view ready_prefix, const std::string& log_path, absl::Duration timeout);

  // Sends SIGTERM, waits up to 5 s, then SIGKILL; reaps.
  ~ServerProcess();

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  // The port number at the end of the host:port in the ready line.
  int port() const { return port_; }
  const std::string& ready_line() const { return ready_line_; }

  // WaitForLine()
  //
  // Reads on from the process's stdout, past the ready line, to the first
  // line that starts with `prefix` and holds a HOST:PORT (e.g. control's
  // "wirehub-control: edge link listening on 127.0.0.1:7101" after its
  // grpc line), and returns that port. Lines before it are dropped.
  // Errors: Unavailable when the process exits or prints no such line
  // within `timeout` (with the log's tail), Internal when poll fails.
  absl::StatusOr<int> WaitForLine(std::string_view prefix, absl::Duration timeout);

  // Stop()
  //
  // Terminates the process now (as the destructor does).
  void Stop();

 private:
  ServerProcess(std::string name, pid_t pid, int stdout_fd, std::string log_path)
      : name_(std::move(name)), pid_(pid), stdout_fd_(stdout_fd), log_path_(std::move(log_path)) {}

  std::string name_;
  pid_t pid_;
  int stdout_fd_;
  std::string log_path_;
  std::string pending_;  // stdout read past the last line returned
  int port_ = 0;
  std::string ready_line_;
};

// HelpMentions()
//
// Whether `binary --help` prints `text` (on stdout or stderr), e.g. whether
// this wirehub-control knows --edge_listen. Errors: Unavailable when it
// cannot be run or does not finish within `timeout`.
absl::StatusOr<bool> HelpMentions(const std::string& binary, std::string_view text,
                                  absl::Duration timeout = absl::Seconds(10));

// ParseReadyPort()
//
// The port of the first "HOST:PORT" in `line` after `prefix` (e.g.
// "wirehub-edge: websocket listening on ws://127.0.0.1:4321/connection/..."
// yields 4321); 0 when there is none.
int ParseReadyPort(std::string_view line, std::string_view prefix);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_SERVER_PROCESS_H_

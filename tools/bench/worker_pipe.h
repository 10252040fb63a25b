// The pipes between a ClientGroup and its child processes (`wirehub-bench
// clients`): the child's command line, the lines each side writes, and the
// encoding of what the child's clients received.
//
// Parent -> child (stdin): "secret <token secret>", then "resume_slow",
// "finish <n> <last_seq...>" or "stop".
// Child -> parent (stdout): "status ..." every 50 ms, "error <text>" once,
// and "result <EncodeTotals()>" in answer to finish.
#ifndef WIREHUB_TOOLS_BENCH_WORKER_PIPE_H_
#define WIREHUB_TOOLS_BENCH_WORKER_PIPE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/bench/client_group.h"

namespace wirehub::bench {

// WriteAll()
//
// Writes all of `data` to `fd`; false when the reader is gone.
bool WriteAll(int fd, std::string_view data);

// LineReader splits what arrives on a descriptor into lines.
// Thread-compatible.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  // Next()
  //
  // The next complete line without its '\n'; false at end of input or
  // error (a last unterminated line is dropped). Blocks.
  bool Next(std::string* line);

  // HasLine()
  //
  // Whether a complete line is already buffered.
  bool HasLine() const { return buffer_.find('\n') != std::string::npos; }

 private:
  int fd_;
  std::string buffer_;
  size_t scanned_ = 0;
};

// SplitFields()
//
// The space-separated fields of a line.
std::vector<absl::string_view> SplitFields(std::string_view line);

// FinishCommand(), ParseFinishCommand()
//
// "finish <n> <last_seq...>\n" for `last_seq`, and back from the command's
// fields (SplitFields() of the line).
std::string FinishCommand(const std::vector<uint64_t>& last_seq);
absl::StatusOr<std::vector<uint64_t>> ParseFinishCommand(
    const std::vector<absl::string_view>& fields);

// EncodeTotals(), DecodeTotals()
//
// A child's totals on one line, "<received> <missing> <duplicated>
// <late>|<latency histogram>|<reply timings>", and back. DecodeTotals()
// gives InvalidArgument for anything EncodeTotals() cannot have written.
std::string EncodeTotals(const ClientGroupTotals& totals);
absl::StatusOr<ClientGroupTotals> DecodeTotals(std::string_view text);

// AddTotals()
//
// Adds `part` (one worker's or one child's totals) to `*sum`.
void AddTotals(const ClientGroupTotals& part, ClientGroupTotals* sum);

// WorkerArgs(), ParseWorkerArgs()
//
// The arguments after "clients" that make a child run process `process`
// of `spec`, and back. The token secret is not among them: it goes through
// the pipe. ParseWorkerArgs() gives InvalidArgument naming a bad flag.
std::vector<std::string> WorkerArgs(const ClientGroupSpec& spec, size_t process);
absl::Status ParseWorkerArgs(const std::vector<std::string>& args, ClientGroupSpec* spec,
                             size_t* process);

}  // namespace wirehub::bench

#endif  // WIREHUB_TOOLS_BENCH_WORKER_PIPE_H_

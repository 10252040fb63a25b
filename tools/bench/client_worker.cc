#include "tools/bench/client_worker.h"

#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "tools/bench/client_group.h"
#include "tools/bench/worker_pipe.h"

namespace wirehub::bench {
namespace {

constexpr absl::Duration kStatusInterval = absl::Milliseconds(50);

}  // namespace

int RunClientWorkerCommand(const std::vector<std::string>& args) {
  ClientGroupSpec spec;
  size_t process = 0;
  if (absl::Status parsed = ParseWorkerArgs(args, &spec, &process); !parsed.ok()) {
    std::fprintf(stderr, "wirehub-bench clients: %s\n", std::string(parsed.message()).c_str());
    return 2;
  }
  LineReader commands(STDIN_FILENO);
  std::string line;
  if (!commands.Next(&line) || line.rfind("secret ", 0) != 0) {
    std::fprintf(stderr, "wirehub-bench clients: expected the secret on stdin\n");
    return 2;
  }
  spec.token_secret = line.substr(7);

  std::unique_ptr<ClientGroup> group = ClientGroup::StartInChild(spec, process);
  bool error_sent = false;
  while (true) {
    std::string status = absl::StrCat(
        "status ", group->subscribed(), " ", group->failed(), " ", group->closed(), " ",
        group->slow_closed(), " ", group->received(), " ",
        absl::ToInt64Nanoseconds(group->connect_phase()), " ",
        absl::ToInt64Nanoseconds(group->subscribe_phase()), " ", group->received_bytes(), "\n");
    if (!error_sent) {
      std::string error = group->first_error();
      if (!error.empty()) {
        absl::StrAppend(&status, "error ", absl::StrReplaceAll(error, {{"\n", " "}}), "\n");
        error_sent = true;
      }
    }
    if (!WriteAll(STDOUT_FILENO, status)) return 1;
    if (!commands.HasLine()) {
      pollfd in{STDIN_FILENO, POLLIN, 0};
      int ready = poll(&in, 1, static_cast<int>(absl::ToInt64Milliseconds(kStatusInterval)));
      if (ready <= 0) continue;
    }
    if (!commands.Next(&line)) return 0;  // the parent closed stdin
    std::vector<absl::string_view> fields = SplitFields(line);
    if (fields.empty()) continue;
    if (fields[0] == "resume_slow") {
      group->ResumeSlow();
    } else if (fields[0] == "stop") {
      return 0;
    } else if (fields[0] == "finish") {
      absl::StatusOr<std::vector<uint64_t>> last_seq = ParseFinishCommand(fields);
      absl::StatusOr<ClientGroupTotals> totals =
          last_seq.ok() ? group->Finish(*last_seq) : last_seq.status();
      if (!totals.ok()) {
        WriteAll(STDOUT_FILENO, absl::StrCat("error ", totals.status().message(), "\n"));
        return 1;
      }
      WriteAll(STDOUT_FILENO, absl::StrCat("result ", EncodeTotals(*totals), "\n"));
      return 0;
    }
  }
}

}  // namespace wirehub::bench

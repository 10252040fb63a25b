#include "tools/bench/client_group.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/jwt.h"
#include "tools/bench/child_process.h"

namespace wirehub::bench {
namespace {

constexpr absl::Duration kStatusInterval = absl::Milliseconds(50);

size_t Workers(const ClientGroupSpec& spec) { return spec.threads * spec.processes; }

size_t WorkerClients(const ClientGroupSpec& spec, size_t worker) {
  size_t workers = Workers(spec);
  return spec.clients / workers + (worker < spec.clients % workers ? 1 : 0);
}

// Writes all of `data` to `fd`; false when the reader is gone.
bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Splits what arrives on a descriptor into lines.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  // Next complete line without its '\n'; false at end of input or error
  // (a last unterminated line is dropped). Blocks.
  bool Next(std::string* line) {
    while (true) {
      size_t newline = buffer_.find('\n', scanned_);
      if (newline != std::string::npos) {
        line->assign(buffer_, 0, newline);
        buffer_.erase(0, newline + 1);
        scanned_ = 0;
        return true;
      }
      scanned_ = buffer_.size();
      char chunk[65536];
      ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Whether a complete line is already buffered.
  bool HasLine() const { return buffer_.find('\n') != std::string::npos; }

 private:
  int fd_;
  std::string buffer_;
  size_t scanned_ = 0;
};

std::vector<absl::string_view> Fields(std::string_view line) {
  return absl::StrSplit(AsAbsl(line), ' ', absl::SkipEmpty());
}

// "finish <n> <last_seq...>" <-> last_seq.
std::string FinishCommand(const std::vector<uint64_t>& last_seq) {
  return absl::StrCat("finish ", last_seq.size(), " ", absl::StrJoin(last_seq, " "), "\n");
}

absl::StatusOr<std::vector<uint64_t>> ParseFinish(const std::vector<absl::string_view>& fields) {
  size_t n = 0;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &n) || fields.size() != n + 2) {
    return absl::InvalidArgumentError("finish: expected a count and that many sequence numbers");
  }
  std::vector<uint64_t> last_seq(n);
  for (size_t i = 0; i < n; ++i) {
    if (!absl::SimpleAtoi(fields[i + 2], &last_seq[i])) {
      return absl::InvalidArgumentError("finish: bad sequence number");
    }
  }
  return last_seq;
}

}  // namespace

std::string BenchChannelName(size_t i) { return absl::StrCat("bench", i); }

// A child wirehub-bench process running some of the workers, as this side
// sees it. Its reader thread keeps the last status it reported.
struct ClientGroup::Child {
  pid_t pid = -1;
  size_t clients = 0;  // held by its workers
  int to_child = -1;
  int from_child = -1;
  std::thread reader;

  mutable absl::Mutex mu;
  size_t subscribed ABSL_GUARDED_BY(mu) = 0;
  size_t failed ABSL_GUARDED_BY(mu) = 0;
  size_t closed ABSL_GUARDED_BY(mu) = 0;
  size_t slow_closed ABSL_GUARDED_BY(mu) = 0;
  uint64_t received ABSL_GUARDED_BY(mu) = 0;
  int64_t connect_ns ABSL_GUARDED_BY(mu) = 0;
  int64_t subscribe_ns ABSL_GUARDED_BY(mu) = 0;
  std::string error ABSL_GUARDED_BY(mu);
  std::string result ABSL_GUARDED_BY(mu);  // the "result" line's fields
  bool has_result ABSL_GUARDED_BY(mu) = false;
  bool ended ABSL_GUARDED_BY(mu) = false;  // its stdout closed

  void Read() {
    LineReader lines(from_child);
    std::string line;
    while (lines.Next(&line)) {
      std::vector<absl::string_view> fields = Fields(line);
      if (fields.empty()) continue;
      absl::MutexLock lock(&mu);
      if (fields[0] == "status" && fields.size() == 8) {
        bool ok =
            absl::SimpleAtoi(fields[1], &subscribed) && absl::SimpleAtoi(fields[2], &failed) &&
            absl::SimpleAtoi(fields[3], &closed) && absl::SimpleAtoi(fields[4], &slow_closed) &&
            absl::SimpleAtoi(fields[5], &received) && absl::SimpleAtoi(fields[6], &connect_ns) &&
            absl::SimpleAtoi(fields[7], &subscribe_ns);
        if (!ok && error.empty()) error = "bad status line from a client process";
      } else if (fields[0] == "error") {
        if (error.empty()) error = line.substr(6);
      } else if (fields[0] == "result") {
        result = line.substr(7);
        has_result = true;
      }
    }
    absl::MutexLock lock(&mu);
    ended = true;
  }
};

ClientPoolOptions LocalWorkerOptions(const ClientGroupSpec& spec, size_t worker) {
  const size_t workers = Workers(spec);
  auto global = [workers, worker](size_t local) { return local * workers + worker; };
  ClientPoolOptions options;
  options.protocol = spec.protocol;
  options.server_host = spec.host;
  options.server_port = spec.ports.empty() ? 0 : spec.ports[worker % spec.ports.size()];
  options.source_addresses = spec.source_addresses;
  options.clients = WorkerClients(spec, worker);
  options.slow_every = spec.slow_every;
  options.tls_ca_file = spec.tls_ca_file;
  const size_t channels = std::max<size_t>(1, spec.channels);
  options.channel = [global, channels](size_t local) {
    return BenchChannelName(global(local) % channels);
  };
  std::string resource = spec.resource;
  options.resource = [resource, global, channels](size_t local) {
    return absl::StrReplaceAll(resource,
                               {{"{channel}", BenchChannelName(global(local) % channels)}});
  };
  if (!spec.token_secret.empty()) {
    std::string secret = spec.token_secret;
    absl::Time issued = spec.token_issued_at;
    absl::Time expires = spec.token_expires_at;
    options.token = [secret, global, issued, expires](size_t local) {
      TokenSpec token;
      token.subject = absl::StrCat("u", global(local));
      token.issued_at = issued;
      token.expires_at = expires;
      return MintToken(secret, token);
    };
  }
  return options;
}

absl::StatusOr<std::unique_ptr<ClientGroup>> ClientGroup::Start(const ClientGroupSpec& spec,
                                                                const std::string& self_binary) {
  ClientGroupSpec fitted = spec;
  // No worker without clients.
  fitted.processes = std::clamp<size_t>(spec.processes, 1, std::max<size_t>(1, spec.clients));
  fitted.threads =
      std::clamp<size_t>(spec.threads, 1, std::max<size_t>(1, spec.clients / fitted.processes));
  if (fitted.ports.empty() || fitted.threads * fitted.processes < fitted.ports.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the clients' ", fitted.threads * fitted.processes, " loops cannot cover ",
        fitted.ports.size(), " servers: give more --client_threads or --client_processes"));
  }
  std::unique_ptr<ClientGroup> group(new ClientGroup(fitted));
  for (size_t p = 1; p < fitted.processes; ++p) {
    if (absl::Status status = group->StartChild(p, self_binary); !status.ok()) return status;
  }
  group->StartLocal(0);
  return group;
}

std::unique_ptr<ClientGroup> ClientGroup::StartInChild(const ClientGroupSpec& spec,
                                                       size_t process) {
  std::unique_ptr<ClientGroup> group(new ClientGroup(spec));
  group->StartLocal(process);
  return group;
}

void ClientGroup::StartLocal(size_t process) {
  for (size_t t = 0; t < spec_.threads; ++t) {
    size_t worker = process * spec_.threads + t;
    pools_.push_back(std::make_unique<ClientPool>(LocalWorkerOptions(spec_, worker)));
    pool_workers_.push_back(worker);
  }
  for (auto& pool : pools_) {
    threads_.emplace_back([p = pool.get()] { p->Run().IgnoreError(); });
  }
}

absl::Status ClientGroup::StartChild(size_t process, const std::string& self_binary) {
  int to_child[2];
  int from_child[2];
  if (pipe2(to_child, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (pipe2(from_child, O_CLOEXEC) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  std::vector<std::string> args = {
      self_binary,
      "clients",
      absl::StrCat("--protocol=", static_cast<int>(spec_.protocol)),
      absl::StrCat("--host=", spec_.host),
      absl::StrCat("--ports=", absl::StrJoin(spec_.ports, ",")),
      absl::StrCat("--sources=", absl::StrJoin(spec_.source_addresses, ",")),
      absl::StrCat("--resource=", spec_.resource),
      absl::StrCat("--clients=", spec_.clients),
      absl::StrCat("--channels=", spec_.channels),
      absl::StrCat("--slow_every=", spec_.slow_every),
      absl::StrCat("--threads=", spec_.threads),
      absl::StrCat("--processes=", spec_.processes),
      absl::StrCat("--process=", process),
      absl::StrCat("--issued=", absl::ToUnixSeconds(spec_.token_issued_at)),
      absl::StrCat("--expires=", absl::ToUnixSeconds(spec_.token_expires_at)),
      absl::StrCat("--tls_ca_file=", spec_.tls_ca_file),
  };
  absl::StatusOr<pid_t> pid = SpawnChild(args, from_child[1], STDERR_FILENO, to_child[0]);
  close(to_child[0]);
  close(from_child[1]);
  if (!pid.ok()) {
    close(to_child[1]);
    close(from_child[0]);
    return pid.status();
  }
  auto child = std::make_unique<Child>();
  child->pid = *pid;
  for (size_t t = 0; t < spec_.threads; ++t) {
    child->clients += WorkerClients(spec_, process * spec_.threads + t);
  }
  child->to_child = to_child[1];
  child->from_child = from_child[0];
  // The secret goes through the pipe rather than the command line, which
  // every local user can read.
  WriteAll(child->to_child, absl::StrCat("secret ", spec_.token_secret, "\n"));
  child->reader = std::thread([c = child.get()] { c->Read(); });
  children_.push_back(std::move(child));
  return absl::OkStatus();
}

ClientGroup::ClientGroup(const ClientGroupSpec& spec) : spec_(spec) {}

ClientGroup::~ClientGroup() { Stop(); }

template <typename Count>
Count ClientGroup::Sum(Count (ClientPool::*of_pool)() const, Count Child::*of_child) const {
  Count total = 0;
  for (const auto& pool : pools_) total += ((*pool).*of_pool)();
  for (const auto& child : children_) {
    absl::MutexLock lock(&child->mu);
    total += (*child).*of_child;
  }
  return total;
}

size_t ClientGroup::subscribed() const { return Sum(&ClientPool::subscribed, &Child::subscribed); }

size_t ClientGroup::failed() const {
  size_t total = 0;
  for (const auto& pool : pools_) total += pool->failed();
  for (const auto& child : children_) {
    absl::MutexLock lock(&child->mu);
    total += child->failed;
    // A child that is gone fails all it held that did not already fail.
    if (child->ended && !child->has_result) {
      total += child->clients - std::min(child->clients, child->failed);
    }
  }
  return total;
}

size_t ClientGroup::closed() const { return Sum(&ClientPool::closed, &Child::closed); }

size_t ClientGroup::slow_closed() const {
  return Sum(&ClientPool::slow_closed, &Child::slow_closed);
}

uint64_t ClientGroup::received() const { return Sum(&ClientPool::received, &Child::received); }

absl::Duration ClientGroup::LongestPhase(absl::Duration (ClientPool::*of_pool)() const,
                                         int64_t Child::*of_child_ns) const {
  absl::Duration longest;
  for (const auto& pool : pools_) {
    absl::Duration phase = ((*pool).*of_pool)();
    if (phase == absl::ZeroDuration()) return absl::ZeroDuration();
    longest = std::max(longest, phase);
  }
  for (const auto& child : children_) {
    absl::MutexLock lock(&child->mu);
    int64_t phase_ns = (*child).*of_child_ns;
    if (phase_ns == 0) return absl::ZeroDuration();
    longest = std::max(longest, absl::Nanoseconds(phase_ns));
  }
  return longest;
}

absl::Duration ClientGroup::connect_phase() const {
  return LongestPhase(&ClientPool::connect_phase, &Child::connect_ns);
}

absl::Duration ClientGroup::subscribe_phase() const {
  return LongestPhase(&ClientPool::subscribe_phase, &Child::subscribe_ns);
}

std::string ClientGroup::first_error() const {
  for (const auto& pool : pools_) {
    std::string error = pool->first_error();
    if (!error.empty()) return error;
  }
  for (const auto& child : children_) {
    absl::MutexLock lock(&child->mu);
    if (!child->error.empty()) return child->error;
    if (child->ended && !child->has_result) return "a client process exited early";
  }
  return {};
}

std::string ClientGroup::tls_description() const {
  for (const auto& pool : pools_) {
    std::string description = pool->tls_description();
    if (!description.empty()) return description;
  }
  return {};
}

uint64_t ExpectedDeliveries(const ClientGroupSpec& spec, const std::vector<uint64_t>& last_seq) {
  if (last_seq.empty()) return 0;
  const size_t workers = Workers(spec);
  uint64_t expected = 0;
  for (size_t worker = 0; worker < workers; ++worker) {
    size_t clients = WorkerClients(spec, worker);
    for (size_t local = 0; local < clients; ++local) {
      if (spec.slow_every > 0 && local % spec.slow_every == spec.slow_every - 1) continue;
      expected += last_seq[(local * workers + worker) % last_seq.size()];
    }
  }
  return expected;
}

uint64_t ClientGroup::Expected(const std::vector<uint64_t>& last_seq) const {
  return ExpectedDeliveries(spec_, last_seq);
}

void ClientGroup::ResumeSlow() {
  for (auto& pool : pools_) pool->ResumeSlow();
  for (auto& child : children_) WriteAll(child->to_child, "resume_slow\n");
}

absl::StatusOr<ClientGroupTotals> ClientGroup::Finish(const std::vector<uint64_t>& last_seq,
                                                      absl::Duration timeout) {
  if (last_seq.size() < std::max<size_t>(1, spec_.channels)) {
    return absl::InvalidArgumentError("Finish needs a last sequence number for every channel");
  }
  for (auto& child : children_) WriteAll(child->to_child, FinishCommand(last_seq));
  StopLocal();

  ClientGroupTotals totals;
  const size_t workers = Workers(spec_);
  for (size_t i = 0; i < pools_.size(); ++i) {
    ClientPool& pool = *pools_[i];
    totals.latency.Merge(pool.histogram());
    SequenceTracker& tracker = pool.tracker();
    for (size_t local = 0; local < tracker.num_streams(); ++local) {
      if (pool.IsSlow(local)) continue;
      tracker.Finish(local, last_seq[(local * workers + pool_workers_[i]) % spec_.channels]);
      const SequenceTracker::Counts& counts = tracker.counts(local);
      totals.counts.received += counts.received;
      totals.counts.missing += counts.missing;
      totals.counts.duplicated += counts.duplicated;
      totals.counts.late += counts.late;
    }
  }
  absl::Status failure;
  for (auto& child : children_) {
    std::string result;
    {
      absl::MutexLock lock(&child->mu);
      auto answered = [c = child.get()]()
                          ABSL_SHARED_LOCKS_REQUIRED(c->mu) { return c->has_result || c->ended; };
      child->mu.AwaitWithTimeout(absl::Condition(&answered), timeout);
      if (!child->has_result) {
        if (failure.ok()) {
          failure = absl::DeadlineExceededError(
              absl::StrCat("client process ", child->pid, " gave no totals"));
        }
        continue;
      }
      result = child->result;
    }
    // "<received> <missing> <duplicated> <late> <histogram...>"
    std::vector<absl::string_view> fields = absl::StrSplit(result, absl::MaxSplits(' ', 4));
    SequenceTracker::Counts counts;
    bool ok = fields.size() == 5 && absl::SimpleAtoi(fields[0], &counts.received) &&
              absl::SimpleAtoi(fields[1], &counts.missing) &&
              absl::SimpleAtoi(fields[2], &counts.duplicated) &&
              absl::SimpleAtoi(fields[3], &counts.late);
    absl::StatusOr<LatencyHistogram> histogram =
        ok ? LatencyHistogram::Decode(AsStd(fields[4]))
           : absl::InvalidArgumentError("bad result line from a client process");
    if (!histogram.ok()) {
      if (failure.ok()) failure = histogram.status();
      continue;
    }
    totals.latency.Merge(*histogram);
    totals.counts.received += counts.received;
    totals.counts.missing += counts.missing;
    totals.counts.duplicated += counts.duplicated;
    totals.counts.late += counts.late;
  }
  Stop();
  if (!failure.ok()) return failure;
  return totals;
}

void ClientGroup::StopLocal() {
  for (auto& pool : pools_) pool->Stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void ClientGroup::Stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& child : children_) {
    WriteAll(child->to_child, "stop\n");
    close(child->to_child);
    child->to_child = -1;
  }
  StopLocal();
  for (auto& child : children_) {
    // A child closes its clients and exits once stdin is closed; one that
    // does not within 10 s is killed.
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    int status = 0;
    pid_t reaped = 0;
    while ((reaped = waitpid(child->pid, &status, WNOHANG)) == 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (reaped == 0) {
      kill(child->pid, SIGKILL);
      waitpid(child->pid, &status, 0);
    }
    if (child->reader.joinable()) child->reader.join();
    close(child->from_child);
    child->from_child = -1;
  }
}

int RunClientWorkerCommand(const std::vector<std::string>& args) {
  ClientGroupSpec spec;
  size_t process = 0;
  int64_t issued = 0;
  int64_t expires = 0;
  for (const std::string& arg : args) {
    std::pair<absl::string_view, absl::string_view> flag =
        absl::StrSplit(arg, absl::MaxSplits('=', 1));
    absl::string_view name = flag.first;
    absl::string_view value = flag.second;
    int protocol = 0;
    bool ok = true;
    if (name == "--protocol" && absl::SimpleAtoi(value, &protocol) && protocol >= 0 &&
        protocol <= static_cast<int>(ClientProtocol::kNats)) {
      spec.protocol = static_cast<ClientProtocol>(protocol);
    } else if (name == "--host") {
      spec.host = std::string(value);
    } else if (name == "--ports") {
      for (absl::string_view port : absl::StrSplit(value, ',', absl::SkipEmpty())) {
        int number = 0;
        ok = ok && absl::SimpleAtoi(port, &number) && number > 0 && number < 65536;
        spec.ports.push_back(number);
      }
    } else if (name == "--sources") {
      spec.source_addresses = absl::StrSplit(value, ',', absl::SkipEmpty());
    } else if (name == "--resource") {
      spec.resource = std::string(value);
    } else if (name == "--clients") {
      ok = absl::SimpleAtoi(value, &spec.clients);
    } else if (name == "--channels") {
      ok = absl::SimpleAtoi(value, &spec.channels) && spec.channels > 0;
    } else if (name == "--slow_every") {
      ok = absl::SimpleAtoi(value, &spec.slow_every);
    } else if (name == "--threads") {
      ok = absl::SimpleAtoi(value, &spec.threads) && spec.threads > 0;
    } else if (name == "--processes") {
      ok = absl::SimpleAtoi(value, &spec.processes) && spec.processes > 0;
    } else if (name == "--process") {
      ok = absl::SimpleAtoi(value, &process);
    } else if (name == "--issued") {
      ok = absl::SimpleAtoi(value, &issued);
    } else if (name == "--expires") {
      ok = absl::SimpleAtoi(value, &expires);
    } else if (name == "--tls_ca_file") {
      spec.tls_ca_file = std::string(value);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "wirehub-bench clients: bad flag %s\n", arg.c_str());
      return 2;
    }
  }
  if (process >= spec.processes || spec.source_addresses.empty() || spec.ports.empty()) {
    std::fprintf(stderr, "wirehub-bench clients: needs --ports, and --process below --processes\n");
    return 2;
  }
  spec.token_issued_at = absl::FromUnixSeconds(issued);
  spec.token_expires_at = absl::FromUnixSeconds(expires);
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
    std::string status =
        absl::StrCat("status ", group->subscribed(), " ", group->failed(), " ", group->closed(),
                     " ", group->slow_closed(), " ", group->received(), " ",
                     absl::ToInt64Nanoseconds(group->connect_phase()), " ",
                     absl::ToInt64Nanoseconds(group->subscribe_phase()), "\n");
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
    std::vector<absl::string_view> fields = Fields(line);
    if (fields.empty()) continue;
    if (fields[0] == "resume_slow") {
      group->ResumeSlow();
    } else if (fields[0] == "stop") {
      return 0;
    } else if (fields[0] == "finish") {
      absl::StatusOr<std::vector<uint64_t>> last_seq = ParseFinish(fields);
      absl::StatusOr<ClientGroupTotals> totals =
          last_seq.ok() ? group->Finish(*last_seq) : last_seq.status();
      if (!totals.ok()) {
        WriteAll(STDOUT_FILENO, absl::StrCat("error ", totals.status().message(), "\n"));
        return 1;
      }
      WriteAll(STDOUT_FILENO,
               absl::StrCat("result ", totals->counts.received, " ", totals->counts.missing, " ",
                            totals->counts.duplicated, " ", totals->counts.late, " ",
                            totals->latency.Encode(), "\n"));
      return 0;
    }
  }
}

}  // namespace wirehub::bench

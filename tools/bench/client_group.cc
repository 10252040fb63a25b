#include "tools/bench/client_group.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/jwt.h"
#include "tools/bench/child_process.h"
#include "tools/bench/worker_pipe.h"

namespace wirehub::bench {
namespace {

size_t Workers(const ClientGroupSpec& spec) { return spec.threads * spec.processes; }

size_t WorkerClients(const ClientGroupSpec& spec, size_t worker) {
  size_t workers = Workers(spec);
  return spec.clients / workers + (worker < spec.clients % workers ? 1 : 0);
}

}  // namespace

std::string BenchChannelName(size_t i) { return absl::StrCat("bench", i); }

size_t SubscribersOfChannels(const std::vector<size_t>& channel_subscribers, size_t channels) {
  if (channel_subscribers.empty()) return channels;
  size_t total = 0;
  for (size_t c = 0; c < channels; ++c) {
    total += channel_subscribers[c % channel_subscribers.size()];
  }
  return total;
}

size_t ChannelOfClient(const ClientGroupSpec& spec, size_t client) {
  const std::vector<size_t>& cycle = spec.channel_subscribers;
  if (cycle.empty()) return client % std::max<size_t>(1, spec.channels);
  // The clients of cycle.size() consecutive channels form a block of
  // sum(cycle) clients, channel by channel.
  size_t per_block = 0;
  for (size_t subscribers : cycle) per_block += subscribers;
  if (per_block == 0) return 0;
  size_t channel = client / per_block * cycle.size();
  size_t rest = client % per_block;
  for (size_t subscribers : cycle) {
    if (rest < subscribers) break;
    rest -= subscribers;
    ++channel;
  }
  return channel;
}

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
  uint64_t received_bytes ABSL_GUARDED_BY(mu) = 0;
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
      std::vector<absl::string_view> fields = SplitFields(line);
      if (fields.empty()) continue;
      absl::MutexLock lock(&mu);
      if (fields[0] == "status" && fields.size() == 9) {
        bool ok =
            absl::SimpleAtoi(fields[1], &subscribed) && absl::SimpleAtoi(fields[2], &failed) &&
            absl::SimpleAtoi(fields[3], &closed) && absl::SimpleAtoi(fields[4], &slow_closed) &&
            absl::SimpleAtoi(fields[5], &received) && absl::SimpleAtoi(fields[6], &connect_ns) &&
            absl::SimpleAtoi(fields[7], &subscribe_ns) &&
            absl::SimpleAtoi(fields[8], &received_bytes);
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
  // The channel of every local client, computed once (it is asked for on
  // every connect and in Finish()).
  auto channel_names = std::make_shared<std::vector<std::string>>();
  for (size_t local = 0; local < WorkerClients(spec, worker); ++local) {
    channel_names->push_back(BenchChannelName(ChannelOfClient(spec, global(local))));
  }
  ClientPoolOptions options;
  options.protocol = spec.protocol;
  options.wire = spec.wire;
  options.server_host = spec.host;
  options.server_port = spec.ports.empty() ? 0 : spec.ports[worker % spec.ports.size()];
  options.source_addresses = spec.source_addresses;
  options.clients = WorkerClients(spec, worker);
  options.slow_every = spec.slow_every;
  options.tls_ca_file = spec.tls_ca_file;
  options.reply_tokens = spec.reply_tokens;
  options.channel = [channel_names](size_t local) { return (*channel_names)[local]; };
  std::string resource = spec.resource;
  options.resource = [resource, channel_names](size_t local) {
    return absl::StrReplaceAll(resource, {{"{channel}", (*channel_names)[local]}});
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
  std::vector<std::string> args = {self_binary, "clients"};
  for (std::string& arg : WorkerArgs(spec_, process)) args.push_back(std::move(arg));
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

uint64_t ClientGroup::received_bytes() const {
  return Sum(&ClientPool::received_bytes, &Child::received_bytes);
}

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
      expected += last_seq[ChannelOfClient(spec, local * workers + worker) % last_seq.size()];
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
    totals.timings.Merge(pool.reply_timings());
    SequenceTracker& tracker = pool.tracker();
    for (size_t local = 0; local < tracker.num_streams(); ++local) {
      if (pool.IsSlow(local)) continue;
      size_t channel = ChannelOfClient(spec_, local * workers + pool_workers_[i]);
      tracker.Finish(local, last_seq[channel % last_seq.size()]);
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
    absl::StatusOr<ClientGroupTotals> part = DecodeTotals(result);
    if (!part.ok()) {
      if (failure.ok()) failure = part.status();
      continue;
    }
    AddTotals(*part, &totals);
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

}  // namespace wirehub::bench

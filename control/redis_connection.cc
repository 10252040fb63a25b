#include "control/redis_connection.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/absl_compat.h"
#include "common/logging.h"

namespace wirehub::control {
namespace {

constexpr size_t kReadBufferSize = 64 << 10;
// Reads per loop iteration before timers and writes get their turn.
constexpr int kMaxReadsPerIteration = 16;
// A buffer larger than this is freed once empty rather than kept for reuse.
constexpr size_t kMaxRetainedBuffer = 1 << 20;
// Failed connection attempts: at most one log line per period.
constexpr std::chrono::seconds kFailureLogPeriod(5);

using Clock = std::chrono::steady_clock;

std::string FormatAddress(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

std::string ErrnoText(int error) {
  char buffer[128];
  // GNU strerror_r: returns the text, which may or may not be in `buffer`.
  return strerror_r(error, buffer, sizeof(buffer));
}

// `now` + `timeout`, saturating (InfiniteDuration: never).
Clock::time_point DeadlineAfter(Clock::time_point now, absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return now;
  const int64_t nanos = absl::ToInt64Nanoseconds(timeout);
  const int64_t room =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::time_point::max() - now).count();
  if (timeout == absl::InfiniteDuration() || nanos >= room) return Clock::time_point::max();
  return now + std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos));
}

// poll()'s timeout until `deadline`: -1 for never, rounded up to whole ms.
int PollTimeout(Clock::time_point now, Clock::time_point deadline) {
  if (deadline == Clock::time_point::max()) return -1;
  if (deadline <= now) return 0;
  const auto millis = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::min<int64_t>(millis, INT_MAX));
}

// A pub/sub message (rather than the reply to a command) in RESP2.
bool IsPushMessage(const RedisReply& reply) {
  if (!reply.is_array() || reply.elements.empty() || !reply.elements[0].is_string()) return false;
  const std::string& kind = reply.elements[0].str;
  return kind == "message" || kind == "smessage" || kind == "pmessage";
}

// The run_id field of an INFO reply ("run_id:<40 hex digits>\r\n"); "" when
// absent.
std::string ParseRunId(const std::string& info) {
  for (absl::string_view line : absl::StrSplit(AsAbsl(info), '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (absl::ConsumePrefix(&line, "run_id:")) return std::string(line);
  }
  return "";
}

void ReleaseIfLarge(std::string* buffer) {
  if (buffer->capacity() > kMaxRetainedBuffer) {
    std::string().swap(*buffer);
  } else {
    buffer->clear();
  }
}

}  // namespace

RedisConnection::RedisConnection(RedisConnectionOptions options, StateCallback on_state,
                                 PushCallback on_push)
    : options_(std::move(options)),
      address_(FormatAddress(options_.host, options_.port)),
      log_prefix_(options_.name.empty()
                      ? absl::StrCat("redis ", address_)
                      : absl::StrCat("redis ", address_, " (", options_.name, ")")),
      on_state_(std::move(on_state)),
      on_push_(std::move(on_push)),
      jitter_(static_cast<std::minstd_rand::result_type>(Clock::now().time_since_epoch().count() ^
                                                         reinterpret_cast<uintptr_t>(this))) {}

RedisConnection::~RedisConnection() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void RedisConnection::Start() {
  absl::MutexLock lock(&mu_);
  WH_CHECK(!started_ && !stopping_) << "RedisConnection::Start() runs once, before Stop()";
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  WH_CHECK(wake_fd_ >= 0) << "eventfd: " << ErrnoText(errno);
  read_buf_ = std::make_unique<char[]>(kReadBufferSize);
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void RedisConnection::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    WH_CHECK(!thread_.joinable() || loop_thread_id_ != std::this_thread::get_id())
        << "RedisConnection::Stop() called from one of its callbacks";
    stopping_ = true;
    thread = std::move(thread_);
  }
  if (!thread.joinable()) return;
  Wake();
  thread.join();
}

void RedisConnection::Wake() {
  const uint64_t one = 1;
  // EAGAIN (the counter is full) means a wakeup is pending anyway.
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
}

absl::Status RedisConnection::Unavailable(std::string_view what) const {
  return absl::UnavailableError(absl::StrCat("redis ", address_, ": ", AsAbsl(what)));
}

void RedisConnection::Command(std::vector<std::string> args, Callback cb, int replies,
                              std::string_view expected_run_id) {
  const size_t size = EncodedCommandSize(args);
  absl::Status refused;
  bool run_inline = false;
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopping_) {
      run_inline = true;
      refused = Unavailable(stopping_ ? "stopped" : "not connected");
    } else if (args.empty() || replies < 1) {
      refused = absl::InvalidArgumentError(
          absl::StrCat("redis ", address_, ": a command needs arguments and replies >= 1"));
    } else if (!ready_) {
      refused = Unavailable("not connected");
    } else if (!expected_run_id.empty() && expected_run_id != run_id_) {
      refused = Unavailable(absl::StrCat("run_id changed (now ", run_id_, ", the command was for ",
                                         AsAbsl(expected_run_id), ")"));
    } else if (pending_.size() >= options_.max_in_flight) {
      refused = Unavailable("too many commands in flight");
    } else if (outbound_.size() + unwritten_ + size > options_.max_queued_bytes) {
      refused = Unavailable("send queue full");
    } else {
      AppendCommand(args, &outbound_);
      pending_.push_back(
          Pending{std::move(cb), replies, DeadlineAfter(Clock::now(), options_.command_timeout)});
      ++counts_.sent;
    }
    if (!refused.ok()) {
      ++counts_.failures;
      if (!run_inline) failed_.push_back(Failed{std::move(cb), refused});
    }
    if (!run_inline && !wake_scheduled_) {
      wake_scheduled_ = true;
      // The loop looks at wake_scheduled_ before it sleeps, so a command
      // from one of its callbacks needs no eventfd write.
      wake = loop_thread_id_ != std::this_thread::get_id();
    }
  }
  if (run_inline) {
    cb(std::move(refused));
    return;
  }
  if (wake) Wake();
}

bool RedisConnection::up() const {
  absl::MutexLock lock(&mu_);
  return ready_;
}

std::string RedisConnection::run_id() const {
  absl::MutexLock lock(&mu_);
  return run_id_;
}

RedisConnection::Counts RedisConnection::counts() const {
  absl::MutexLock lock(&mu_);
  Counts counts = counts_;
  counts.in_flight = pending_.size();
  counts.queued_bytes = outbound_.size() + unwritten_;
  return counts;
}

bool RedisConnection::IsLoopThread() const {
  absl::MutexLock lock(&mu_);
  return loop_thread_id_ == std::this_thread::get_id();
}

void RedisConnection::AssertLoopThread() const {
#ifndef NDEBUG
  WH_CHECK(IsLoopThread()) << "RedisConnection: loop-only method called elsewhere";
#endif
}

void RedisConnection::Run() {
  {
    absl::MutexLock lock(&mu_);
    loop_thread_id_ = std::this_thread::get_id();
  }
  for (;;) {
    std::vector<Failed> failed;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      wake_scheduled_ = false;
      stopping = stopping_;
      failed.swap(failed_);
      // Everything queued since the last write goes out in one write.
      if (write_buf_.empty() && !outbound_.empty()) {
        write_buf_.swap(outbound_);
        write_offset_ = 0;
        unwritten_ = write_buf_.size();
      }
    }
    for (Failed& refused : failed) refused.cb(std::move(refused.status));
    failed.clear();
    if (stopping) {
      Shutdown();
      return;
    }

    const Clock::time_point now = Clock::now();
    switch (phase_) {
      case Phase::kIdle:
        if (now >= next_attempt_) BeginAttempt();
        break;
      case Phase::kConnecting:
        if (now >= phase_deadline_) {
          CloseSocket();
          ++address_index_;
          ConnectNextAddress(absl::StrCat("connect: no answer within ",
                                          absl::FormatDuration(options_.connect_timeout)));
        }
        break;
      case Phase::kHandshake:
        if (now >= phase_deadline_) {
          Disconnect(absl::StrCat("handshake: no reply within ",
                                  absl::FormatDuration(options_.command_timeout)));
        }
        break;
      case Phase::kReady:
        ExpireTimeouts(now);
        break;
    }
    if ((phase_ == Phase::kHandshake || phase_ == Phase::kReady) && !write_buf_.empty()) {
      WriteSome();
    }

    pollfd fds[2];
    fds[0] = {wake_fd_, POLLIN, 0};
    nfds_t count = 1;
    Clock::time_point deadline = Clock::time_point::max();
    switch (phase_) {
      case Phase::kIdle:
        deadline = next_attempt_;
        break;
      case Phase::kConnecting:
        fds[count++] = {fd_, POLLOUT, 0};
        deadline = phase_deadline_;
        break;
      case Phase::kHandshake:
      case Phase::kReady:
        fds[count++] = {fd_, static_cast<short>(POLLIN | (write_buf_.empty() ? 0 : POLLOUT)), 0};
        if (phase_ == Phase::kHandshake) deadline = phase_deadline_;
        break;
    }
    bool wake_now;
    {
      absl::MutexLock lock(&mu_);
      unwritten_ = write_buf_.size() - write_offset_;
      wake_now = wake_scheduled_;
      // The oldest command still waiting has the earliest deadline.
      if (phase_ == Phase::kReady && timed_out_ < pending_.size()) {
        deadline = pending_[timed_out_].deadline;
      }
    }
    const int timeout = wake_now ? 0 : PollTimeout(Clock::now(), deadline);
    if (poll(fds, count, timeout) < 0) {
      if (errno != EINTR) {
        WH_LOG_EVERY_N_SEC(ERROR, 5) << log_prefix_ << ": poll: " << ErrnoText(errno);
      }
      continue;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t value;
      while (read(wake_fd_, &value, sizeof(value)) < 0 && errno == EINTR) {
      }
    }
    if (count == 2 && fds[1].revents != 0) {
      if (phase_ == Phase::kConnecting) {
        OnConnectWritable();
      } else if (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) {
        ReadSome();
      }
      // POLLOUT alone: the next iteration writes.
    }
  }
}

void RedisConnection::BeginAttempt() {
  AssertLoopThread();
  addresses_.clear();
  address_index_ = 0;
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string port = std::to_string(options_.port);
  const int rc = getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    AttemptFailed(absl::StrCat("cannot resolve ", options_.host, ": ", gai_strerror(rc)));
    return;
  }
  for (const addrinfo* info = result; info != nullptr; info = info->ai_next) {
    if (info->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address address = {};
    memcpy(&address.addr, info->ai_addr, info->ai_addrlen);
    address.length = info->ai_addrlen;
    addresses_.push_back(address);
  }
  freeaddrinfo(result);
  ConnectNextAddress(absl::StrCat("no address for ", options_.host));
}

void RedisConnection::ConnectNextAddress(std::string error) {
  for (; address_index_ < addresses_.size(); ++address_index_) {
    const Address& address = addresses_[address_index_];
    fd_ = socket(address.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      error = absl::StrCat("socket: ", ErrnoText(errno));
      continue;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&address.addr), address.length) == 0) {
      OnConnected();
      return;
    }
    if (errno == EINPROGRESS) {
      phase_ = Phase::kConnecting;
      phase_deadline_ = DeadlineAfter(Clock::now(), options_.connect_timeout);
      return;
    }
    error = absl::StrCat("connect: ", ErrnoText(errno));
    CloseSocket();
  }
  AttemptFailed(error);
}

void RedisConnection::OnConnectWritable() {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error == 0) {
    OnConnected();
    return;
  }
  CloseSocket();
  ++address_index_;
  ConnectNextAddress(absl::StrCat("connect: ", ErrnoText(error)));
}

void RedisConnection::OnConnected() {
  AssertLoopThread();
  phase_ = Phase::kHandshake;
  reader_ = redisReaderCreate();
  WH_CHECK(reader_ != nullptr) << "redisReaderCreate failed";
  write_buf_.clear();
  write_offset_ = 0;
  handshake_left_ = 0;
  handshake_run_id_.clear();
  // All pipelined; INFO last, so its reply means everything before it passed.
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      AppendCommand({"AUTH", options_.password}, &write_buf_);
    } else {
      AppendCommand({"AUTH", options_.username, options_.password}, &write_buf_);
    }
    ++handshake_left_;
  }
  if (options_.db != 0) {
    AppendCommand({"SELECT", std::to_string(options_.db)}, &write_buf_);
    ++handshake_left_;
  }
  if (!options_.name.empty()) {
    AppendCommand({"CLIENT", "SETNAME", options_.name}, &write_buf_);
    ++handshake_left_;
  }
  AppendCommand({"INFO", "server"}, &write_buf_);
  ++handshake_left_;
  phase_deadline_ = DeadlineAfter(Clock::now(), options_.command_timeout);
}

bool RedisConnection::WriteSome() {
  while (write_offset_ < write_buf_.size()) {
    const ssize_t n = send(fd_, write_buf_.data() + write_offset_,
                           write_buf_.size() - write_offset_, MSG_NOSIGNAL);
    if (n > 0) {
      write_offset_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // POLLOUT
    Disconnect(n < 0 ? ErrnoText(errno) : "write returned 0");
    return false;
  }
  ReleaseIfLarge(&write_buf_);
  write_offset_ = 0;
  return true;
}

void RedisConnection::ReadSome() {
  AssertLoopThread();
  std::vector<RedisReply> replies;
  for (int i = 0; i < kMaxReadsPerIteration; ++i) {
    const ssize_t n = read(fd_, read_buf_.get(), kReadBufferSize);
    if (n == 0) {
      Disconnect("closed by the server");
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Disconnect(ErrnoText(errno));
      return;
    }
    if (redisReaderFeed(reader_, read_buf_.get(), static_cast<size_t>(n)) != REDIS_OK) {
      Disconnect(absl::StrCat("protocol error: ", reader_->errstr));
      return;
    }
    std::string protocol_error;
    for (;;) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader_, &raw) != REDIS_OK) {
        protocol_error = reader_->errstr;
        if (protocol_error.empty()) protocol_error = "unparsable reply";
        break;
      }
      if (raw == nullptr) break;
      replies.push_back(ConvertReply(*static_cast<redisReply*>(raw)));
      freeReplyObject(raw);
    }
    HandleReplies(replies, std::move(protocol_error));
    replies.clear();
    if (phase_ == Phase::kIdle) return;                    // the connection was closed
    if (static_cast<size_t>(n) < kReadBufferSize) return;  // most likely drained
  }
}

void RedisConnection::HandleReplies(std::vector<RedisReply>& replies, std::string protocol_error) {
  size_t i = 0;
  while (i < replies.size() && phase_ == Phase::kHandshake) {
    if (!HandleHandshakeReply(replies[i++])) return;
  }
  if (i < replies.size()) {
    // Callbacks run after the lock is released, in the order of the replies.
    struct Completion {
      Callback cb;  // null: a push message
      RedisReply reply;
    };
    std::vector<Completion> completions;
    completions.reserve(replies.size() - i);
    bool unexpected = false;
    {
      absl::MutexLock lock(&mu_);
      for (; i < replies.size(); ++i) {
        RedisReply& reply = replies[i];
        if (options_.subscriber && IsPushMessage(reply)) {
          completions.push_back(Completion{nullptr, std::move(reply)});
          continue;
        }
        if (pending_.empty()) {
          if (!options_.subscriber) {
            unexpected = true;
            break;
          }
          completions.push_back(Completion{nullptr, std::move(reply)});
          continue;
        }
        ++counts_.replies;
        Pending& front = pending_.front();
        // An error ends a multi-reply command: Redis refuses a command with
        // one reply.
        if (!reply.is_error() && --front.replies_left > 0) continue;
        if (front.cb) completions.push_back(Completion{std::move(front.cb), std::move(reply)});
        // The timed-out entries are a prefix of pending_.
        if (timed_out_ > 0) --timed_out_;
        pending_.pop_front();
      }
    }
    for (Completion& completion : completions) {
      if (completion.cb) {
        completion.cb(std::move(completion.reply));
      } else if (on_push_) {
        on_push_(std::move(completion.reply));
      }
    }
    if (unexpected) {
      Disconnect("protocol error: a reply with no command waiting");
      return;
    }
  }
  if (!protocol_error.empty()) Disconnect(absl::StrCat("protocol error: ", protocol_error));
}

bool RedisConnection::HandleHandshakeReply(RedisReply& reply) {
  if (reply.is_error()) {
    // Redis error texts name the problem (WRONGPASS, NOAUTH, ERR DB index
    // is out of range), never the password.
    Disconnect(absl::StrCat("handshake: ", reply.str));
    return false;
  }
  if (handshake_left_ == 1) {  // INFO server
    handshake_run_id_ = reply.is_string() ? ParseRunId(reply.str) : "";
    if (handshake_run_id_.empty()) {
      Disconnect("handshake: INFO server has no run_id");
      return false;
    }
  }
  if (--handshake_left_ == 0) GoUp();
  return true;
}

void RedisConnection::GoUp() {
  AssertLoopThread();
  phase_ = Phase::kReady;
  failed_attempts_ = 0;
  {
    absl::MutexLock lock(&mu_);
    ready_ = true;
    run_id_ = handshake_run_id_;
    if (ever_up_) ++counts_.reconnects;
    ever_up_ = true;
  }
  // The next failure is logged at once.
  last_failure_logged_.clear();
  failures_since_log_ = 0;
  WH_LOG(INFO) << log_prefix_ << " up (run_id " << handshake_run_id_ << ")";
  if (on_state_) on_state_(true, handshake_run_id_);
}

void RedisConnection::ExpireTimeouts(Clock::time_point now) {
  std::vector<Callback> expired;
  {
    absl::MutexLock lock(&mu_);
    // Deadlines do not decrease along pending_: stop at the first one ahead.
    while (timed_out_ < pending_.size() && pending_[timed_out_].deadline <= now) {
      Pending& entry = pending_[timed_out_];
      if (entry.cb) expired.push_back(std::move(entry.cb));
      entry.cb = nullptr;  // the slot stays for the reply still due
      ++timed_out_;
      ++counts_.timeouts;
    }
  }
  if (expired.empty()) return;
  const absl::Status status =
      Unavailable(absl::StrCat("no reply within ", absl::FormatDuration(options_.command_timeout)));
  for (Callback& cb : expired) cb(status);
}

void RedisConnection::CloseSocket() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (reader_ != nullptr) redisReaderFree(reader_);
  reader_ = nullptr;
  ReleaseIfLarge(&write_buf_);
  write_offset_ = 0;
  handshake_left_ = 0;
}

bool RedisConnection::CloseAndFailAll(const absl::Status& status) {
  AssertLoopThread();
  CloseSocket();
  const bool was_up = phase_ == Phase::kReady;
  phase_ = Phase::kIdle;
  std::deque<Pending> pending;
  {
    absl::MutexLock lock(&mu_);
    ready_ = false;
    run_id_.clear();
    pending.swap(pending_);
    ReleaseIfLarge(&outbound_);
    unwritten_ = 0;
    timed_out_ = 0;
    for (const Pending& entry : pending) {
      if (entry.cb) ++counts_.failures;
    }
  }
  for (Pending& entry : pending) {
    if (entry.cb) entry.cb(status);
  }
  return was_up;
}

void RedisConnection::Disconnect(const std::string& reason) {
  const bool was_up = CloseAndFailAll(Unavailable(absl::StrCat("connection lost: ", reason)));
  if (!was_up) {
    AttemptFailed(reason);
    return;
  }
  WH_LOG(WARNING) << log_prefix_ << " down: " << reason;
  if (on_state_) on_state_(false, "");
  ScheduleRetry();
}

void RedisConnection::AttemptFailed(const std::string& reason) {
  AssertLoopThread();
  CloseSocket();
  phase_ = Phase::kIdle;
  ++failures_since_log_;
  const Clock::time_point now = Clock::now();
  // The first failure after being up (or at start) at once, then at most
  // one line per period.
  if (last_failure_logged_.empty() || now - last_failure_log_time_ >= kFailureLogPeriod) {
    if (last_failure_logged_.empty()) {
      WH_LOG(WARNING) << log_prefix_ << ": cannot connect: " << reason << " (retrying)";
    } else {
      WH_LOG(WARNING) << log_prefix_ << ": cannot connect: " << reason << " ("
                      << failures_since_log_ << " failed attempts since the last line)";
    }
    last_failure_logged_ = reason;
    last_failure_log_time_ = now;
    failures_since_log_ = 0;
  }
  ScheduleRetry();
}

void RedisConnection::ScheduleRetry() {
  ++failed_attempts_;
  const absl::Duration min_delay = options_.min_reconnect_delay;
  const absl::Duration max_delay = std::max(options_.max_reconnect_delay, min_delay);
  absl::Duration base = min_delay;
  for (int i = 1; i < failed_attempts_ && base < max_delay; ++i) base *= 2;
  base = std::min(base, max_delay);
  // Jitter spreads the reconnects of many processes after a Redis restart.
  const double fraction = std::uniform_real_distribution<double>(0.0, 1.0)(jitter_);
  const absl::Duration delay = min_delay + (base - min_delay) * fraction;
  next_attempt_ = DeadlineAfter(Clock::now(), delay);
}

void RedisConnection::Shutdown() {
  const bool was_up = CloseAndFailAll(Unavailable("stopped"));
  std::vector<Failed> failed;
  {
    absl::MutexLock lock(&mu_);
    failed.swap(failed_);
  }
  for (Failed& refused : failed) refused.cb(std::move(refused.status));
  if (was_up) {
    WH_LOG(INFO) << log_prefix_ << " stopped";
    if (on_state_) on_state_(false, "");
  }
}

}  // namespace wirehub::control

#include "tools/bench/peer_publisher.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/nats_parser.h"

namespace wirehub::bench {
namespace {

// Largest HTTP answer header and body the nchan publisher accepts.
constexpr size_t kMaxHttpHeaderBytes = 16 * 1024;
constexpr size_t kMaxHttpBodyBytes = 1 << 20;

std::string Printable(std::string_view text, size_t max = 200) {
  std::string out = absl::CHexEscape(AsAbsl(text.substr(0, max)));
  if (text.size() > max) out.append("...");
  return out;
}

// Milliseconds left until `deadline_ns` (CLOCK_MONOTONIC), rounded up; 0
// once it has passed.
int PollTimeoutMs(int64_t deadline_ns) {
  int64_t left = deadline_ns - MonotonicNowNs();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<int64_t>((left + 999999) / 1000000, 1 << 30));
}

// Waits until `fd` is ready for `events` or `deadline_ns` passes.
absl::Status WaitFor(int fd, short events, int64_t deadline_ns, std::string_view what) {
  for (;;) {
    pollfd entry{fd, events, 0};
    int ready = poll(&entry, 1, PollTimeoutMs(deadline_ns));
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
    if (MonotonicNowNs() >= deadline_ns) {
      return absl::DeadlineExceededError(absl::StrCat("timed out ", AsAbsl(what)));
    }
  }
}

// Socket is a non-blocking TCP connection used with blocking semantics:
// every call waits with poll() until done or its deadline.
// Thread-compatible.
class Socket {
 public:
  Socket() = default;
  ~Socket() { Close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool is_open() const { return fd_ >= 0; }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Connects to the first address of `host`:`port` that accepts.
  absl::Status Connect(const std::string& host, int port, int64_t deadline_ns) {
    Close();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* addresses = nullptr;
    const std::string service = std::to_string(port);
    int error = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
    if (error != 0) {
      return absl::UnavailableError(absl::StrCat("resolve ", host, ": ", gai_strerror(error)));
    }
    absl::Status status = absl::UnavailableError(absl::StrCat("no address for ", host));
    for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
      status = ConnectTo(address, deadline_ns);
      if (status.ok()) break;
      Close();
    }
    freeaddrinfo(addresses);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("connect to ", host, ":", port, ": ", status.message()));
    }
    return absl::OkStatus();
  }

  // Writes all of `data`. Unavailable when the peer has closed or reset the
  // connection.
  absl::Status WriteAll(std::string_view data, int64_t deadline_ns) {
    while (!data.empty()) {
      ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        RETURN_IF_ERROR(WaitFor(fd_, POLLOUT, deadline_ns, "writing"));
        continue;
      }
      return absl::UnavailableError(absl::StrCat("send: ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }

  // Appends what arrives (at least one byte) to `*buffer`; waits until
  // `deadline_ns`. Returns the bytes read, 0 at end of stream.
  absl::StatusOr<size_t> ReadSome(std::string* buffer, int64_t deadline_ns) {
    char chunk[16384];
    for (;;) {
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n >= 0) {
        buffer->append(chunk, static_cast<size_t>(n));
        return static_cast<size_t>(n);
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        RETURN_IF_ERROR(WaitFor(fd_, POLLIN, deadline_ns, "reading"));
        continue;
      }
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
  }

  // Appends what has already arrived to `*buffer` without waiting. Returns
  // the bytes read; false in `*open` at end of stream.
  absl::StatusOr<size_t> ReadAvailable(std::string* buffer, bool* open) {
    char chunk[16384];
    size_t total = 0;
    *open = true;
    for (;;) {
      ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
      if (n > 0) {
        buffer->append(chunk, static_cast<size_t>(n));
        total += static_cast<size_t>(n);
        continue;
      }
      if (n == 0) {
        *open = false;
        return total;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return total;
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
  }

 private:
  absl::Status ConnectTo(const addrinfo* address, int64_t deadline_ns) {
    fd_ = socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
    // Small messages go out at once, not after the previous one's ACK.
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd_, address->ai_addr, address->ai_addrlen) == 0) return absl::OkStatus();
    if (errno != EINPROGRESS) return absl::UnavailableError(std::strerror(errno));
    RETURN_IF_ERROR(WaitFor(fd_, POLLOUT, deadline_ns, "connecting"));
    int error = 0;
    socklen_t size = sizeof(error);
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    if (error != 0) return absl::UnavailableError(std::strerror(error));
    return absl::OkStatus();
  }

  int fd_ = -1;
};

bool IsChannelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-';
}

absl::Status CheckChannel(std::string_view channel, bool allow_dots) {
  if (channel.empty()) return absl::InvalidArgumentError("empty channel name");
  for (char c : channel) {
    if (!IsChannelChar(c) && !(allow_dots && c == '.')) {
      return absl::InvalidArgumentError(
          absl::StrCat("channel name \"", Printable(channel), "\" has a character other than ",
                       "letters, digits, '_', ':', '-'", allow_dots ? ", '.'" : ""));
    }
  }
  return absl::OkStatus();
}

int64_t DeadlineAfter(int64_t timeout_ns) { return MonotonicNowNs() + timeout_ns; }

// ---------------------------------------------------------------------------
// nchan

// HttpResponse is the part of an HTTP answer the publisher looks at.
struct HttpResponse {
  int status = 0;
  std::string_view status_line;
  bool keep_alive = true;
  std::string_view body;
};

// Why a request failed; whether it may be sent again on a new connection.
struct HttpFailure {
  absl::Status status;
  // The server closed the connection before any byte of the answer: a
  // keep-alive connection it timed out (the request was not processed).
  bool closed_before_answer = false;
};

// Parses a non-negative decimal or hexadecimal number that is all of `text`.
bool ParseSize(std::string_view text, int base, size_t* value) {
  if (text.empty()) return false;
  auto result = std::from_chars(text.data(), text.data() + text.size(), *value, base);
  return result.ec == std::errc() && result.ptr == text.data() + text.size();
}

bool ContainsIgnoreCase(std::string_view text, std::string_view lower_word) {
  return absl::StrContains(absl::AsciiStrToLower(AsAbsl(text)), AsAbsl(lower_word));
}

std::string_view TrimBlanks(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

class NchanPublisher : public PeerPublisher {
 public:
  NchanPublisher(std::string host, int port, int64_t timeout_ns)
      : host_(std::move(host)), port_(port), timeout_ns_(timeout_ns) {
    host_header_ = host_.find(':') != std::string::npos ? absl::StrCat("[", host_, "]:", port_)
                                                        : absl::StrCat(host_, ":", port_);
  }

  absl::Status Connect() {
    received_.clear();
    return socket_.Connect(host_, port_, DeadlineAfter(timeout_ns_));
  }

  absl::Status Publish(std::string_view channel, std::string_view data) override {
    RETURN_IF_ERROR(CheckChannel(channel, /*allow_dots=*/false));
    const int64_t deadline = DeadlineAfter(timeout_ns_);
    request_.clear();
    absl::StrAppend(&request_, "POST /pub/", AsAbsl(channel), " HTTP/1.1\r\nHost: ", host_header_,
                    "\r\nContent-Type: text/plain\r\nContent-Length: ", data.size(), "\r\n\r\n");
    request_.append(data.data(), data.size());

    HttpResponse response;
    for (int attempt = 0;; ++attempt) {
      bool fresh = false;
      if (!socket_.is_open()) {
        received_.clear();
        RETURN_IF_ERROR(socket_.Connect(host_, port_, deadline));
        fresh = true;
      }
      HttpFailure failure = Exchange(deadline, &response);
      if (failure.status.ok()) break;
      socket_.Close();
      if (attempt == 0 && !fresh && failure.closed_before_answer) continue;
      return absl::Status(
          failure.status.code(),
          absl::StrCat("nchan publish to /pub/", AsAbsl(channel), ": ", failure.status.message()));
    }
    absl::Status status = absl::OkStatus();
    if (response.status < 200 || response.status > 299) {
      status = absl::UnavailableError(absl::StrCat("nchan publish to /pub/", AsAbsl(channel), ": ",
                                                   Printable(response.status_line), ": ",
                                                   Printable(TrimBlanks(response.body))));
    }
    received_.erase(0, answer_size_);
    if (!response.keep_alive) socket_.Close();
    return status;
  }

  absl::Status Flush() override { return absl::OkStatus(); }

 private:
  // Sends request_ and reads the answer into received_ (its first
  // answer_size_ bytes); `*response` points into received_ and body_.
  HttpFailure Exchange(int64_t deadline, HttpResponse* response) {
    HttpFailure failure;
    failure.status = socket_.WriteAll(request_, deadline);
    if (!failure.status.ok()) {
      // A reset or closed keep-alive connection refuses the write.
      failure.closed_before_answer = received_.empty() && absl::IsUnavailable(failure.status);
      return failure;
    }
    for (;;) {
      failure.status = ReadAnswer(deadline, response);
      if (!failure.status.ok()) {
        failure.closed_before_answer = received_.empty() && absl::IsUnavailable(failure.status);
        return failure;
      }
      // 1xx answers (e.g. 100 Continue) come before the real one.
      if (response->status >= 200) return failure;
      received_.erase(0, answer_size_);
    }
  }

  // Reads until received_ holds at least `size` bytes. Unavailable at end
  // of stream.
  absl::Status Fill(size_t size, int64_t deadline) {
    while (received_.size() < size) {
      ASSIGN_OR_RETURN(size_t n, socket_.ReadSome(&received_, deadline));
      if (n == 0) return absl::UnavailableError("server closed the connection");
    }
    return absl::OkStatus();
  }

  // Reads until `delimiter` occurs at or after `from` within `limit` bytes;
  // returns its position.
  absl::StatusOr<size_t> FindOrRead(std::string_view delimiter, size_t from, size_t limit,
                                    int64_t deadline) {
    for (;;) {
      size_t found = received_.find(delimiter.data(), from, delimiter.size());
      if (found != std::string::npos && found + delimiter.size() <= limit) return found;
      if (received_.size() >= limit) {
        return absl::DataLossError("HTTP answer line or header too long");
      }
      ASSIGN_OR_RETURN(size_t n, socket_.ReadSome(&received_, deadline));
      if (n == 0) return absl::UnavailableError("server closed the connection");
    }
  }

  // Reads one whole answer (header and body) at the start of received_.
  absl::Status ReadAnswer(int64_t deadline, HttpResponse* response) {
    ASSIGN_OR_RETURN(size_t header_end, FindOrRead("\r\n\r\n", 0, kMaxHttpHeaderBytes, deadline));
    const size_t body_start = header_end + 4;
    std::string_view header(received_.data(), header_end);
    size_t line_end = header.find("\r\n");
    std::string_view status_line = header.substr(0, line_end);
    // "HTTP/1.1 201 Created"
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
        !ParseSize(status_line.substr(9, 3), 10, &status_)) {
      return absl::DataLossError(
          absl::StrCat("bad HTTP status line \"", Printable(status_line), "\""));
    }
    bool keep_alive = status_line[7] == '1';
    bool chunked = false;
    bool has_length = false;
    size_t content_length = 0;
    std::string_view rest =
        line_end == std::string_view::npos ? std::string_view() : header.substr(line_end + 2);
    while (!rest.empty()) {
      size_t end = rest.find("\r\n");
      std::string_view line = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return absl::DataLossError(absl::StrCat("bad HTTP header \"", Printable(line), "\""));
      }
      absl::string_view name = AsAbsl(line.substr(0, colon));
      std::string_view value = TrimBlanks(line.substr(colon + 1));
      if (absl::EqualsIgnoreCase(name, "content-length")) {
        if (!ParseSize(value, 10, &content_length) || content_length > kMaxHttpBodyBytes) {
          return absl::DataLossError(
              absl::StrCat("bad HTTP Content-Length \"", Printable(value), "\""));
        }
        has_length = true;
      } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
        chunked = ContainsIgnoreCase(value, "chunked");
      } else if (absl::EqualsIgnoreCase(name, "connection")) {
        if (ContainsIgnoreCase(value, "close")) keep_alive = false;
        if (ContainsIgnoreCase(value, "keep-alive")) keep_alive = true;
      }
    }

    body_.clear();
    size_t end = body_start;
    const bool no_body = (status_ >= 100 && status_ < 200) || status_ == 204 || status_ == 304;
    if (no_body) {
      // Nothing after the header.
    } else if (chunked) {
      size_t position = body_start;
      for (;;) {
        ASSIGN_OR_RETURN(size_t size_end, FindOrRead("\r\n", position, position + 1024, deadline));
        std::string_view size_line(received_.data() + position, size_end - position);
        size_line = TrimBlanks(size_line.substr(0, size_line.find(';')));
        size_t chunk_size = 0;
        if (!ParseSize(size_line, 16, &chunk_size) ||
            chunk_size > kMaxHttpBodyBytes - body_.size()) {
          return absl::DataLossError(
              absl::StrCat("bad HTTP chunk size \"", Printable(size_line), "\""));
        }
        const size_t data_start = size_end + 2;
        if (chunk_size == 0) {
          // Trailer fields, then an empty line.
          size_t trailer = data_start;
          for (;;) {
            ASSIGN_OR_RETURN(size_t trailer_end,
                             FindOrRead("\r\n", trailer, trailer + kMaxHttpHeaderBytes, deadline));
            if (trailer_end == trailer) break;
            trailer = trailer_end + 2;
          }
          end = trailer + 2;
          break;
        }
        RETURN_IF_ERROR(Fill(data_start + chunk_size + 2, deadline));
        if (received_.compare(data_start + chunk_size, 2, "\r\n") != 0) {
          return absl::DataLossError("HTTP chunk not followed by CRLF");
        }
        body_.append(received_, data_start, chunk_size);
        position = data_start + chunk_size + 2;
      }
    } else if (has_length) {
      RETURN_IF_ERROR(Fill(body_start + content_length, deadline));
      body_.assign(received_, body_start, content_length);
      end = body_start + content_length;
    } else {
      // The body runs to the end of the connection.
      for (;;) {
        if (received_.size() - body_start > kMaxHttpBodyBytes) {
          return absl::DataLossError("HTTP body without a length too long");
        }
        ASSIGN_OR_RETURN(size_t n, socket_.ReadSome(&received_, deadline));
        if (n == 0) break;
      }
      body_.assign(received_, body_start);
      end = received_.size();
      keep_alive = false;
    }
    answer_size_ = end;
    response->status = static_cast<int>(status_);
    response->status_line = std::string_view(received_.data(), status_line.size());
    response->keep_alive = keep_alive;
    response->body = body_;
    return absl::OkStatus();
  }

  std::string host_;
  int port_;
  int64_t timeout_ns_;
  std::string host_header_;
  Socket socket_;
  // Reused buffers: the request being sent, bytes received and the body of
  // the last answer.
  std::string request_;
  std::string received_;
  std::string body_;
  // The size of the answer at the start of received_, once read.
  size_t answer_size_ = 0;
  size_t status_ = 0;
};

// ---------------------------------------------------------------------------
// nats

class NatsPublisher : public PeerPublisher {
 public:
  NatsPublisher(std::string host, int port, int64_t timeout_ns)
      : host_(std::move(host)), port_(port), timeout_ns_(timeout_ns) {}

  absl::Status Connect() {
    const int64_t deadline = DeadlineAfter(timeout_ns_);
    RETURN_IF_ERROR(socket_.Connect(host_, port_, deadline));
    // The server speaks first.
    while (!got_info_) {
      RETURN_IF_ERROR(ReadAndHandle(deadline));
    }
    RETURN_IF_ERROR(
        socket_.WriteAll("CONNECT {\"verbose\":false,\"pedantic\":false}\r\n", deadline));
    return PingPong(deadline);
  }

  absl::Status Publish(std::string_view channel, std::string_view data) override {
    RETURN_IF_ERROR(failed_);
    RETURN_IF_ERROR(CheckChannel(channel, /*allow_dots=*/true));
    const int64_t deadline = DeadlineAfter(timeout_ns_);
    // Answer PINGs and notice an -ERR that arrived since the last call.
    RETURN_IF_ERROR(HandleAvailable());
    out_.clear();
    absl::StrAppend(&out_, "PUB ", AsAbsl(channel), " ", data.size(), "\r\n");
    out_.append(data.data(), data.size());
    out_.append("\r\n");
    return Fail(socket_.WriteAll(out_, deadline));
  }

  absl::Status Flush() override {
    RETURN_IF_ERROR(failed_);
    return PingPong(DeadlineAfter(timeout_ns_));
  }

 private:
  // Records the first error: the connection is unusable after it.
  absl::Status Fail(absl::Status status) {
    if (!status.ok() && failed_.ok()) {
      failed_ = absl::Status(status.code(), absl::StrCat("nats: ", status.message()));
      socket_.Close();
    }
    return failed_.ok() ? status : failed_;
  }

  absl::Status PingPong(int64_t deadline) {
    const uint64_t pongs = pongs_;
    RETURN_IF_ERROR(Fail(socket_.WriteAll("PING\r\n", deadline)));
    while (pongs_ == pongs) {
      RETURN_IF_ERROR(ReadAndHandle(deadline));
    }
    return absl::OkStatus();
  }

  // Waits for bytes from the server and handles them.
  absl::Status ReadAndHandle(int64_t deadline) {
    received_.clear();
    absl::StatusOr<size_t> n = socket_.ReadSome(&received_, deadline);
    if (!n.ok()) return Fail(n.status());
    if (*n == 0) return Fail(absl::UnavailableError("server closed the connection"));
    return Handle();
  }

  // Handles what the server has sent without waiting.
  absl::Status HandleAvailable() {
    received_.clear();
    bool open = true;
    absl::StatusOr<size_t> n = socket_.ReadAvailable(&received_, &open);
    if (!n.ok()) return Fail(n.status());
    RETURN_IF_ERROR(Handle());
    if (!open) return Fail(absl::UnavailableError("server closed the connection"));
    return absl::OkStatus();
  }

  absl::Status Handle() {
    uint64_t pings = 0;
    std::string error;
    absl::Status status = parser_.Feed(received_, [&](const NatsStreamParser::Event& event) {
      switch (event.kind) {
        case NatsStreamParser::Event::kInfo:
          got_info_ = true;
          break;
        case NatsStreamParser::Event::kPing:
          ++pings;
          break;
        case NatsStreamParser::Event::kPong:
          ++pongs_;
          break;
        case NatsStreamParser::Event::kErr:
          if (error.empty()) error.assign(event.payload.data(), event.payload.size());
          break;
        case NatsStreamParser::Event::kOk:
        case NatsStreamParser::Event::kMsg:
          break;
      }
    });
    if (!status.ok()) return Fail(status);
    if (!error.empty()) return Fail(absl::UnavailableError(absl::StrCat("-ERR ", error)));
    for (; pings > 0; --pings) {
      RETURN_IF_ERROR(Fail(socket_.WriteAll("PONG\r\n", DeadlineAfter(timeout_ns_))));
    }
    return absl::OkStatus();
  }

  std::string host_;
  int port_;
  int64_t timeout_ns_;
  Socket socket_;
  NatsStreamParser parser_;
  std::string out_;
  std::string received_;
  bool got_info_ = false;
  uint64_t pongs_ = 0;
  absl::Status failed_;
};

int64_t TimeoutNs(absl::Duration timeout) {
  return std::max<int64_t>(absl::ToInt64Nanoseconds(timeout), 1);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PeerPublisher>> ConnectNchanPublisher(std::string_view host,
                                                                     int port,
                                                                     absl::Duration timeout) {
  auto publisher = std::make_unique<NchanPublisher>(std::string(host), port, TimeoutNs(timeout));
  RETURN_IF_ERROR(publisher->Connect());
  return std::unique_ptr<PeerPublisher>(std::move(publisher));
}

absl::StatusOr<std::unique_ptr<PeerPublisher>> ConnectNatsPublisher(std::string_view host, int port,
                                                                    absl::Duration timeout) {
  auto publisher = std::make_unique<NatsPublisher>(std::string(host), port, TimeoutNs(timeout));
  RETURN_IF_ERROR(publisher->Connect());
  return std::unique_ptr<PeerPublisher>(std::move(publisher));
}

}  // namespace wirehub::bench

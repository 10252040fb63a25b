#include "tools/bench/client_pool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/websocket_frame.h"
#include "tools/bench/bench_payload.h"
#include "tools/bench/client_pool_conn.h"
#include "tools/bench/nats_parser.h"
#include "tools/bench/protobuf_wire.h"
#include "tools/bench/ws_handshake.h"

namespace wirehub::bench {
namespace {

using client_pool_internal::kReadBufferBytes;
using State = client_pool_internal::State;

constexpr uint64_t kWakeToken = ~uint64_t{0};

}  // namespace

std::string_view WireFormatName(WireFormat wire) {
  return wire == WireFormat::kProtobuf ? "protobuf" : "json";
}

bool ParseWireFormat(std::string_view name, WireFormat* wire) {
  if (name == "json") {
    *wire = WireFormat::kJson;
  } else if (name == "protobuf") {
    *wire = WireFormat::kProtobuf;
  } else {
    return false;
  }
  return true;
}

ClientPool::ClientPool(ClientPoolOptions options)
    : options_(std::move(options)),
      read_buffer_(kReadBufferBytes),
      tracker_(options_.clients, options_.first_seq) {
  if (options_.source_addresses.empty()) options_.source_addresses.push_back("127.0.0.1");
  conns_.reserve(options_.clients);
  for (size_t i = 0; i < options_.clients; ++i) {
    auto conn = std::make_unique<Conn>();
    conn->index = i;
    conn->slow = IsSlow(i);
    conns_.push_back(std::move(conn));
  }
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

ClientPool::~ClientPool() {
  for (auto& conn : conns_) {
    if (conn->fd >= 0) close(conn->fd);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

bool ClientPool::IsSlow(size_t i) const {
  return options_.slow_every > 0 && i % options_.slow_every == options_.slow_every - 1;
}

size_t ClientPool::slow_clients() const {
  return options_.slow_every == 0 ? 0 : options_.clients / options_.slow_every;
}

absl::Duration ClientPool::connect_phase() const {
  return absl::Nanoseconds(connect_phase_ns_.load(std::memory_order_acquire));
}

absl::Duration ClientPool::subscribe_phase() const {
  return absl::Nanoseconds(subscribe_phase_ns_.load(std::memory_order_acquire));
}

std::string ClientPool::first_error() const {
  return error_set_.load(std::memory_order_acquire) ? first_error_ : std::string();
}

std::string ClientPool::tls_description() const {
  return tls_description_set_.load(std::memory_order_acquire) ? tls_description_ : std::string();
}

void ClientPool::Wake() {
  uint64_t one = 1;
  // A full eventfd counter still wakes the loop; nothing to handle.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof(one));
}

void ClientPool::Stop() {
  stop_.store(true, std::memory_order_release);
  Wake();
}

void ClientPool::ResumeSlow() {
  resume_slow_.store(true, std::memory_order_release);
  Wake();
}

absl::Status ClientPool::Run() {
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll/eventfd: ", std::strerror(errno)));
  }
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.u64 = kWakeToken;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", std::strerror(errno)));
  }
  if (!options_.tls_ca_file.empty()) {
    absl::StatusOr<std::unique_ptr<TlsClientContext>> tls =
        TlsClientContext::Create(options_.tls_ca_file, options_.server_host);
    if (!tls.ok()) {
      // Every client fails, so whoever waits for them learns why.
      first_error_ = std::string(tls.status().message());
      error_set_.store(true, std::memory_order_release);
      failed_.store(options_.clients, std::memory_order_relaxed);
      return tls.status();
    }
    tls_ = *std::move(tls);
  }
  started_ = absl::Now();
  StartConnects();
  std::vector<epoll_event> events(1024);
  while (!stop_.load(std::memory_order_acquire)) {
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("epoll_wait: ", std::strerror(errno)));
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeToken) {
        uint64_t value;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &value, sizeof(value));
        continue;
      }
      HandleEvent(*conns_[events[i].data.u64], events[i].events);
    }
    DrainCommands();
    StartConnects();
  }
  for (auto& conn : conns_) {
    if (conn->fd >= 0) Close(*conn);
  }
  return absl::OkStatus();
}

void ClientPool::DrainCommands() {
  if (resume_slow_.exchange(false, std::memory_order_acq_rel)) {
    for (auto& conn : conns_) {
      if (conn->paused) {
        conn->paused = false;
        UpdateInterest(*conn);
      }
    }
  }
}

void ClientPool::StartConnects() {
  while (in_flight_ < options_.max_in_flight && next_to_connect_ < conns_.size()) {
    StartConnect(next_to_connect_++);
  }
}

void ClientPool::StartConnect(size_t index) {
  Conn& conn = *conns_[index];
  ++in_flight_;
  conn.state = State::kConnecting;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Fail(conn, absl::StrCat("socket: ", std::strerror(errno)));
    return;
  }
  conn.fd = fd;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Defer the choice of source port to connect(), so the port range is per
  // (source, destination) pair rather than per source address.
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  if (conn.slow) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options_.slow_receive_buffer_bytes,
               sizeof(options_.slow_receive_buffer_bytes));
  }
  const std::string& source = options_.source_addresses[index % options_.source_addresses.size()];
  sockaddr_in local{};
  local.sin_family = AF_INET;
  if (inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1) {
    Fail(conn, absl::StrCat("bad source address ", source));
    return;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0) {
    Fail(conn, absl::StrCat("bind ", source, ": ", std::strerror(errno)));
    return;
  }
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(conn.port != 0 ? conn.port : options_.server_port));
  if (inet_pton(AF_INET, options_.server_host.c_str(), &remote.sin_addr) != 1) {
    Fail(conn, absl::StrCat("bad server address ", options_.server_host));
    return;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0 &&
      errno != EINPROGRESS) {
    Fail(conn, absl::StrCat("connect: ", std::strerror(errno)));
    return;
  }
  epoll_event event{};
  event.events = EPOLLOUT;
  event.data.u64 = index;
  conn.want_write = true;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    Fail(conn, absl::StrCat("epoll_ctl: ", std::strerror(errno)));
  }
}

void ClientPool::UpdateInterest(Conn& conn) {
  if (conn.fd < 0) return;
  epoll_event event{};
  event.events =
      (conn.paused ? 0u : uint32_t{EPOLLIN}) | (conn.want_write ? uint32_t{EPOLLOUT} : 0u);
  event.data.u64 = conn.index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &event);
}

void ClientPool::HandleEvent(Conn& conn, uint32_t events) {
  if (conn.fd < 0) return;
  if (conn.state == State::kConnecting) {
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      Fail(conn, absl::StrCat("connect: ", std::strerror(error)));
      return;
    }
    if (tls_ != nullptr) {
      conn.ssl = tls_->NewSession(conn.fd);
      if (conn.ssl == nullptr) {
        Fail(conn, "cannot create a TLS session");
        return;
      }
      conn.state = State::kTlsHandshaking;
      ContinueTlsHandshake(conn);
      return;
    }
    StartUpgrade(conn);
    return;
  }
  if (conn.state == State::kTlsHandshaking) {
    ContinueTlsHandshake(conn);
    return;
  }
  if ((events & EPOLLOUT) != 0) OnWritable(conn);
  if (conn.fd >= 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) OnReadable(conn);
}

void ClientPool::StartUpgrade(Conn& conn) {
  absl::StatusOr<std::string> key = RandomWsKey();
  if (!key.ok()) {
    Fail(conn, key.status().ToString());
    return;
  }
  conn.ws_key = *std::move(key);
  conn.state = State::kHandshaking;
  conn.want_write = false;
  UpdateInterest(conn);
  std::string host =
      absl::StrCat(options_.server_host, ":", conn.port != 0 ? conn.port : options_.server_port);
  Send(conn, BuildWsHandshakeRequest(host, options_.resource(conn.index), conn.ws_key,
                                     protobuf() ? absl::StrCat("Sec-WebSocket-Protocol: ",
                                                               AsAbsl(kProtobufSubprotocol), "\r\n")
                                                : std::string()));
}

void ClientPool::Send(Conn& conn, std::string_view bytes) {
  if (conn.fd < 0) return;
  if (conn.ssl != nullptr) {
    TlsSend(conn, bytes);
    return;
  }
  if (conn.out.empty()) {
    ssize_t n = send(conn.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        Fail(conn, absl::StrCat("send: ", std::strerror(errno)));
        return;
      }
      n = 0;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    if (bytes.empty()) return;
  }
  conn.out.append(bytes.data(), bytes.size());
  if (!conn.want_write) {
    conn.want_write = true;
    UpdateInterest(conn);
  }
}

void ClientPool::OnWritable(Conn& conn) {
  if (conn.ssl != nullptr) {
    TlsOnWritable(conn);
    return;
  }
  while (!conn.out.empty()) {
    ssize_t n = send(conn.fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail(conn, absl::StrCat("send: ", std::strerror(errno)));
      return;
    }
    conn.out.erase(0, static_cast<size_t>(n));
  }
  conn.want_write = false;
  UpdateInterest(conn);
}

void ClientPool::SendFrame(Conn& conn, std::string_view payload, WebSocketOpcode opcode) {
  mask_state_ = mask_state_ * 1664525u + 1013904223u;
  frame_scratch_.resize(WebSocketFrameSize(payload.size(), /*masked=*/true));
  absl::StatusOr<size_t> size = EncodeWebSocketFrame(opcode, true, payload, mask_state_,
                                                     frame_scratch_.data(), frame_scratch_.size());
  if (!size.ok()) {
    Fail(conn, size.status().ToString());
    return;
  }
  Send(conn, std::string_view(frame_scratch_.data(), *size));
}

void ClientPool::OnReadable(Conn& conn) {
  if (conn.ssl != nullptr) {
    TlsOnReadable(conn);
    return;
  }
  // Carried input goes first in the read buffer so frames are parsed from
  // one contiguous span.
  size_t carried = conn.in.size();
  if (carried + 4096 > read_buffer_.size()) read_buffer_.resize(carried + kReadBufferBytes);
  std::memcpy(read_buffer_.data(), conn.in.data(), carried);
  ssize_t n = recv(conn.fd, read_buffer_.data() + carried, read_buffer_.size() - carried, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    Fail(conn, absl::StrCat("recv: ", std::strerror(errno)));
    return;
  }
  if (n == 0) {
    Fail(conn, "server closed the connection");
    return;
  }
  conn.in.clear();
  ProcessInput(conn, read_buffer_.data(), carried + static_cast<size_t>(n));
}

void ClientPool::ProcessInput(Conn& conn, char* data, size_t size) {
  std::string_view input(data, size);
  if (conn.state == State::kHandshaking) {
    absl::StatusOr<size_t> header = ParseWsHandshakeResponse(
        input, conn.ws_key, protobuf() ? kProtobufSubprotocol : std::string_view());
    if (!header.ok()) {
      Fail(conn, absl::StrCat("handshake: ", header.status().message()));
      return;
    }
    if (*header == 0) {
      conn.in.assign(input.data(), input.size());
      return;
    }
    input.remove_prefix(*header);
    OnOpen(conn);
    if (conn.fd < 0) return;
  }
  WebSocketFrame frame;
  while (!input.empty() && conn.fd >= 0) {
    absl::StatusOr<size_t> used = conn.decoder.Decode(input, &frame);
    if (!used.ok()) {
      Fail(conn, absl::StrCat("frame: ", used.status().message()));
      return;
    }
    if (*used == 0) break;
    if (conn.state == State::kSubscribed && !conn.slow) {
      received_bytes_.fetch_add(*used, std::memory_order_relaxed);
    }
    switch (frame.opcode) {
      case WebSocketOpcode::kPing:
        SendFrame(conn, frame.payload, WebSocketOpcode::kPong);
        break;
      case WebSocketOpcode::kPong:
        break;
      case WebSocketOpcode::kClose: {
        absl::StatusOr<WebSocketClose> close = ParseWebSocketClose(frame.payload);
        Fail(conn, close.ok() ? absl::StrCat("server closed with ", close->code, " ",
                                             AsAbsl(close->reason))
                              : std::string("server sent a malformed close"));
        return;
      }
      default:
        if (frame.fin && conn.message.empty()) {
          HandleMessage(conn, frame.payload);
        } else {
          conn.message.append(frame.payload.data(), frame.payload.size());
          if (frame.fin) {
            std::string message = std::move(conn.message);
            conn.message.clear();
            HandleMessage(conn, message);
          }
        }
        break;
    }
    input.remove_prefix(*used);
  }
  if (conn.fd >= 0 && !input.empty()) conn.in.assign(input.data(), input.size());
}

void ClientPool::OnOpen(Conn& conn) {
  conn.state = State::kOpen;
  switch (options_.protocol) {
    case ClientProtocol::kWirehub:
      if (protobuf()) {
        std::string command;
        AppendConnectCommand(1, options_.token(conn.index), "wirehub-bench", &command);
        SendFrame(conn, command, WebSocketOpcode::kBinary);
        break;
      }
      SendFrame(
          conn,
          absl::StrCat(R"({"id":1,"connect":{"token":")", options_.token(conn.index), R"("}})"),
          WebSocketOpcode::kText);
      break;
    case ClientProtocol::kNchan:
      // The URL named the channel: the subscription exists once open.
      MarkConnected(conn);
      MarkSubscribed(conn);
      break;
    case ClientProtocol::kNats:
      conn.nats = std::make_unique<NatsStreamParser>();
      // The PONG to this PING says the server processed CONNECT and SUB.
      SendFrame(conn,
                absl::StrCat("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB ",
                             options_.channel(conn.index), " 1\r\nPING\r\n"),
                WebSocketOpcode::kText);
      break;
  }
}

void ClientPool::MarkConnected(Conn& conn) {
  if (conn.counted_connected) return;
  conn.counted_connected = true;
  if (connected_.fetch_add(1, std::memory_order_relaxed) + 1 == options_.clients) {
    connect_phase_ns_.store(absl::ToInt64Nanoseconds(absl::Now() - started_),
                            std::memory_order_release);
  }
}

void ClientPool::MarkSubscribed(Conn& conn) {
  if (conn.state == State::kSubscribed) return;
  conn.state = State::kSubscribed;
  --in_flight_;
  if (conn.reconnecting) {
    conn.reconnecting = false;
    reconnect_times_.push_back(absl::Now() - started_);
    reconnected_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (subscribed_.fetch_add(1, std::memory_order_relaxed) + 1 == options_.clients) {
    subscribe_phase_ns_.store(absl::ToInt64Nanoseconds(absl::Now() - started_),
                              std::memory_order_release);
  }
  if (conn.slow) {
    conn.paused = true;
    UpdateInterest(conn);
  }
}

void ClientPool::HandleMessage(Conn& conn, std::string_view message) {
  switch (options_.protocol) {
    case ClientProtocol::kWirehub:
      if (protobuf()) {
        HandleProtobufMessage(conn, message);
        break;
      }
      // A frame may carry several replies and pushes, one per line.
      while (!message.empty() && conn.fd >= 0) {
        size_t end = message.find('\n');
        HandleWirehubLine(conn, message.substr(0, end));
        if (end == std::string_view::npos) break;
        message.remove_prefix(end + 1);
      }
      break;
    case ClientProtocol::kNchan:
      RecordPayload(conn, message);
      break;
    case ClientProtocol::kNats:
      HandleNatsBytes(conn, message);
      break;
  }
}

void ClientPool::HandleWirehubLine(Conn& conn, std::string_view line) {
  if (line.empty()) return;
  if (line == "{}") {  // Server ping: answer with an empty command.
    SendFrame(conn, "{}", WebSocketOpcode::kText);
    return;
  }
  if (conn.state == State::kSubscribed) {
    absl::StatusOr<PublicationPush> push = ParsePublicationPush(line);
    if (push.ok()) Account(conn, push->payload);
    // Other pushes (join, leave, ...) are not what the bench counts.
    return;
  }
  constexpr std::string_view kConnectReply = R"({"id":1,)";
  constexpr std::string_view kSubscribeReply = R"({"id":2,)";
  bool connect_reply = line.substr(0, kConnectReply.size()) == kConnectReply;
  bool subscribe_reply = line.substr(0, kSubscribeReply.size()) == kSubscribeReply;
  if (!connect_reply && !subscribe_reply) return;
  if (line.find(R"("error":)") != std::string_view::npos) {
    Fail(conn, absl::StrCat(connect_reply ? "connect" : "subscribe", " refused: ", AsAbsl(line)));
    return;
  }
  if (connect_reply) {
    MarkConnected(conn);
    SendFrame(
        conn,
        absl::StrCat(R"({"id":2,"subscribe":{"channel":")", options_.channel(conn.index), R"("}})"),
        WebSocketOpcode::kText);
  } else {
    MarkSubscribed(conn);
  }
}

void ClientPool::HandleProtobufMessage(Conn& conn, std::string_view message) {
  std::string_view reply;
  while (conn.fd >= 0) {
    switch (NextDelimited(&message, &reply)) {
      case DelimitedResult::kEnd:
        return;
      case DelimitedResult::kMalformed:
        Fail(conn, "protobuf: a reply's length runs past its WebSocket message");
        return;
      case DelimitedResult::kMessage:
        HandleProtobufReply(conn, reply);
        break;
    }
  }
}

void ClientPool::HandleProtobufReply(Conn& conn, std::string_view bytes) {
  if (bytes.empty()) {  // Server ping: an empty Reply; the pong is an empty Command.
    if (conn.pong) SendFrame(conn, kProtobufPong, WebSocketOpcode::kBinary);
    return;
  }
  ProtobufReply reply;
  if (absl::Status parsed = ParseProtobufReply(bytes, &reply); !parsed.ok()) {
    Fail(conn, absl::StrCat("protobuf: ", parsed.message()));
    return;
  }
  if (conn.state == State::kSubscribed) {
    // Other pushes (join, leave, ...) are not what the bench counts.
    if (reply.has_publication) RecordPayload(conn, reply.publication_data);
    return;
  }
  if (reply.id != 1 && reply.id != 2) return;
  const bool connect_reply = reply.id == 1;
  if (reply.has_error) {
    Fail(conn, absl::StrCat(connect_reply ? "connect" : "subscribe", " refused: ", reply.error_code,
                            " ", AsAbsl(reply.error_message)));
    return;
  }
  if (connect_reply) {
    conn.pong = reply.connect_pong;
    MarkConnected(conn);
    std::string command;
    AppendSubscribeCommand(2, options_.channel(conn.index), &command);
    SendFrame(conn, command, WebSocketOpcode::kBinary);
  } else {
    MarkSubscribed(conn);
  }
}

void ClientPool::HandleNatsBytes(Conn& conn, std::string_view bytes) {
  absl::Status status = conn.nats->Feed(bytes, [&](const NatsStreamParser::Event& event) {
    if (conn.fd < 0) return;
    switch (event.kind) {
      case NatsStreamParser::Event::kMsg:
        if (conn.state == State::kSubscribed) RecordPayload(conn, event.payload);
        break;
      case NatsStreamParser::Event::kPing:
        SendFrame(conn, "PONG\r\n", WebSocketOpcode::kText);
        break;
      case NatsStreamParser::Event::kPong:
        MarkConnected(conn);
        MarkSubscribed(conn);
        break;
      case NatsStreamParser::Event::kErr:
        Fail(conn, absl::StrCat("nats error: ", AsAbsl(event.payload)));
        break;
      default:
        break;
    }
  });
  if (!status.ok() && conn.fd >= 0) Fail(conn, absl::StrCat("nats: ", status.message()));
}

void ClientPool::RecordPayload(Conn& conn, std::string_view data) {
  absl::StatusOr<BenchPayload> payload = ParseBenchPayload(data);
  if (payload.ok()) Account(conn, *payload);
}

void ClientPool::Account(Conn& conn, const BenchPayload& payload) {
  // A slow client's backlog says nothing about the others' latency.
  if (conn.slow) return;
  const int64_t now = MonotonicNowNs();
  histogram_.Record(now - payload.ts_ns);
  tracker_.Observe(conn.index, payload.seq);
  reply_timings_.Record(options_.reply_tokens, &conn.reply, payload.seq, payload.ts_ns, now);
  received_.fetch_add(1, std::memory_order_relaxed);
}

void ClientPool::Fail(Conn& conn, std::string_view why) {
  bool was_subscribed = conn.state == State::kSubscribed;
  if (!was_subscribed && conn.state != State::kIdle) {
    // The error is published before the count, so whoever sees failed() > 0 also sees why.
    if (!error_set_.load(std::memory_order_relaxed)) {
      first_error_ = absl::StrCat("client ", conn.index, ": ", AsAbsl(why));
      error_set_.store(true, std::memory_order_release);
    }
    --in_flight_;
    failed_.fetch_add(1, std::memory_order_release);
  }
  if (was_subscribed) {
    closed_.fetch_add(1, std::memory_order_relaxed);
    if (conn.slow) slow_closed_.fetch_add(1, std::memory_order_relaxed);
  }
  Close(conn);
  if (was_subscribed && options_.reconnect_port != 0 && !stop_.load(std::memory_order_relaxed)) {
    conn.port = options_.reconnect_port;
    conn.reconnecting = true;
    StartConnect(conn.index);
  }
}

void ClientPool::Close(Conn& conn) {
  conn.ssl.reset();  // No close_notify: the bench only drops connections.
  if (conn.fd >= 0) {
    close(conn.fd);  // Also removes it from the epoll set.
    conn.fd = -1;
  }
  conn.state = State::kIdle;
  conn.paused = false;
  conn.want_write = false;
  conn.out.clear();
  conn.out.shrink_to_fit();
  conn.in.clear();
  conn.in.shrink_to_fit();
  conn.nats.reset();
  conn.pong = false;
}

}  // namespace wirehub::bench

#include "edge/lws_transport.h"

#include <uv.h>  // Before libwebsockets.h: enables its libuv declarations.

#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/base/const_init.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/absl_compat.h"
#include "common/logging.h"
#include "edge/client_protocol.h"
#include "edge/wire_format.h"

namespace wirehub::edge {
namespace {

// lws's own opcode for a close frame (LWS_WRITE_CLOSE, 4), which 4.1.6's
// public header leaves out of the enum; its POLLOUT handler writes close
// frames with it.
constexpr auto kLwsWriteClose = static_cast<enum lws_write_protocol>(4);

// Connections accepted per wake-up of the listener, so a connect flood
// cannot hold the loop from serving the connections it already has.
constexpr int kAcceptsPerWake = 64;

// Each connection's WebSocket receive buffer, which lws allocates for the
// connection's lifetime (this plus LWS_PRE plus 4 bytes) and which also
// bounds one read() from its socket. Commands other than connect, refresh
// and publish are mostly under 100 bytes; longer messages arrive in pieces
// of this size that OnReceive() joins. 132 makes the allocation 152 bytes,
// a 160-byte malloc chunk (512 took 544).
constexpr size_t kReceiveBufferBytes = 132;

// Close() still sends a queue up to this size before the close frame.
constexpr size_t kCloseFlushMaxBytes = 64 * 1024;

// Descriptors kept for everything but client sockets (gRPC, logs, inotify)
// when max_connections comes from the open-files limit.
constexpr size_t kReservedDescriptors = 128;

// Mozilla's "intermediate" profile without the DHE suites: TLS 1.2 with
// ECDHE and AEAD ciphers only, and TLS 1.3's three suites.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

const char* RefusalName(Refusal reason) {
  switch (reason) {
    case Refusal::kBadRequest:
      return "not a valid WebSocket handshake (400)";
    case Refusal::kSubprotocol:
      return "Sec-WebSocket-Protocol without centrifuge-json or centrifuge-protobuf, too long or "
             "malformed (400)";
    case Refusal::kWrongPath:
      return "wrong path (404)";
    case Refusal::kVersion:
      return "WebSocket version other than 13 (426)";
    case Refusal::kOrigin:
      return "origin not allowed (403)";
    case Refusal::kAddressLimit:
      return "max_connections_per_ip reached (429)";
    case Refusal::kAddressRate:
      return "connection_rate_per_ip exceeded (429)";
    case Refusal::kHandshakeTimeout:
      return "no complete handshake within handshake_timeout";
    case Refusal::kEdgeFull:
      return "times max_connections was reached (accepting paused until a socket closed)";
    case Refusal::kDraining:
      return "handshakes after accepting stopped for the drain (503)";
    case Refusal::kCount:
      break;
  }
  return "?";
}

// The label of wirehub_edge_connection_refusals_total.
RefusalReason MetricReason(Refusal reason) {
  switch (reason) {
    case Refusal::kOrigin:
      return RefusalReason::kOrigin;
    case Refusal::kAddressLimit:
      return RefusalReason::kPerAddressLimit;
    case Refusal::kAddressRate:
      return RefusalReason::kRateLimit;
    case Refusal::kHandshakeTimeout:
      return RefusalReason::kHandshakeTimeout;
    case Refusal::kEdgeFull:
      return RefusalReason::kConnectionLimit;
    case Refusal::kDraining:
      return RefusalReason::kDraining;
    case Refusal::kBadRequest:
    case Refusal::kSubprotocol:
    case Refusal::kWrongPath:
    case Refusal::kVersion:
    case Refusal::kCount:
      break;
  }
  return RefusalReason::kBadHandshake;
}

// lws logs a line per malformed request or failed TLS handshake, which a
// stranger can repeat at will: at most kLwsLogLinesPerWindow lines per
// window reach stderr, then one line counting the rest.
constexpr int kLwsLogLinesPerWindow = 20;
constexpr int64_t kLwsLogWindowMs = 10000;

void EmitLwsLog(int level, const char* line) {
  ABSL_CONST_INIT static absl::Mutex mu(absl::kConstInit);
  static int64_t window_start_ms = 0;
  static int lines = 0;
  static uint64_t suppressed = 0;
  absl::MutexLock lock(&mu);
  int64_t now_ms = absl::ToUnixMillis(absl::Now());
  if (now_ms - window_start_ms >= kLwsLogWindowMs) {
    if (suppressed > 0) {
      LogMessage(LogSeverity::kWarning, "libwebsockets", 0).stream()
          << suppressed << " more log lines in the last " << kLwsLogWindowMs / 1000
          << "s not shown";
    }
    window_start_ms = now_ms;
    lines = 0;
    suppressed = 0;
  }
  if (++lines > kLwsLogLinesPerWindow) {
    ++suppressed;
    return;
  }
  // Through LogMessage for --log_format and --log_level; src "libwebsockets".
  const LogSeverity severity = (level & LLL_ERR) != 0 ? LogSeverity::kError : LogSeverity::kWarning;
  LogMessage(severity, "libwebsockets", 0).stream() << line;
}

size_t DefaultMaxConnections() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  size_t open_files = static_cast<size_t>(limit.rlim_cur);
  return open_files > kReservedDescriptors + 16 ? open_files - kReservedDescriptors : 16;
}

// Copies header `token` into `out` ("" when absent); false when it is
// longer than `max_bytes`.
bool CopyHeader(struct lws* wsi, enum lws_token_indexes token, size_t max_bytes, std::string* out) {
  out->clear();
  int length = lws_hdr_total_length(wsi, token);
  if (length <= 0) return true;
  if (static_cast<size_t>(length) > max_bytes) return false;
  out->resize(static_cast<size_t>(length) + 1);
  int copied = lws_hdr_copy(wsi, out->data(), length + 1, token);
  if (copied < 0) return false;
  out->resize(static_cast<size_t>(copied));
  return true;
}

// Writes a complete HTTP error response; the caller then hangs up (lws
// shuts the socket down for writing and lets the response drain first).
void WriteHttpError(struct lws* wsi, int status, std::string_view reason, bool version_header) {
  unsigned char headers[LWS_PRE + 512];
  unsigned char* start = headers + LWS_PRE;
  unsigned char* p = start;
  unsigned char* end = headers + sizeof(headers) - 1;
  std::string body = absl::StrCat(AsAbsl(reason), "\n");
  static constexpr char kType[] = "text/plain; charset=utf-8";
  if (lws_add_http_header_status(wsi, static_cast<unsigned int>(status), &p, end) ||
      (version_header && lws_add_http_header_by_name(
                             wsi, reinterpret_cast<const unsigned char*>("sec-websocket-version:"),
                             reinterpret_cast<const unsigned char*>("13"), 2, &p, end)) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                   reinterpret_cast<const unsigned char*>(kType), sizeof(kType) - 1,
                                   &p, end) ||
      lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                   reinterpret_cast<const unsigned char*>("close"), 5, &p, end) ||
      lws_add_http_header_content_length(wsi, body.size(), &p, end) ||
      lws_finalize_http_header(wsi, &p, end)) {
    return;
  }
  if (lws_write(wsi, start, static_cast<size_t>(p - start), LWS_WRITE_HTTP_HEADERS) < 0) return;
  std::string payload(LWS_PRE, '\0');
  payload.append(body);
  lws_write(wsi, reinterpret_cast<unsigned char*>(payload.data()) + LWS_PRE, body.size(),
            LWS_WRITE_HTTP_FINAL);
}

}  // namespace

// Thread: edge loop only.
struct LwsConnection final : Connection {
  LwsConnection(uint64_t id, struct lws* wsi) : Connection(id), wsi(wsi) {}

  // What few connections need, and then only for a while: allocated on
  // first use so that an idle connection does not carry two empty strings
  // (64 bytes).
  struct Occasional {
    // A message arriving in pieces (fragments, or a frame longer than the
    // receive buffer) until its last piece.
    std::string partial;
    // The close frame's reason, once closing.
    std::string close_reason;
  };
  Occasional& occasional() {
    if (occasional_state == nullptr) occasional_state = std::make_unique<Occasional>();
    return *occasional_state;
  }

  struct lws* const wsi;
  OutboundQueue queue;
  // ConnectionLimiter's key for this connection's address ("" if none).
  std::string limit_key;
  std::unique_ptr<Occasional> occasional_state;
  // Non-zero once the connection is to be closed with this code; nothing
  // more is read or queued after that.
  int close_code = 0;
  bool writable_requested = false;
  // Listed in dirty_: has output for the end-of-turn flush.
  bool dirty = false;
};

struct LwsTimer {
  uv_timer_t handle;
  std::function<void()> task;
};

struct LwsTransport::Impl {
  uv_loop_t loop;
  bool loop_initialized = false;
  // lws_create_context failed after touching the loop: its handles may be
  // half made, so the loop is left alone rather than run again.
  bool loop_unusable = false;
  uv_async_t wake;
  uv_prepare_t flush;
  uv_poll_t accept_poll;
  uv_timer_t accept_resume;
  bool handles_initialized = false;
  bool shut_down = false;
  struct lws_context* context = nullptr;
  struct lws_vhost* vhost = nullptr;
  std::vector<struct lws_protocols> protocols;
  // uv_hrtime() and uv_metrics_idle_time() when the last turn ended.
  uint64_t turn_end_ns = 0;
  uint64_t idle_ns_at_turn_end = 0;

  static LwsTransport* Of(uv_handle_t* handle) { return static_cast<LwsTransport*>(handle->data); }

  static int Callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in,
                      size_t len) {
    auto* transport = static_cast<LwsTransport*>(lws_context_user(lws_get_context(wsi)));
    return transport->HandleCallback(wsi, reason, user, in, len);
  }
  static void OnWake(uv_async_t* handle) {
    Of(reinterpret_cast<uv_handle_t*>(handle))->inbox_.Drain();
  }
  static void OnPrepare(uv_prepare_t* handle) {
    LwsTransport* transport = Of(reinterpret_cast<uv_handle_t*>(handle));
    transport->FlushDirty();
    transport->impl_->EndTurn(*transport->metrics_);
  }
  // Once per loop turn, after its writes, before the loop waits: the turn's
  // work is the time since the previous turn ended less the time the loop
  // spent waiting for events in between (libuv's idle time).
  void EndTurn(EdgeMetrics& metrics) {
    if (metrics.publications_waiting()) metrics.PublicationsWritten(absl::Now());
    uint64_t now_ns = uv_hrtime();
    uint64_t idle_ns = uv_metrics_idle_time(&loop);
    if (turn_end_ns != 0) {
      uint64_t elapsed = now_ns - turn_end_ns;
      uint64_t waited = std::min(elapsed, idle_ns - idle_ns_at_turn_end);
      metrics.loop_turn_seconds.Observe(static_cast<double>(elapsed - waited) * 1e-9);
    }
    turn_end_ns = now_ns;
    idle_ns_at_turn_end = idle_ns;
  }
  static void OnAcceptable(uv_poll_t* handle, int status, int events) {
    Of(reinterpret_cast<uv_handle_t*>(handle))->AcceptPending();
  }
  static void OnAcceptResume(uv_timer_t* handle) {
    LwsTransport* transport = Of(reinterpret_cast<uv_handle_t*>(handle));
    if (transport->accepting_stopped_) return;
    uv_poll_start(&transport->impl_->accept_poll, UV_READABLE, &Impl::OnAcceptable);
  }
  static void OnTimer(uv_timer_t* handle) { reinterpret_cast<LwsTimer*>(handle)->task(); }
  static void FreeTimer(uv_handle_t* handle) { delete reinterpret_cast<LwsTimer*>(handle); }
};

LwsTransport::LwsTransport(LwsTransportOptions options)
    : options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? options_.metrics : &EdgeMetrics::Discard()),
      impl_(std::make_unique<Impl>()),
      inbox_([this] {
        absl::MutexLock lock(&wake_mu_);
        if (wake_ready_.load(std::memory_order_acquire)) uv_async_send(&impl_->wake);
      }),
      limiter_(options_.per_address) {}

LwsTransport::~LwsTransport() { Shutdown(); }

namespace {

// A listening TCP socket on host:port, non-blocking; port 0 picks one.
absl::StatusOr<int> Listen(const std::string& host, int port) {
  std::string where = absl::StrCat(host, ":", port);
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* addresses = nullptr;
  std::string port_text = std::to_string(port);
  int rc =
      getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &addresses);
  if (rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ", where, ": ", gai_strerror(rc)));
  }
  int fd = socket(addresses->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int error = fd < 0 ? errno : 0;
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, addresses->ai_addr, addresses->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      error = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", where, ": ", std::strerror(error)));
  }
  return fd;
}

int BoundPort(int fd) {
  struct sockaddr_storage address;
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&address), &length) != 0) return -1;
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<struct sockaddr_in6*>(&address)->sin6_port);
  }
  return ntohs(reinterpret_cast<struct sockaddr_in*>(&address)->sin_port);
}

}  // namespace

absl::StatusOr<int> LwsTransport::Init(TransportHandler* handler) {
  handler_ = handler;
  max_connections_ =
      options_.max_connections > 0 ? options_.max_connections : DefaultMaxConnections();
  if (tls()) {
    absl::StatusOr<TlsKeyPair> pair =
        TlsKeyPair::Load(options_.tls_cert_file, options_.tls_key_file, absl::Now());
    if (!pair.ok())
      return absl::InvalidArgumentError(absl::StrCat("tls: ", pair.status().message()));
    certificate_ = *std::move(pair);
  }
  absl::StatusOr<int> fd = Listen(options_.listen_host, options_.listen_port);
  if (!fd.ok()) return fd.status();
  listen_fd_ = *fd;
  bound_port_ = BoundPort(listen_fd_);

  Impl& impl = *impl_;
  if (uv_loop_init(&impl.loop) != 0) return absl::InternalError("uv_loop_init failed");
  impl.loop_initialized = true;
  // For wirehub_edge_loop_turn_seconds: the time spent waiting for events.
  uv_loop_configure(&impl.loop, UV_METRICS_IDLE_TIME);
  uv_async_init(&impl.loop, &impl.wake, &Impl::OnWake);
  uv_prepare_init(&impl.loop, &impl.flush);
  uv_poll_init(&impl.loop, &impl.accept_poll, listen_fd_);
  uv_timer_init(&impl.loop, &impl.accept_resume);
  for (uv_handle_t* handle :
       {reinterpret_cast<uv_handle_t*>(&impl.wake), reinterpret_cast<uv_handle_t*>(&impl.flush),
        reinterpret_cast<uv_handle_t*>(&impl.accept_poll),
        reinterpret_cast<uv_handle_t*>(&impl.accept_resume)}) {
    handle->data = this;
  }
  impl.handles_initialized = true;
  uv_prepare_start(&impl.flush, &Impl::OnPrepare);
  // The flush alone must not keep the loop running.
  uv_unref(reinterpret_cast<uv_handle_t*>(&impl.flush));
  wake_ready_.store(true, std::memory_order_release);

  // One lws protocol per wire format, named as its subprotocol so lws binds
  // the one the client offered first and echoes it (ConfirmUpgrade refused
  // every offer without one). The first is the default: a handshake that
  // offers none speaks JSON and is echoed nothing. `id` is the WireFormat.
  for (WireFormat format : {WireFormat::kJson, WireFormat::kProtobuf}) {
    impl.protocols.push_back(lws_protocols{
        SubprotocolOf(format),
        &Impl::Callback,
        // No per-session allocation: the LwsConnection is the wsi's opaque
        // user data (an 8-byte per_session_data_size cost a 32-byte chunk).
        0,
        kReceiveBufferBytes,
        static_cast<unsigned int>(format),
        nullptr,
        // Let one lws_write carry a whole coalesced batch.
        options_.max_write_batch_bytes + 64,
    });
  }
  impl.protocols.push_back(lws_protocols{nullptr, nullptr, 0, 0, 0, nullptr, 0});

  void* foreign_loops[] = {&impl.loop};
  struct lws_context_creation_info info;
  std::memset(&info, 0, sizeof(info));
  // The listener is ours (accept pacing, precise bind errors); lws serves
  // the sockets we adopt.
  info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  info.protocols = impl.protocols.data();
  info.user = this;
  info.foreign_loops = foreign_loops;
  info.timeout_secs = 10;
  // No lws "validity" pings: the client protocol has its own. lws's default
  // policy (ping at 300 s) keeps a timer per connection in one sorted list
  // and re-inserts it, walking the list, on every message a client sends:
  // at 15k connections that was 64% of the edge's CPU while clients
  // connected (perf: lws_dll2_add_sorted).
  static const lws_retry_bo_t kNoValidityChecks = {};
  info.retry_and_idle_policy = &kNoValidityChecks;
  info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                 LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN;
  if (tls()) {
    // No files for lws: the vhost's SSL_CTX comes to the
    // LOAD_EXTRA_SERVER_VERIFY_CERTS callback, which installs the pair
    // validated above (and ReloadCertificate() later ones).
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
    info.ssl_cipher_list = kTls12Ciphers;
    info.tls1_3_plus_cipher_list = kTls13Suites;
    info.ssl_options_set = static_cast<long>(SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
                                             SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    // HTTP/1.1 only: a WebSocket handshake never needs h2.
    info.alpn = "http/1.1";
  }
  lws_set_log_level(LLL_ERR | LLL_WARN, &EmitLwsLog);
  impl.context = lws_create_context(&info);
  if (impl.context == nullptr) {
    impl.loop_unusable = true;
    return absl::InternalError(tls() ? "cannot create the libwebsockets context (TLS set-up failed)"
                                     : "cannot create the libwebsockets context");
  }
  if (tls() && ssl_ctx_ == nullptr) {
    return absl::InternalError("tls: libwebsockets made no SSL context");
  }
  WH_LOG(INFO) << "max_connections " << max_connections_
               << (options_.max_connections > 0 ? "" : " (the open-files limit minus 128)")
               << ", handshake_timeout " << absl::FormatDuration(options_.handshake_timeout);
  absl::Duration sweep_period =
      std::clamp(options_.handshake_timeout / 10, absl::Milliseconds(20), absl::Seconds(1));
  StartTimer(sweep_period, [this] { ExpireHandshakes(); });
  StartTimer(options_.refusal_log_interval, [this] { LogRefusals(); });
  impl.vhost = lws_get_vhost_by_name(impl.context, "default");
  if (impl.vhost == nullptr) return absl::InternalError("libwebsockets has no default vhost");
  uv_poll_start(&impl.accept_poll, UV_READABLE, &Impl::OnAcceptable);
  return bound_port_;
}

void LwsTransport::Run() {
  loop_thread_.store(std::this_thread::get_id());
  uv_run(&impl_->loop, UV_RUN_DEFAULT);
  loop_thread_.store(std::thread::id());
}

void LwsTransport::StopLoop() {
  assert(OnLoopThread());
  uv_stop(&impl_->loop);
}

bool LwsTransport::OnLoopThread() const {
  std::thread::id loop = loop_thread_.load();
  return loop == std::thread::id() || loop == std::this_thread::get_id();
}

void LwsTransport::Shutdown() {
  Impl& impl = *impl_;
  if (impl.shut_down) return;
  impl.shut_down = true;
  {
    absl::MutexLock lock(&wake_mu_);
    wake_ready_.store(false, std::memory_order_release);
  }
  struct lws_context* context = impl.context;
  impl.context = nullptr;
  // Closes every connection still open (OnClose for each).
  if (context != nullptr) lws_context_destroy(context);
  if (impl.loop_initialized && !impl.loop_unusable) {
    for (auto& [id, timer] : timers_) {
      uv_timer_stop(&timer->handle);
      uv_close(reinterpret_cast<uv_handle_t*>(&timer->handle), &Impl::FreeTimer);
    }
    timers_.clear();
    if (impl.handles_initialized) {
      uv_poll_stop(&impl.accept_poll);
      for (uv_handle_t* handle :
           {reinterpret_cast<uv_handle_t*>(&impl.wake), reinterpret_cast<uv_handle_t*>(&impl.flush),
            reinterpret_cast<uv_handle_t*>(&impl.accept_poll),
            reinterpret_cast<uv_handle_t*>(&impl.accept_resume)}) {
        uv_close(handle, nullptr);
      }
    }
    // Let lws and our handles finish closing, then release the loop.
    uv_run(&impl.loop, UV_RUN_DEFAULT);
    // With a foreign loop lws frees the context only on this second call,
    // once the loop has run its handles' closes (LeakSanitizer showed the
    // context and its buffers, 330 kB, left behind otherwise).
    if (context != nullptr) lws_context_destroy(context);
    uv_loop_close(&impl.loop);
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    listen_fd_ = -1;
  }
  for (LwsConnection* connection : connections_) delete connection;
  connections_.clear();
}

void LwsTransport::AcceptPending() {
  for (int i = 0; i < kAcceptsPerWake; ++i) {
    if (open_sockets_ >= max_connections_) {
      // Leave the rest in the kernel's backlog until a socket closes
      // (OnSocketDestroyed resumes); polling on would spin the loop.
      uv_poll_stop(&impl_->accept_poll);
      paused_at_limit_ = true;
      CountRefusal(Refusal::kEdgeFull);
      return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        PauseAccepting();
        return;
      }
      continue;  // ECONNABORTED and the like: that client is gone.
    }
    // Writes are already coalesced per loop turn; Nagle would only hold a
    // handshake's last bytes (over TLS 1.3, the 101 behind the session
    // ticket) until the client's delayed ACK, about 40 ms per connect.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (options_.send_buffer_bytes > 0) {
      int size = options_.send_buffer_bytes;
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
    if (lws_adopt_socket_vhost(impl_->vhost, fd) == nullptr) close(fd);
  }
}

void LwsTransport::PauseAccepting() {
  // Out of descriptors: the pending connection stays in the backlog and the
  // listener would wake the loop at once, again and again. Stop listening
  // for a moment instead; connections closing meanwhile free descriptors.
  int64_t now_ms = absl::ToUnixMillis(absl::Now());
  if (now_ms - last_accept_error_log_ms_ >= 10000) {
    last_accept_error_log_ms_ = now_ms;
    WH_LOG(WARNING) << "accept: " << std::strerror(errno) << "; pausing new connections for "
                    << absl::FormatDuration(options_.accept_pause);
  }
  uv_poll_stop(&impl_->accept_poll);
  uv_timer_start(&impl_->accept_resume, &Impl::OnAcceptResume,
                 absl::ToInt64Milliseconds(options_.accept_pause), 0);
}

int LwsTransport::HandleCallback(struct lws* wsi, int reason, void* user, void* in, size_t len) {
  switch (reason) {
    case LWS_CALLBACK_WSI_CREATE:
      OnSocketCreated(wsi);
      return 0;

    case LWS_CALLBACK_WSI_DESTROY:
      OnSocketDestroyed(wsi);
      return 0;

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: {
      // `user` is the vhost's SSL_CTX here.
      absl::Status status = InitTls(user);
      if (!status.ok()) WH_LOG(ERROR) << "tls: " << status.message();
      return status.ok() ? 0 : 1;
    }

    case LWS_CALLBACK_HTTP:
      // Plain HTTP is not served; only the WebSocket upgrade is.
      return RefuseHandshake(wsi, Refusal::kWrongPath,
                             HandshakeRefusal{404, absl::StrCat("not found; WebSocket clients "
                                                                "connect to ",
                                                                options_.path)});

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
      return ConfirmUpgrade(wsi, in != nullptr ? static_cast<const char*>(in) : "");

    case LWS_CALLBACK_ESTABLISHED:
      OnEstablished(wsi);
      return 0;

    case LWS_CALLBACK_RECEIVE: {
      auto* connection = static_cast<LwsConnection*>(lws_get_opaque_user_data(wsi));
      if (connection == nullptr) return -1;
      return OnReceive(connection, static_cast<const char*>(in), len);
    }

    case LWS_CALLBACK_SERVER_WRITEABLE: {
      auto* connection = static_cast<LwsConnection*>(lws_get_opaque_user_data(wsi));
      if (connection == nullptr) return -1;
      return OnWritable(connection);
    }

    case LWS_CALLBACK_CLOSED: {
      auto* connection = static_cast<LwsConnection*>(lws_get_opaque_user_data(wsi));
      if (connection != nullptr) {
        lws_set_opaque_user_data(wsi, nullptr);
        OnClosed(connection);
      }
      return 0;
    }

    default:
      return 0;
  }
}

void LwsTransport::OnEstablished(struct lws* wsi) {
  auto* connection = new LwsConnection(next_connection_id_++, wsi);
  auto pending = pending_.find(wsi);
  if (pending != pending_.end()) {
    connection->limit_key = std::move(pending->second.limit_key);
    pending_.erase(pending);
  }
  const struct lws_protocols* protocol = lws_get_protocol(wsi);
  if (protocol != nullptr && protocol->id == static_cast<unsigned int>(WireFormat::kProtobuf)) {
    connection->format = WireFormat::kProtobuf;
  }
  lws_set_opaque_user_data(wsi, connection);
  connections_.insert(connection);
  if (connection->format == WireFormat::kProtobuf) ++protobuf_connections_;
  SetConnectionGauges();
  if (handler_ != nullptr) handler_->OnOpen(connection);
}

int LwsTransport::OnReceive(LwsConnection* connection, const char* data, size_t len) {
  if (connection->close_code != 0) return 0;  // Closing: ignore what still arrives.
  LwsConnection::Occasional* held = connection->occasional_state.get();
  size_t partial = held != nullptr ? held->partial.size() : 0;
  if (partial + len > options_.max_message_bytes) {
    // Refuse before buffering: a client cannot make us hold more than the
    // limit for it.
    static constexpr char kReason[] = "message too big";
    lws_close_reason(connection->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     reinterpret_cast<unsigned char*>(const_cast<char*>(kReason)),
                     sizeof(kReason) - 1);
    connection->close_code = LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE;
    metrics_->CountDisconnect(LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
    return -1;
  }
  bool binary = lws_frame_is_binary(connection->wsi);
  bool final_fragment =
      lws_is_final_fragment(connection->wsi) && lws_remaining_packet_payload(connection->wsi) == 0;
  if (final_fragment && partial == 0) {
    if (handler_ != nullptr) handler_->OnMessage(connection, std::string_view(data, len), binary);
    return 0;
  }
  std::string& pieces = connection->occasional().partial;
  pieces.append(data, len);
  if (final_fragment) {
    std::string message = std::move(pieces);
    // Not closing (checked above), so nothing else lives there: give the
    // memory back before the handler runs (it may close, which allocates
    // it again for the reason).
    connection->occasional_state.reset();
    if (handler_ != nullptr) handler_->OnMessage(connection, message, binary);
  }
  return 0;
}

int LwsTransport::OnWritable(LwsConnection* connection) {
  connection->writable_requested = false;
  if (connection->close_code != 0 &&
      (!connection->queue.empty() || lws_partial_buffered(connection->wsi))) {
    // What was queued before Close() leaves first; the close frame follows
    // on the next writable callback.
    if (!connection->queue.empty() && !lws_partial_buffered(connection->wsi) &&
        !WriteQueued(connection)) {
      return -1;
    }
    RequestWritable(connection);
    return 0;
  }
  if (connection->close_code != 0) {
    // Returning -1 from WRITEABLE makes lws 4.1.6 drop the socket without
    // the close frame prepared by lws_close_reason(), so the client would
    // see 1006 and the SDK would reconnect. Write the close frame (RFC 6455
    // 5.5.1: 2-byte code, then the reason) ourselves, then hang up.
    write_buffer_.assign(LWS_PRE, '\0');
    write_buffer_.push_back(static_cast<char>((connection->close_code >> 8) & 0xff));
    write_buffer_.push_back(static_cast<char>(connection->close_code & 0xff));
    if (connection->occasional_state != nullptr) {  // Close() keeps it <= 123 bytes.
      write_buffer_.append(connection->occasional_state->close_reason);
    }
    lws_write(connection->wsi, reinterpret_cast<unsigned char*>(write_buffer_.data()) + LWS_PRE,
              write_buffer_.size() - LWS_PRE, kLwsWriteClose);
    return -1;
  }
  if (connection->queue.empty()) return 0;
  return WriteQueued(connection) ? 0 : -1;
}

bool LwsTransport::WriteQueued(LwsConnection* connection) {
  // Everything queued goes out in one frame (JSON lines newline-joined,
  // length-prefixed protobuf replies back to back): one send() per
  // connection per turn instead of one per message.
  write_buffer_.assign(LWS_PRE, '\0');
  metrics_->client_queue_bytes.Observe(static_cast<double>(connection->queue.bytes()));
  bool json = connection->format == WireFormat::kJson;
  connection->queue.DrainInto(options_.max_write_batch_bytes, &write_buffer_, json);
  size_t payload = write_buffer_.size() - LWS_PRE;
  // lws_write() sends what the socket takes and keeps the rest, asking for
  // a writable callback itself; lws_partial_buffered() then says so.
  int written =
      lws_write(connection->wsi, reinterpret_cast<unsigned char*>(write_buffer_.data()) + LWS_PRE,
                payload, json ? LWS_WRITE_TEXT : LWS_WRITE_BINARY);
  if (written < 0) return false;
  metrics_->written_bytes.Increment(payload);
  if (!connection->queue.empty() || lws_partial_buffered(connection->wsi)) {
    RequestWritable(connection);
  }
  return true;
}

void LwsTransport::MarkDirty(LwsConnection* connection) {
  if (connection->writable_requested || connection->dirty) return;
  connection->dirty = true;
  dirty_.push_back(connection);
}

void LwsTransport::FlushDirty() {
  // Swap out first: a failing write may close a connection, and nothing
  // here adds to dirty_ but the closes' own sends, which wait a turn.
  std::vector<LwsConnection*> dirty;
  dirty.swap(dirty_);
  for (LwsConnection* connection : dirty) {
    if (!connections_.contains(connection) || !connection->dirty) continue;
    connection->dirty = false;
    if (connection->writable_requested || connection->close_code != 0 ||
        connection->queue.empty()) {
      continue;
    }
    if (lws_partial_buffered(connection->wsi)) {
      RequestWritable(connection);
      continue;
    }
    if (!WriteQueued(connection)) {
      // Outside a callback lws cannot be told to close by a return value.
      lws_set_timeout(connection->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
    }
  }
  if (dirty_.empty()) {
    dirty.clear();
    dirty_.swap(dirty);  // Keep the capacity for the next turn.
  }
}

void LwsTransport::OnClosed(LwsConnection* connection) {
  if (!connection->limit_key.empty()) limiter_.Release(connection->limit_key);
  if (handler_ != nullptr) handler_->OnClose(connection);
  connections_.erase(connection);
  if (connection->format == WireFormat::kProtobuf) --protobuf_connections_;
  SetConnectionGauges();
  delete connection;
}

void LwsTransport::SetConnectionGauges() {
  metrics_->connections.Set(static_cast<double>(connections_.size() - protobuf_connections_));
  metrics_->protobuf_connections.Set(static_cast<double>(protobuf_connections_));
}

bool LwsTransport::Send(Connection* base, Frame frame) {
  assert(OnLoopThread());
  auto* connection = static_cast<LwsConnection*>(base);
  if (connection->close_code != 0) return true;  // Closing: dropped quietly.
  if (!connection->queue.Push(std::move(frame), options_.queue_max_bytes)) return false;
  MarkDirty(connection);
  return true;
}

void LwsTransport::Close(Connection* base, int code, std::string_view reason) {
  assert(OnLoopThread());
  auto* connection = static_cast<LwsConnection*>(base);
  if (connection->close_code != 0) return;
  connection->close_code = code;
  metrics_->CountDisconnect(code);
  // A close frame carries at most 123 bytes of reason (RFC 6455 5.5), and
  // it must stay valid UTF-8.
  connection->occasional().close_reason.assign(Utf8Prefix(reason, kMaxCloseReasonBytes));
  // A client that reads gets the replies queued before the close (a 111
  // before 3013, say); one with a large backlog is likely not reading, and
  // waiting for it would hold the socket.
  if (connection->queue.bytes() > kCloseFlushMaxBytes) connection->queue.Clear();
  RequestWritable(connection);
}

size_t LwsTransport::QueuedBytes(const Connection* connection) const {
  return static_cast<const LwsConnection*>(connection)->queue.bytes();
}

void LwsTransport::RequestWritable(LwsConnection* connection) {
  if (connection->writable_requested) return;
  connection->writable_requested = true;
  lws_callback_on_writable(connection->wsi);
}

Transport::TimerId LwsTransport::StartTimer(absl::Duration period, std::function<void()> task) {
  assert(OnLoopThread());
  auto* timer = new LwsTimer;
  timer->task = std::move(task);
  uv_timer_init(&impl_->loop, &timer->handle);
  // Timers do not keep the loop alive: StopLoop() ends it.
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer->handle));
  uint64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(period));
  uv_timer_start(&timer->handle, &Impl::OnTimer, ms, ms);
  TimerId id = next_timer_id_++;
  timers_[id] = timer;
  return id;
}

void LwsTransport::CancelTimer(TimerId id) {
  assert(OnLoopThread());
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  uv_timer_stop(&it->second->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&it->second->handle), &Impl::FreeTimer);
  timers_.erase(it);
}

absl::Status LwsTransport::InitTls(void* ssl_ctx) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (ctx == nullptr || !certificate_.has_value()) {
    return absl::InternalError("no SSL context or certificate");
  }
  // lws sets the ciphers and options from the creation info; the floor is
  // set here too so that no option mix-up can bring TLS 1.0 back.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return absl::InternalError("cannot set the minimum TLS version");
  }
  absl::Status installed = certificate_->InstallInto(ctx);
  if (!installed.ok()) return installed;
  ssl_ctx_ = ctx;
  WH_LOG(INFO) << "tls: serving certificate serial " << certificate_->serial_hex() << " ("
               << certificate_->subject() << ", expires "
               << absl::FormatTime("%Y-%m-%d", certificate_->not_after(), absl::UTCTimeZone())
               << ") from " << options_.tls_cert_file;
  return absl::OkStatus();
}

void LwsTransport::ReloadCertificate() {
  assert(OnLoopThread());
  if (!tls() || ssl_ctx_ == nullptr) return;
  absl::StatusOr<TlsKeyPair> pair =
      TlsKeyPair::Load(options_.tls_cert_file, options_.tls_key_file, absl::Now());
  if (!pair.ok()) {
    WH_LOG(WARNING) << "tls: keeping the current certificate (serial " << certificate_->serial_hex()
                    << "): " << pair.status().message();
    return;
  }
  if (certificate_.has_value() && pair->SameAs(*certificate_)) return;
  absl::Status installed = pair->InstallInto(static_cast<SSL_CTX*>(ssl_ctx_));
  if (!installed.ok()) {
    WH_LOG(WARNING) << "tls: keeping the current certificate (serial " << certificate_->serial_hex()
                    << "): " << installed.message();
    return;
  }
  WH_LOG(INFO) << "tls: installed certificate serial " << pair->serial_hex() << " ("
               << pair->subject() << ", expires "
               << absl::FormatTime("%Y-%m-%d", pair->not_after(), absl::UTCTimeZone()) << ") from "
               << options_.tls_cert_file << " for new connections";
  certificate_ = *std::move(pair);
}

void LwsTransport::OnSocketCreated(struct lws* wsi) {
  ++open_sockets_;
  uint64_t serial = next_pending_serial_++;
  pending_[wsi].serial = serial;
  deadlines_.push_back({absl::Now() + options_.handshake_timeout, wsi, serial});
}

void LwsTransport::OnSocketDestroyed(struct lws* wsi) {
  if (open_sockets_ > 0) --open_sockets_;
  auto pending = pending_.find(wsi);
  if (pending != pending_.end()) {
    if (!pending->second.limit_key.empty()) limiter_.Release(pending->second.limit_key);
    pending_.erase(pending);
  }
  ResumeAcceptingIfBelowLimit();
}

void LwsTransport::StopAccepting() {
  assert(OnLoopThread());
  if (accepting_stopped_) return;
  accepting_stopped_ = true;
  paused_at_limit_ = false;
  if (impl_->handles_initialized && !impl_->shut_down) {
    uv_poll_stop(&impl_->accept_poll);
    uv_timer_stop(&impl_->accept_resume);
  }
  // On Linux, shutdown() of a listening socket ends its listening while the
  // descriptor stays ours (closing it could hand its number to a client
  // socket while libuv still knows the old one).
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RD);
}

void LwsTransport::ApplyAdmission(const LwsTransportOptions& reloaded) {
  assert(OnLoopThread());
  options_.origins = reloaded.origins;
  options_.trusted_proxies = reloaded.trusted_proxies;
  options_.per_address = reloaded.per_address;
  limiter_.Reconfigure(reloaded.per_address);
  // The sweep keeps the period it started with (at most 1 s).
  options_.handshake_timeout = reloaded.handshake_timeout;
  // A shorter timeout applies to handshakes under way too; capping keeps
  // the deadlines in order (each is at most now + timeout, later ones
  // later).
  const absl::Time latest = absl::Now() + options_.handshake_timeout;
  for (Deadline& deadline : deadlines_) deadline.at = std::min(deadline.at, latest);
  options_.max_connections = reloaded.max_connections;
  max_connections_ =
      options_.max_connections > 0 ? options_.max_connections : DefaultMaxConnections();
  ResumeAcceptingIfBelowLimit();
}

void LwsTransport::ResumeAcceptingIfBelowLimit() {
  if (!paused_at_limit_ || accepting_stopped_ || impl_->shut_down ||
      open_sockets_ >= max_connections_) {
    return;
  }
  paused_at_limit_ = false;
  uv_poll_start(&impl_->accept_poll, UV_READABLE, &Impl::OnAcceptable);
}

void LwsTransport::ExpireHandshakes() {
  absl::Time now = absl::Now();
  while (!deadlines_.empty()) {
    // Deadlines of handshakes that completed (or sockets that closed) go
    // as soon as they reach the front, not when they would have expired:
    // after a burst of connects they would otherwise hold 32 bytes per
    // connection for a whole handshake_timeout.
    Deadline deadline = deadlines_.front();
    auto pending = pending_.find(deadline.wsi);
    bool waiting = pending != pending_.end() && pending->second.serial == deadline.serial;
    if (waiting && deadline.at > now) break;
    deadlines_.pop_front();
    if (!waiting) continue;
    // Counted once: the entry stays (its limiter key is released when lws
    // destroys the socket) but no longer matches a deadline.
    pending->second.serial = 0;
    CountRefusal(Refusal::kHandshakeTimeout);
    // Outside any lws callback a synchronous close is safe, and an async one
    // would wait for lws's next service (its timer is not re-armed from
    // here). It reenters OnSocketDestroyed, which erases `pending`.
    lws_set_timeout(deadline.wsi, PENDING_TIMEOUT_HTTP_CONTENT, LWS_TO_KILL_SYNC);
  }
  if (now - last_limiter_sweep_ >= absl::Seconds(5)) {
    last_limiter_sweep_ = now;
    limiter_.Sweep(now);
  }
}

int LwsTransport::ConfirmUpgrade(struct lws* wsi, std::string_view upgrade) {
  if (accepting_stopped_) {
    return RefuseHandshake(wsi, Refusal::kDraining,
                           HandshakeRefusal{503, "this edge is shutting down; connect again"});
  }
  // Long enough for any real header; longer ones are refused.
  constexpr size_t kMaxHeaderBytes = 2048;
  std::string path, upgrade_header, connection, version, key, protocol, origin, host, forwarded;
  bool fits = CopyHeader(wsi, WSI_TOKEN_GET_URI, kMaxHeaderBytes, &path) &&
              CopyHeader(wsi, WSI_TOKEN_UPGRADE, kMaxHeaderBytes, &upgrade_header) &&
              CopyHeader(wsi, WSI_TOKEN_CONNECTION, kMaxHeaderBytes, &connection) &&
              CopyHeader(wsi, WSI_TOKEN_VERSION, kMaxHeaderBytes, &version) &&
              CopyHeader(wsi, WSI_TOKEN_KEY, kMaxHeaderBytes, &key) &&
              CopyHeader(wsi, WSI_TOKEN_PROTOCOL, kMaxHeaderBytes, &protocol) &&
              CopyHeader(wsi, WSI_TOKEN_ORIGIN, kMaxHeaderBytes, &origin) &&
              CopyHeader(wsi, WSI_TOKEN_HOST, kMaxHeaderBytes, &host) &&
              CopyHeader(wsi, WSI_TOKEN_X_FORWARDED_FOR, kMaxHeaderBytes, &forwarded);
  if (!fits) {
    return RefuseHandshake(wsi, Refusal::kBadRequest,
                           HandshakeRefusal{400, "a handshake header is too long"});
  }
  HandshakeRequest request;
  request.get_path = path;
  request.upgrade = upgrade_header.empty() ? upgrade : std::string_view(upgrade_header);
  request.connection = connection;
  request.version = version;
  request.key = key;
  request.protocol = protocol;
  request.origin = origin;
  request.host = host;
  std::optional<HandshakeRefusal> refusal =
      CheckHandshake(request, options_.path, options_.origins);
  if (refusal.has_value()) {
    Refusal reason = refusal->subprotocol     ? Refusal::kSubprotocol
                     : refusal->status == 404 ? Refusal::kWrongPath
                     : refusal->status == 426 ? Refusal::kVersion
                     : refusal->status == 403 ? Refusal::kOrigin
                                              : Refusal::kBadRequest;
    return RefuseHandshake(wsi, reason, *refusal);
  }

  char peer_text[64] = {0};
  lws_get_peer_simple(wsi, peer_text, sizeof(peer_text));
  std::optional<IpAddress> peer = IpAddress::Parse(peer_text);
  std::string limit_key = peer.has_value()
                              ? options_.trusted_proxies.Resolve(*peer, forwarded).LimitKey()
                              : std::string(peer_text);
  // Admitted while no limit is configured, it was not counted: a reload
  // that configures one must not see it released later.
  if (!limiter_.enabled()) limit_key.clear();
  switch (limiter_.Admit(limit_key, absl::Now())) {
    case ConnectionLimiter::Verdict::kTooManyConnections:
      return RefuseHandshake(wsi, Refusal::kAddressLimit,
                             HandshakeRefusal{429, "too many connections from your address"});
    case ConnectionLimiter::Verdict::kRateExceeded:
      return RefuseHandshake(
          wsi, Refusal::kAddressRate,
          HandshakeRefusal{429, "too many new connections from your address; retry later"});
    case ConnectionLimiter::Verdict::kAdmit:
      break;
  }
  auto pending = pending_.find(wsi);
  if (pending != pending_.end()) {
    pending->second.limit_key = std::move(limit_key);
  } else {
    limiter_.Release(limit_key);
  }
  return 0;
}

int LwsTransport::RefuseHandshake(struct lws* wsi, Refusal reason, const HandshakeRefusal& answer) {
  CountRefusal(reason);
  WriteHttpError(wsi, answer.status, answer.reason, answer.version_header);
  return -1;
}

void LwsTransport::CountRefusal(Refusal reason) {
  ++refusals_[static_cast<int>(reason)];
  metrics_->CountRefusal(MetricReason(reason));
}

void LwsTransport::LogRefusals() {
  for (int i = 0; i < static_cast<int>(Refusal::kCount); ++i) {
    uint64_t count = refusals_[i] - refusals_logged_[i];
    if (count == 0) continue;
    refusals_logged_[i] = refusals_[i];
    if (static_cast<Refusal>(i) == Refusal::kEdgeFull) {
      WH_LOG(WARNING) << "accepting paused " << count << " times in the last "
                      << absl::FormatDuration(options_.refusal_log_interval)
                      << ": max_connections (" << max_connections_
                      << ") reached; new connections wait in the listen backlog";
      continue;
    }
    WH_LOG(WARNING) << "refused " << count << " connections in the last "
                    << absl::FormatDuration(options_.refusal_log_interval) << ": "
                    << RefusalName(static_cast<Refusal>(i));
  }
}

}  // namespace wirehub::edge

#include "tools/wirehubctl/grpc_control_client.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/sync_stream.h"
#include "wirehub/control/v1/control.grpc.pb.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

// Thread-compatible, as ControlClient; PublishStream runs a writer thread of
// its own and joins it before returning.
class GrpcControlClient final : public ControlClient {
 public:
  GrpcControlClient(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout,
                    std::string api_key)
      : stub_(v1::ControlService::NewStub(std::move(channel))),
        timeout_(timeout),
        api_key_(std::move(api_key)) {}

  grpc::Status Publish(const v1::PublishRequest& request, v1::PublishResponse* response) override {
    return Unary(&v1::ControlService::Stub::Publish, request, response);
  }

  grpc::Status Broadcast(const v1::BroadcastRequest& request,
                         v1::BroadcastResponse* response) override {
    return Unary(&v1::ControlService::Stub::Broadcast, request, response);
  }

  grpc::Status Stats(const v1::StatsRequest& request, v1::StatsResponse* response) override {
    return Unary(&v1::ControlService::Stub::Stats, request, response);
  }

  grpc::Status History(const v1::HistoryRequest& request, v1::HistoryResponse* response) override {
    return Unary(&v1::ControlService::Stub::History, request, response);
  }

  grpc::Status HistoryRemove(const v1::HistoryRemoveRequest& request,
                             v1::HistoryRemoveResponse* response) override {
    return Unary(&v1::ControlService::Stub::HistoryRemove, request, response);
  }

  grpc::Status Presence(const v1::PresenceRequest& request,
                        v1::PresenceResponse* response) override {
    return Unary(&v1::ControlService::Stub::Presence, request, response);
  }

  grpc::Status PresenceStats(const v1::PresenceStatsRequest& request,
                             v1::PresenceStatsResponse* response) override {
    return Unary(&v1::ControlService::Stub::PresenceStats, request, response);
  }

  grpc::Status Subscribe(const v1::SubscribeRequest& request,
                         v1::SubscribeResponse* response) override {
    return Unary(&v1::ControlService::Stub::Subscribe, request, response);
  }

  grpc::Status Unsubscribe(const v1::UnsubscribeRequest& request,
                           v1::UnsubscribeResponse* response) override {
    return Unary(&v1::ControlService::Stub::Unsubscribe, request, response);
  }

  grpc::Status Disconnect(const v1::DisconnectRequest& request,
                          v1::DisconnectResponse* response) override {
    return Unary(&v1::ControlService::Stub::Disconnect, request, response);
  }

  grpc::Status Refresh(const v1::RefreshRequest& request, v1::RefreshResponse* response) override {
    return Unary(&v1::ControlService::Stub::Refresh, request, response);
  }

  grpc::Status Connections(const v1::ConnectionsRequest& request,
                           v1::ConnectionsResponse* response) override {
    return Unary(&v1::ControlService::Stub::Connections, request, response);
  }

  grpc::Status Channels(const v1::ChannelsRequest& request,
                        v1::ChannelsResponse* response) override {
    return Unary(&v1::ControlService::Stub::Channels, request, response);
  }

  grpc::Status Info(const v1::InfoRequest& request, v1::InfoResponse* response) override {
    return Unary(&v1::ControlService::Stub::Info, request, response);
  }

  grpc::Status PublishStream(const NextStreamRequest& next_request,
                             const OnStreamResponse& on_response) override {
    grpc::ClientContext rpc;  // No deadline: the stream lasts as long as its input.
    AddKey(&rpc);
    std::unique_ptr<grpc::ClientReaderWriter<v1::PublishStreamRequest, v1::PublishStreamResponse>>
        stream = stub_->PublishStream(&rpc);
    // Set once the writer will neither wait for input nor block in Write().
    std::atomic<bool> writer_done{false};
    // A separate writer, so responses are read (and printed) while the input
    // is still being read and while flow control holds back a Write().
    std::thread writer([&] {
      while (std::optional<StreamRequest> next = next_request()) {
        // A sync Write() returns only once gRPC has taken the message; with
        // the buffer hint that is as soon as it is queued (up to the
        // transport's write buffer), so a run of ready requests goes out in
        // a few socket writes instead of a wake-up and a write each. The
        // hint is safe only because the next request is ready: it flushes
        // this one, as WritesDone() flushes the last.
        grpc::WriteOptions options;
        if (next->more_ready) options.set_buffer_hint();
        // The stream has ended; Finish() says why.
        if (!stream->Write(next->request, options)) break;
      }
      writer_done = true;
      stream->WritesDone();
    });
    v1::PublishStreamResponse response;
    while (stream->Read(&response)) on_response(response);
    // The server ended the stream before the input did: a Write() blocked by
    // flow control must not wait for a reader that is gone.
    if (!writer_done) rpc.TryCancel();
    writer.join();
    return stream->Finish();
  }

 private:
  // One blocking call of `method`, bounded by the client's timeout.
  template <typename Request, typename Response>
  grpc::Status Unary(grpc::Status (v1::ControlService::Stub::*method)(grpc::ClientContext*,
                                                                      const Request&, Response*),
                     const Request& request, Response* response) {
    grpc::ClientContext rpc;
    rpc.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    AddKey(&rpc);
    return ((*stub_).*method)(&rpc, request, response);
  }

  void AddKey(grpc::ClientContext* rpc) const {
    if (!api_key_.empty()) rpc->AddMetadata("authorization", "apikey " + api_key_);
  }

  std::unique_ptr<v1::ControlService::Stub> stub_;
  absl::Duration timeout_;
  std::string api_key_;
};

// A CA bundle is a few KiB; anything this large is not one.
constexpr size_t kMaxCaFileBytes = 1 << 20;

}  // namespace

absl::StatusOr<std::unique_ptr<ControlClient>> NewGrpcControlClient(const ControlTarget& target) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments args;
  if (!target.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadFileBounded(target.tls_ca_file, kMaxCaFileBytes, "the --tls_ca_file CA bundle");
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = *std::move(ca);
    credentials = grpc::SslCredentials(options);
    if (!target.tls_server_name.empty()) {
      args.SetSslTargetNameOverride(target.tls_server_name);
    }
  }
  return std::unique_ptr<ControlClient>(std::make_unique<GrpcControlClient>(
      grpc::CreateCustomChannel(target.address, credentials, args), target.timeout,
      target.api_key));
}

}  // namespace wirehub::ctl

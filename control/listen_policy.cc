#include "control/listen_policy.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace wirehub::control {

bool IsLoopbackAddress(std::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return false;
  std::string host(host_port.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return memcmp(&v6, &in6addr_loopback, sizeof(v6)) == 0;
  }
  return false;
}

absl::Status CheckListenPolicy(const ListenPolicyInput& input, std::vector<std::string>* warnings) {
  if (!IsLoopbackAddress(input.grpc_listen) && !input.has_api_keys) {
    if (!input.insecure_api) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--grpc_listen=", input.grpc_listen,
          " is beyond loopback and the configuration has no api_keys: anyone who can reach it "
          "could publish, disconnect and read every tenant. Add api_keys to --config (mint one "
          "with `wirehubctl apikey`), listen on loopback, or pass --insecure_api to accept it"));
    }
    warnings->push_back(absl::StrCat(
        "WARNING: --insecure_api: the API on ", input.grpc_listen,
        " is beyond loopback WITHOUT API keys; anyone who can reach it can call everything"));
  }
  if (!IsLoopbackAddress(input.grpc_listen) && input.has_api_keys && !input.api_tls) {
    warnings->push_back(absl::StrCat(
        "WARNING: the API on ", input.grpc_listen,
        " is beyond loopback without TLS: API keys cross the network in clear (give "
        "--grpc_tls_cert_file and --grpc_tls_key_file, or terminate TLS in front of it)"));
  }
  if (!IsLoopbackAddress(input.edge_listen) && !input.edge_mutual_tls) {
    if (!input.insecure_edge_link) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--edge_listen=", input.edge_listen,
          " is beyond loopback without mutual TLS: anyone who can reach it could attach as an "
          "edge, read every tenant's publications and publish as any user. Give "
          "--edge_tls_cert_file, --edge_tls_key_file and --edge_tls_client_ca_file, listen on "
          "loopback, or pass --insecure_edge_link to accept it"));
    }
    warnings->push_back(absl::StrCat(
        "WARNING: --insecure_edge_link: the edge link on ", input.edge_listen,
        " is beyond loopback WITHOUT client certificates; anyone who can reach it can pose as "
        "an edge"));
  }
  return absl::OkStatus();
}

}  // namespace wirehub::control

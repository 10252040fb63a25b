// The names gRPC gives its status codes (grpc::StatusCode, google.rpc.Code),
// for metrics labels and messages, without linking gRPC.
#ifndef WIREHUB_COMMON_GRPC_CODE_NAME_H_
#define WIREHUB_COMMON_GRPC_CODE_NAME_H_

#include <array>
#include <string>
#include <string_view>

namespace wirehub {

// Indexed by the code's number, OK (0) to UNAUTHENTICATED (16).
inline constexpr std::array<std::string_view, 17> kGrpcCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

// The name of `code`, or "CODE_<n>" for a number gRPC does not define.
inline std::string GrpcCodeName(int code) {
  if (code >= 0 && static_cast<size_t>(code) < kGrpcCodeNames.size()) {
    return std::string(kGrpcCodeNames[static_cast<size_t>(code)]);
  }
  return "CODE_" + std::to_string(code);
}

}  // namespace wirehub

#endif  // WIREHUB_COMMON_GRPC_CODE_NAME_H_

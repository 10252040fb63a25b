// Status propagation macros. Debian's abseil 20220623 ships none, so they
// are defined once here.
#ifndef WIREHUB_COMMON_STATUS_MACROS_H_
#define WIREHUB_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define WIREHUB_CONCAT_INNER_(a, b) a##b
#define WIREHUB_CONCAT_(a, b) WIREHUB_CONCAT_INNER_(a, b)

// RETURN_IF_ERROR(expr): returns the status of `expr` from the enclosing
// function when it is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status wirehub_status_ = (expr);           \
    if (!wirehub_status_.ok()) return wirehub_status_; \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr), returns
// its status when not OK, otherwise moves the value into `lhs`.
#define ASSIGN_OR_RETURN(lhs, expr)                               \
  auto WIREHUB_CONCAT_(wirehub_statusor_, __LINE__) = (expr);     \
  if (!WIREHUB_CONCAT_(wirehub_statusor_, __LINE__).ok())         \
    return WIREHUB_CONCAT_(wirehub_statusor_, __LINE__).status(); \
  lhs = std::move(WIREHUB_CONCAT_(wirehub_statusor_, __LINE__)).value()

#endif  // WIREHUB_COMMON_STATUS_MACROS_H_

// wirehub-fault-publisher's load: publications at a steady rate through one
// PublishStream per control replica, each with its own idempotency key, a
// failed one retried with the same key on the next replica until it gets a
// position or its deadline passes. The fault tests
// (tests/integration/redis_faults.test.mjs) kill what it publishes through
// and check what subscribers received against what it reports.
#ifndef WIREHUB_TOOLS_TESTING_FAULT_PUBLISHER_H_
#define WIREHUB_TOOLS_TESTING_FAULT_PUBLISHER_H_

#include <cstdint>
#include <string>

#include "tools/testing/fault_publisher_options.h"
#include "tools/testing/fault_summary.h"

namespace wirehub::faults {

// PublicationKey()
//
// The idempotency key of publication `seq`: "<key_prefix>-<seq>".
std::string PublicationKey(const std::string& key_prefix, int64_t seq);

// PublicationData()
//
// The JSON data of publication `seq` on `channel`: {"seq":N,"ch":"..."}.
std::string PublicationData(int64_t seq, const std::string& channel);

// RetryBackoff()
//
// How long a publication waits before its next attempt after `attempts`
// failed ones: 50 ms, doubling, at most 500 ms.
absl::Duration RetryBackoff(int attempts);

// RunFaultPublisher()
//
// Makes options.Total() publications, publication `seq` (from 1) at
// start + (seq - 1) / rate, on channels[(seq - 1) % channels], first through
// the control at the same index modulo the controls (or the next one that
// answers, while that one does not), with at most options.max_in_flight
// unanswered at once. A publication whose item fails, or whose stream
// breaks or goes unanswered for options.answer_timeout, is retried with the
// same key on the next control after RetryBackoff(), until it gets a
// position or options.deadline has passed since its first attempt. Returns
// once every publication got a position or was given up. Blocks the caller.
FaultSummary RunFaultPublisher(const FaultPublisherOptions& options);

}  // namespace wirehub::faults

#endif  // WIREHUB_TOOLS_TESTING_FAULT_PUBLISHER_H_

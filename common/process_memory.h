// What this process occupies, for Info and stats.
#ifndef WIREHUB_COMMON_PROCESS_MEMORY_H_
#define WIREHUB_COMMON_PROCESS_MEMORY_H_

#include <cstdint>

namespace wirehub {

// ResidentMemoryBytes()
//
// Resident set size of the calling process (/proc/self/statm), 0 when it
// cannot be read. Thread-safe.
uint64_t ResidentMemoryBytes();

}  // namespace wirehub

#endif  // WIREHUB_COMMON_PROCESS_MEMORY_H_

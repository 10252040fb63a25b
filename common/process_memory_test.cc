#include "common/process_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace wirehub {
namespace {

TEST(ProcessMemoryTest, ResidentGrowsWhenMemoryIsTouched) {
  uint64_t before = ResidentMemoryBytes();
  ASSERT_GT(before, 0u);
  std::vector<char> block(64 << 20, 1);  // Touched, so resident.
  uint64_t after = ResidentMemoryBytes();
  EXPECT_GE(after, before + (32 << 20)) << "block at " << static_cast<void*>(block.data());
}

}  // namespace
}  // namespace wirehub

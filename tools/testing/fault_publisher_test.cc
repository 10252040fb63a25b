#include "tools/testing/fault_publisher.h"

#include "gtest/gtest.h"

namespace wirehub::faults {
namespace {

TEST(FaultPublisherTest, KeysAndData) {
  EXPECT_EQ(PublicationKey("case-a", 42), "case-a-42");
  EXPECT_EQ(PublicationData(7, "chat:f3"), R"({"seq":7,"ch":"chat:f3"})");
  EXPECT_EQ(PublicationData(1, "a\"b"), R"({"seq":1,"ch":"a\"b"})");
}

TEST(FaultPublisherTest, BackoffDoublesUpToHalfASecond) {
  EXPECT_EQ(RetryBackoff(0), absl::Milliseconds(50));
  EXPECT_EQ(RetryBackoff(1), absl::Milliseconds(50));
  EXPECT_EQ(RetryBackoff(2), absl::Milliseconds(100));
  EXPECT_EQ(RetryBackoff(3), absl::Milliseconds(200));
  EXPECT_EQ(RetryBackoff(4), absl::Milliseconds(400));
  EXPECT_EQ(RetryBackoff(5), absl::Milliseconds(500));
  EXPECT_EQ(RetryBackoff(1000), absl::Milliseconds(500));
}

}  // namespace
}  // namespace wirehub::faults

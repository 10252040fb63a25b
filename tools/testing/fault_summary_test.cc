#include "tools/testing/fault_summary.h"

#include <string>

#include <simdjson.h>
#include "gtest/gtest.h"

namespace wirehub::faults {
namespace {

// The summary as parsed JSON, re-serialized minified so tests compare text.
std::string Minified(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  return simdjson::minify(doc);
}

TEST(FaultSummaryTest, EveryPublicationPlacedIsOk) {
  FaultSummary summary({"chat:f0", "chat:f1"}, 3);
  summary.RecordPosition(2, 1, 1, "e1", 1, false);
  summary.RecordPosition(3, 0, 2, "e0", 1, false);
  summary.RecordPosition(1, 0, 1, "e0", 1, false);
  EXPECT_TRUE(summary.AllPublished());
  EXPECT_EQ(Minified(summary.ToJson()),
            R"({"ok":true,"total":3,"published":3,"given_up":[],"attempts":3,"retried":0,)"
            R"("failures":{},"channels":{"chat:f0":{"epochs":["e0"],"publications":)"
            R"([[1,1,0,1,0],[3,2,0,1,0]]},"chat:f1":{"epochs":["e1"],"publications":)"
            R"([[2,1,0,1,0]]}}})");
}

TEST(FaultSummaryTest, RetriesEpochsAndFailures) {
  FaultSummary summary({"chat:\"q\""}, 3);
  summary.RecordFailure("UNAVAILABLE", absl::Milliseconds(1000));
  summary.RecordFailure("UNAVAILABLE", absl::Milliseconds(1200));
  summary.RecordFailure("stream:UNAVAILABLE", absl::Milliseconds(3));
  summary.RecordPosition(1, 0, 7, "old", 3, true);
  summary.RecordPosition(2, 0, 1, "new", 1, false);
  summary.RecordGivenUp(3, 0, 4);
  EXPECT_FALSE(summary.AllPublished());
  EXPECT_EQ(Minified(summary.ToJson()),
            R"({"ok":false,"total":3,"published":2,"given_up":[3],"attempts":8,"retried":2,)"
            R"("failures":{"UNAVAILABLE":{"count":2,"max_ms":1200},)"
            R"("stream:UNAVAILABLE":{"count":1,"max_ms":3}},)"
            R"("channels":{"chat:\"q\"":{"epochs":["old","new"],"publications":)"
            R"([[1,7,0,3,1],[2,1,1,1,0]]}}})");
}

TEST(FaultSummaryTest, MissingPublicationsAreNotOk) {
  FaultSummary summary({"a"}, 2);
  summary.RecordPosition(1, 0, 1, "e", 1, false);
  EXPECT_FALSE(summary.AllPublished());
  EXPECT_NE(summary.ToJson().find("\"ok\":false"), std::string::npos);
}

}  // namespace
}  // namespace wirehub::faults

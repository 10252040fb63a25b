#include "tools/wirehubctl/output.h"

#include <string>
#include <vector>

#include <sstream>
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tools/wirehubctl/cli_test_fixture.h"

namespace wirehub::ctl {
namespace {

namespace v1 = ::wirehub::control::v1;

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

TEST(GrpcCodeNameTest, KnownAndUnknownCodes) {
  EXPECT_EQ(GrpcCodeName(0), "OK");
  EXPECT_EQ(GrpcCodeName(3), "INVALID_ARGUMENT");
  EXPECT_EQ(GrpcCodeName(14), "UNAVAILABLE");
  EXPECT_EQ(GrpcCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcCodeName(17), "CODE_17");
  EXPECT_EQ(GrpcCodeName(-1), "CODE_-1");
}

TEST(OutputTest, PrintTableAlignsColumnsButNotTheLast) {
  std::ostringstream out;
  PrintTable(out, {{"A", "BB", "C"}, {"long", "x", "tail"}}, "  ");
  EXPECT_EQ(out.str(), "  A     BB  C\n  long  x   tail\n");
}

TEST(OutputTest, ListTableSaysNoneWhenEmpty) {
  std::ostringstream out;
  PrintListTable(out, {"H"}, {});
  EXPECT_EQ(out.str(), "(none)\n");
}

TEST(OutputTest, Formats) {
  EXPECT_EQ(JsonOnOneLine("{\n\"a\":\r\n1}"), "{ \"a\":  1}");
  EXPECT_EQ(JsonCell(""), "-");
  EXPECT_EQ(OrDash(""), "-");
  EXPECT_EQ(OrDash("x"), "x");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 30), "3.0 GiB");
  EXPECT_EQ(FormatUnixMillis(0), "-");
  EXPECT_EQ(FormatUnixMillis(1700000000000), "2023-11-14T22:13:20Z");
}

TEST(OutputTest, HistoryJsonEmbedsDataOnOneLine) {
  v1::HistoryResponse history;
  history.set_epoch("e\"1");
  history.set_offset(7);
  v1::HistoryPublication* publication = history.add_publications();
  publication->set_offset(7);
  publication->set_data("{\n\"k\": 1}");
  EXPECT_EQ(HistoryJson(history),
            R"({"epoch":"e\"1","offset":7,"publications":[{"offset":7,"data":{ "k": 1}}]})");
}

}  // namespace
}  // namespace wirehub::ctl

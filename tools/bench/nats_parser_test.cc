#include "tools/bench/nats_parser.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using std::literals::string_view_literals::operator""sv;

// One event as text, so sequences compare with ElementsAre.
std::string Describe(const NatsStreamParser::Event& event) {
  switch (event.kind) {
    case NatsStreamParser::Event::kMsg:
      return absl::StrCat("MSG ", AsAbsl(event.subject), " ", AsAbsl(event.sid), " [",
                          AsAbsl(event.reply_to), "] <", AsAbsl(event.payload), ">");
    case NatsStreamParser::Event::kPing:
      return "PING";
    case NatsStreamParser::Event::kPong:
      return "PONG";
    case NatsStreamParser::Event::kInfo:
      return absl::StrCat("INFO <", AsAbsl(event.payload), ">");
    case NatsStreamParser::Event::kOk:
      return "+OK";
    case NatsStreamParser::Event::kErr:
      return absl::StrCat("-ERR <", AsAbsl(event.payload), ">");
  }
  return "?";
}

// Feeds `chunks` in order; returns the events, or the first error as
// "error: ...".
std::vector<std::string> FeedAll(NatsStreamParser& parser,
                                 const std::vector<std::string_view>& chunks) {
  std::vector<std::string> events;
  for (std::string_view chunk : chunks) {
    absl::Status status = parser.Feed(
        chunk, [&](const NatsStreamParser::Event& event) { events.push_back(Describe(event)); });
    if (!status.ok()) {
      events.push_back(absl::StrCat("error: ", status.ToString()));
      break;
    }
  }
  return events;
}

// What nats-server 2.9 sends, INFO's trailing blank included, plus payloads
// that hold CRLF and protocol words, and an empty one.
constexpr std::string_view kStream =
    "INFO {\"server_id\":\"N1\",\"version\":\"2.9.10\",\"max_payload\":1048576} \r\n"
    "MSG bench0 1 5\r\nhello\r\n"
    "MSG b_12 7 _INBOX.x 13\r\nPING\r\nMSG 1\r\n\r\n"
    "PING\r\n"
    "MSG a.b.c 2 0\r\n\r\n"
    "PONG\r\n"
    "+OK\r\n"
    "MSG bench:1-x 3 3\r\n\xff\x00\n\r\n"
    "-ERR 'Unknown Protocol Operation'\r\n"sv;

std::vector<std::string> ExpectedEvents() {
  return {
      "INFO <{\"server_id\":\"N1\",\"version\":\"2.9.10\",\"max_payload\":1048576}>",
      "MSG bench0 1 [] <hello>",
      "MSG b_12 7 [_INBOX.x] <PING\r\nMSG 1\r\n>",
      "PING",
      "MSG a.b.c 2 [] <>",
      "PONG",
      "+OK",
      std::string("MSG bench:1-x 3 [] <\xff\x00\n>"sv),
      "-ERR <'Unknown Protocol Operation'>",
  };
}

TEST(NatsStreamParserTest, ParsesAWholeStreamInOneChunk) {
  NatsStreamParser parser;
  EXPECT_EQ(FeedAll(parser, {kStream}), ExpectedEvents());
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(NatsStreamParserTest, EverySplitIntoTwoChunksGivesTheSameEvents) {
  const std::vector<std::string> expected = ExpectedEvents();
  for (size_t split = 0; split <= kStream.size(); ++split) {
    SCOPED_TRACE(split);
    NatsStreamParser parser;
    ASSERT_EQ(FeedAll(parser, {kStream.substr(0, split), kStream.substr(split)}), expected);
    EXPECT_EQ(parser.buffered_bytes(), 0u);
  }
}

TEST(NatsStreamParserTest, EverySplitIntoThreeChunksGivesTheSameEvents) {
  const std::vector<std::string> expected = ExpectedEvents();
  for (size_t first = 0; first <= kStream.size(); ++first) {
    for (size_t second = first; second <= kStream.size(); ++second) {
      NatsStreamParser parser;
      std::vector<std::string> events =
          FeedAll(parser, {kStream.substr(0, first), kStream.substr(first, second - first),
                           kStream.substr(second)});
      ASSERT_EQ(events, expected) << "splits " << first << ", " << second;
    }
  }
}

TEST(NatsStreamParserTest, OneByteAtATime) {
  NatsStreamParser parser;
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < kStream.size(); ++i) chunks.push_back(kStream.substr(i, 1));
  EXPECT_EQ(FeedAll(parser, chunks), ExpectedEvents());
}

TEST(NatsStreamParserTest, ReportsAnEventWhenItsLastByteArrives) {
  NatsStreamParser parser;
  EXPECT_THAT(FeedAll(parser, {"MSG s 1 3\r\nab"}), ElementsAre());
  EXPECT_EQ(parser.buffered_bytes(), 13u);
  EXPECT_THAT(FeedAll(parser, {"c\r"}), ElementsAre());
  EXPECT_THAT(FeedAll(parser, {"\nPI"}), ElementsAre("MSG s 1 [] <abc>"));
  EXPECT_EQ(parser.buffered_bytes(), 2u);
  EXPECT_THAT(FeedAll(parser, {"NG\r\n"}), ElementsAre("PING"));
  EXPECT_EQ(parser.buffered_bytes(), 0u);
}

TEST(NatsStreamParserTest, WholeMessagesAreViewsIntoTheChunk) {
  NatsStreamParser parser;
  constexpr std::string_view kChunk = "MSG s 1 2\r\nhi\r\nMSG t 1 2\r\nho\r\n";
  std::vector<const char*> payloads;
  ASSERT_TRUE(parser
                  .Feed(kChunk,
                        [&](const NatsStreamParser::Event& event) {
                          payloads.push_back(event.payload.data());
                        })
                  .ok());
  EXPECT_THAT(payloads, ElementsAre(kChunk.data() + 11, kChunk.data() + 26));
}

TEST(NatsStreamParserTest, LargePayloadAcrossManyChunks) {
  std::string payload(200000, 'p');
  for (size_t i = 0; i < payload.size(); i += 7) payload[i] = static_cast<char>('a' + i % 26);
  std::string stream =
      absl::StrCat("MSG big 9 r ", payload.size(), "\r\n", payload, "\r\nPONG\r\n");
  NatsStreamParser parser;
  std::vector<std::string_view> chunks;
  for (size_t i = 0; i < stream.size(); i += 1000)
    chunks.push_back(std::string_view(stream).substr(i, 1000));
  EXPECT_THAT(FeedAll(parser, chunks),
              ElementsAre(absl::StrCat("MSG big 9 [r] <", payload, ">"), "PONG"));
}

TEST(NatsStreamParserTest, OperationNamesIgnoreCaseAndBlanksAreTabsOrSpaces) {
  NatsStreamParser parser;
  EXPECT_THAT(FeedAll(parser, {"msg\ts  1\t\t2\r\nhi\r\nping\r\nPong\r\n+ok\r\ninfo {}\r\n"}),
              ElementsAre("MSG s 1 [] <hi>", "PING", "PONG", "+OK", "INFO <{}>"));
}

// Feeds `stream` whole and returns the error, or OK.
absl::Status FeedError(std::string_view stream,
                       NatsStreamParser::Options options = NatsStreamParser::Options()) {
  NatsStreamParser parser(options);
  return parser.Feed(stream, [](const NatsStreamParser::Event&) {});
}

TEST(NatsStreamParserTest, RefusesMalformedStreams) {
  struct Case {
    std::string_view stream;
    absl::StatusCode code;
    std::string_view message;
  };
  const Case kCases[] = {
      {"MSG s 1\r\n", absl::StatusCode::kDataLoss, "fewer than 3 fields"},
      {"MSG s 1 r x 2\r\nhi\r\n", absl::StatusCode::kDataLoss, "more than 4 fields"},
      {"MSG s 1 2x\r\nhi\r\n", absl::StatusCode::kDataLoss, "bad size"},
      {"MSG s 1 -2\r\nhi\r\n", absl::StatusCode::kDataLoss, "bad size"},
      {"MSG s 1 2\r\nhix\r\n", absl::StatusCode::kDataLoss, "not followed by CRLF"},
      {"MSG s 1 2\r\nhi\n\n", absl::StatusCode::kDataLoss, "not followed by CRLF"},
      {"PING\n", absl::StatusCode::kDataLoss, "not ended by CRLF"},
      {"\r\n", absl::StatusCode::kDataLoss, "unknown NATS operation"},
      {"PINGX\r\n", absl::StatusCode::kDataLoss, "unknown NATS operation"},
      {"PING x\r\n", absl::StatusCode::kDataLoss, "unknown NATS operation"},
      {"MSGX s 1 2\r\n", absl::StatusCode::kDataLoss, "unknown NATS operation"},
      {"HMSG s 1 10 12\r\nNATS/1.0\r\n\r\nhi\r\n", absl::StatusCode::kUnimplemented, "HMSG"},
      {"MSG s 1 99999999999999999999999\r\n", absl::StatusCode::kResourceExhausted, "payload over"},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.stream);
    absl::Status status = FeedError(c.stream);
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
}

TEST(NatsStreamParserTest, BoundsLinesAndPayloads) {
  NatsStreamParser::Options options;
  options.max_control_line = 16;
  options.max_payload = 4;
  EXPECT_TRUE(FeedError("MSG s 1 4\r\nabcd\r\n", options).ok());
  EXPECT_EQ(FeedError("MSG s 1 5\r\n", options).code(), absl::StatusCode::kResourceExhausted);
  // 16 bytes before CRLF are fine, 17 are not, also before the CRLF arrives.
  EXPECT_TRUE(FeedError("-ERR 'abcdefghi'\r\n", options).ok());
  EXPECT_EQ(FeedError("-ERR 'abcdefghij'\r\n", options).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FeedError(std::string(18, 'x'), options).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(FeedError(std::string(17, 'x'), options).ok());

  // The same limit holds when the line arrives in pieces.
  NatsStreamParser parser(options);
  auto ignore = [](const NatsStreamParser::Event&) {};
  ASSERT_TRUE(parser.Feed("-ERR 'abcde", ignore).ok());
  EXPECT_EQ(parser.Feed("fghijkl", ignore).code(), absl::StatusCode::kResourceExhausted);
}

TEST(NatsStreamParserTest, ResetForgetsAnUnfinishedEvent) {
  NatsStreamParser parser;
  EXPECT_THAT(FeedAll(parser, {"MSG s 1 5\r\nab"}), ElementsAre());
  parser.Reset();
  EXPECT_EQ(parser.buffered_bytes(), 0u);
  EXPECT_THAT(FeedAll(parser, {"PONG\r\n"}), ElementsAre("PONG"));
}

}  // namespace
}  // namespace wirehub::bench

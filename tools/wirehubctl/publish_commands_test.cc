#include "tools/wirehubctl/publish_commands.h"

#include <string>
#include <vector>

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

TEST_F(CliTest, PublishArgumentCountIsChecked) {
  EXPECT_EQ(Run({"publish"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news", "{}", "extra"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("publish takes CHANNEL and JSON"));
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, BroadcastNeedsAtLeastOneChannel) {
  EXPECT_EQ(Run({"broadcast"}), kExitUsage);
  EXPECT_EQ(Run({"broadcast", "a"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("broadcast takes at least one CHANNEL, then JSON"));
  EXPECT_THAT(err(), HasSubstr("at least one CHANNEL"));
  EXPECT_TRUE(connections_.empty());
}

TEST_F(CliTest, PublishPrintsPosition) {
  control_.publish_response.set_offset(42);
  control_.publish_response.set_epoch("ab12");
  EXPECT_EQ(Run({"publish", "news", R"({"text":"hello"})"}), kExitOk);
  EXPECT_EQ(out(), "offset=42 epoch=ab12\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].channel(), "news");
  EXPECT_EQ(control_.publishes[0].data(), R"({"text":"hello"})");
  EXPECT_EQ(control_.publishes[0].idempotency_key(), "");
}

TEST_F(CliTest, PublishRepeatPublishesNTimesAndReportsRate) {
  control_.publish_response.set_offset(3);
  EXPECT_EQ(Run({"publish", "news", "{}", "--repeat=3"}), kExitOk);
  EXPECT_EQ(control_.publishes.size(), 3u);
  EXPECT_EQ(out(), "offset=3 epoch=\n");
  EXPECT_THAT(err(), HasSubstr("3 publishes in"));
}

TEST_F(CliTest, PublishRepeatRejectsIdempotencyKeyAndBadCounts) {
  EXPECT_EQ(Run({"publish", "news", "{}", "--repeat=2", "--idempotency_key=k"}), kExitUsage);
  EXPECT_EQ(Run({"publish", "news", "{}", "--repeat=0"}), kExitUsage);
  EXPECT_TRUE(control_.publishes.empty());
}

TEST_F(CliTest, PublishPassesIdempotencyKey) {
  control_.publish_response.set_offset(7);
  control_.publish_response.set_epoch("e");
  EXPECT_EQ(Run({"publish", "news", "{}", "--idempotency_key=order-42:v1"}), kExitOk);
  EXPECT_EQ(out(), "offset=7 epoch=e\n");
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].idempotency_key(), "order-42:v1");
  EXPECT_EQ(control_.publishes[0].channel(), "news");
  EXPECT_EQ(control_.publishes[0].data(), "{}");
}

TEST_F(CliTest, JsonIsNotCheckedByTheCli) {
  EXPECT_EQ(Run({"publish", "news", "not json at all"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].data(), "not json at all");
}

TEST_F(CliTest, PublishRpcFailureIsReported) {
  control_.status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad channel name");
  EXPECT_EQ(Run({"publish", "bad channel", "{}"}), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: INVALID_ARGUMENT: bad channel name\n");
}

v1::BroadcastResult Ok(const std::string& channel, uint64_t offset, const std::string& epoch) {
  v1::BroadcastResult result;
  result.set_channel(channel);
  result.set_offset(offset);
  result.set_epoch(epoch);
  return result;
}

v1::BroadcastResult Failed(const std::string& channel, grpc::StatusCode code,
                           const std::string& message) {
  v1::BroadcastResult result;
  result.set_channel(channel);
  result.set_error_code(code);
  result.set_error_message(message);
  return result;
}

TEST_F(CliTest, BroadcastAllSucceed) {
  *control_.broadcast_response.add_results() = Ok("a", 1, "e1");
  *control_.broadcast_response.add_results() = Ok("b", 9, "e2");
  EXPECT_EQ(Run({"broadcast", "a", "b", R"({"x":1})"}), kExitOk);
  EXPECT_EQ(out(), "a offset=1 epoch=e1\nb offset=9 epoch=e2\n");
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].data(), R"({"x":1})");
  EXPECT_THAT(control_.broadcasts[0].channels(), ::testing::ElementsAre("a", "b"));
}

TEST_F(CliTest, BroadcastPartialFailureExitsOne) {
  *control_.broadcast_response.add_results() = Ok("a", 3, "e1");
  *control_.broadcast_response.add_results() =
      Failed("b!", grpc::StatusCode::INVALID_ARGUMENT, "invalid channel name");
  EXPECT_EQ(Run({"broadcast", "a", "b!", "{}"}), kExitFailure);
  EXPECT_EQ(out(), "a offset=3 epoch=e1\nb! error=INVALID_ARGUMENT invalid channel name\n");
}

TEST_F(CliTest, BroadcastWithMissingResultsFails) {
  *control_.broadcast_response.add_results() = Ok("a", 3, "e1");
  EXPECT_EQ(Run({"broadcast", "a", "b", "{}"}), kExitFailure);
  EXPECT_THAT(err(), HasSubstr("1 result(s) for 2 channel(s)"));
}

TEST_F(CliTest, BroadcastRpcFailure) {
  control_.status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  EXPECT_EQ(Run({"broadcast", "a", "{}"}), kExitFailure);
  EXPECT_EQ(err(), "error: DEADLINE_EXCEEDED: Deadline Exceeded\n");
}

// Regression: broadcast took the JSON first and the channels after, the
// other way round from publish CHANNEL JSON.
TEST_F(CliTest, BroadcastTakesChannelsFirstLikePublish) {
  *control_.broadcast_response.add_results() = Ok("news", 1, "e1");
  *control_.broadcast_response.add_results() = Ok("sports", 2, "e1");
  EXPECT_EQ(Run({"broadcast", "news", "sports", R"({"n":1})"}), kExitOk) << err();
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].data(), R"({"n":1})");
  EXPECT_THAT(control_.broadcasts[0].channels(), ::testing::ElementsAre("news", "sports"));
  // publish and broadcast to one channel read the same.
  EXPECT_EQ(Run({"publish", "news", R"({"n":1})"}), kExitOk);
  EXPECT_EQ(control_.publishes.back().channel(), control_.broadcasts[0].channels(0));
  EXPECT_EQ(control_.publishes.back().data(), control_.broadcasts[0].data());
}

TEST_F(CliTest, BroadcastRefusesTheOldOrder) {
  for (const char* json : {R"({"n":1})", "[1]", R"("text")"}) {
    SCOPED_TRACE(json);
    EXPECT_EQ(Run({"broadcast", json, "news", "sports"}), kExitUsage);
    EXPECT_THAT(err(), HasSubstr("broadcast takes the channels first and the JSON last"));
  }
  EXPECT_TRUE(control_.broadcasts.empty());
}

TEST(ParsePublishStreamLineTest, ChannelThenSpaceOrTabThenTheRestOfTheLine) {
  PublishStreamLine parsed = ParsePublishStreamLine(R"(news {"text": "a b"})");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.channel, "news");
  EXPECT_EQ(parsed.data, R"({"text": "a b"})");

  parsed = ParsePublishStreamLine("chat:room#1\t[1,\t2] ");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.channel, "chat:room#1");
  EXPECT_EQ(parsed.data, "[1,\t2] ");

  // Only the first separator splits; the rest belongs to the JSON.
  parsed = ParsePublishStreamLine("news  \t{}");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.channel, "news");
  EXPECT_EQ(parsed.data, " \t{}");

  // CRLF input.
  parsed = ParsePublishStreamLine("news 1\r");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.data, "1");

  // The JSON is not checked here.
  parsed = ParsePublishStreamLine("news not json");
  EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kPublication);
  EXPECT_EQ(parsed.data, "not json");
}

TEST(ParsePublishStreamLineTest, BlankLines) {
  for (const char* line : {"", " ", "\t \t", "\r", "  \r"}) {
    EXPECT_EQ(ParsePublishStreamLine(line).kind, PublishStreamLine::Kind::kBlank)
        << "'" << line << "'";
  }
}

TEST(ParsePublishStreamLineTest, MalformedLines) {
  for (const char* line : {"news", "{}", "news ", "news\t \r", " news {}", "\tnews {}", "news\r"}) {
    PublishStreamLine parsed = ParsePublishStreamLine(line);
    EXPECT_EQ(parsed.kind, PublishStreamLine::Kind::kMalformed) << "'" << line << "'";
    EXPECT_THAT(parsed.channel, IsEmpty());
    EXPECT_THAT(parsed.data, IsEmpty());
  }
}

v1::PublishStreamResponse StreamError(const v1::PublishStreamRequest& request,
                                      grpc::StatusCode code, const std::string& message) {
  v1::PublishStreamResponse response;
  response.set_request_id(request.request_id());
  response.set_error_code(code);
  response.set_error_message(message);
  return response;
}

TEST_F(CliTest, PublishStreamSendsEachLineAndPrintsEachAnswer) {
  EXPECT_EQ(Run({"--timeout=1", "publish-stream"},
                "news {\"text\":\"hi there\"}\n\n   \nchat\t[1, 2]\r\nnews 3"),
            kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n3 offset=30 epoch=e\n");
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_EQ(control_.streams, 1);
  ASSERT_EQ(control_.stream_requests.size(), 3u);
  EXPECT_EQ(control_.stream_requests[0].channel(), "news");
  EXPECT_EQ(control_.stream_requests[0].data(), R"({"text":"hi there"})");
  EXPECT_EQ(control_.stream_requests[0].request_id(), 1u);
  EXPECT_EQ(control_.stream_requests[0].idempotency_key(), "");
  EXPECT_EQ(control_.stream_requests[1].channel(), "chat");
  EXPECT_EQ(control_.stream_requests[1].data(), "[1, 2]");
  EXPECT_EQ(control_.stream_requests[1].request_id(), 2u);
  EXPECT_EQ(control_.stream_requests[2].data(), "3");
  EXPECT_EQ(control_.stream_requests[2].request_id(), 3u);
  ASSERT_EQ(connections_.size(), 1u);
}

TEST_F(CliTest, PublishStreamPrintsEachAnswerBeforeReadingOn) {
  std::vector<std::string> seen;
  control_.answer = [this, &seen](const v1::PublishStreamRequest& request) {
    seen.push_back(out());
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(request.request_id());
    response.set_epoch("e");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitOk);
  EXPECT_THAT(seen, ElementsAre("", "1 offset=1 epoch=e\n"));
}

TEST_F(CliTest, PublishStreamAnswersAfterEndOfInput) {
  control_.answer_after_input = true;
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n");
}

TEST_F(CliTest, PublishStreamEmptyInputSendsNothing) {
  EXPECT_EQ(Run({"publish-stream"}, "\n\n"), kExitOk);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_THAT(err(), IsEmpty());
  EXPECT_EQ(control_.streams, 1);
  EXPECT_TRUE(control_.stream_requests.empty());
}

TEST_F(CliTest, PublishStreamFailedItemExitsOne) {
  control_.answer = [](const v1::PublishStreamRequest& request) {
    if (request.channel() == "bad!") {
      return StreamError(request, grpc::StatusCode::INVALID_ARGUMENT, "invalid channel name");
    }
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(5);
    response.set_epoch("e");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "bad! {}\nnews {}\n"), kExitFailure);
  EXPECT_EQ(out(), "1 error=INVALID_ARGUMENT invalid channel name\n2 offset=5 epoch=e\n");
  EXPECT_THAT(err(), IsEmpty());

  control_.answer = [](const v1::PublishStreamRequest& request) {
    return StreamError(request, grpc::StatusCode::RESOURCE_EXHAUSTED, "");
  };
  EXPECT_EQ(Run({"publish-stream"}, "news {}\n"), kExitFailure);
  EXPECT_EQ(out(), "1 error=RESOURCE_EXHAUSTED\n");
}

TEST_F(CliTest, PublishStreamMalformedLinesAreReportedAndNotSent) {
  EXPECT_EQ(Run({"publish-stream"}, "a 1\n\nnojson\n b 2\nc 3\n"), kExitFailure);
  EXPECT_EQ(err(), "line 2: expected CHANNEL JSON\nline 3: expected CHANNEL JSON\n");
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n4 offset=40 epoch=e\n");
  ASSERT_EQ(control_.stream_requests.size(), 2u);
  EXPECT_EQ(control_.stream_requests[0].request_id(), 1u);
  EXPECT_EQ(control_.stream_requests[1].request_id(), 4u);
  EXPECT_EQ(control_.stream_requests[1].channel(), "c");
}

TEST_F(CliTest, PublishStreamFailureIsReported) {
  control_.stream_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect");
  EXPECT_EQ(Run({"publish-stream"}, "a 1\n"), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: failed to connect\n");
}

TEST_F(CliTest, PublishStreamWithMissingAnswersFails) {
  control_.drop_answers = 1;
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitFailure);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n");
  EXPECT_EQ(err(), "error: server answered 1 of 2 publication(s)\n");
}

TEST_F(CliTest, PublishStreamTakesNoArguments) {
  EXPECT_EQ(Run({"publish-stream", "news", "{}"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("unexpected argument 'news'"));
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(control_.streams, 0);
}

TEST_F(CliTest, TenantIsSentWithPublishBroadcastStreamAndHistory) {
  control_.broadcast_response.add_results()->set_channel("a");
  control_.broadcast_response.add_results()->set_channel("b");
  EXPECT_EQ(Run({"publish", "news", "{}", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(Run({"broadcast", "a", "b", "{}", "--tenant", "acme"}), kExitOk);
  EXPECT_EQ(Run({"publish-stream", "--tenant=acme"}, "a 1\nb 2\n"), kExitOk);
  EXPECT_EQ(Run({"history", "news", "--tenant=acme"}), kExitOk);
  EXPECT_EQ(Run({"history-remove", "news", "--tenant=acme"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].tenant(), "acme");
  ASSERT_EQ(control_.broadcasts.size(), 1u);
  EXPECT_EQ(control_.broadcasts[0].tenant(), "acme");
  ASSERT_EQ(control_.stream_requests.size(), 2u);
  EXPECT_EQ(control_.stream_requests[0].tenant(), "acme");
  EXPECT_EQ(control_.stream_requests[1].tenant(), "acme");
  ASSERT_EQ(control_.histories.size(), 1u);
  EXPECT_EQ(control_.histories[0].tenant(), "acme");
  ASSERT_EQ(control_.history_removes.size(), 1u);
  EXPECT_EQ(control_.history_removes[0].tenant(), "acme");
}

TEST_F(CliTest, NoTenantMeansTheDefaultSpace) {
  EXPECT_EQ(Run({"publish", "news", "{}"}), kExitOk);
  ASSERT_EQ(control_.publishes.size(), 1u);
  EXPECT_EQ(control_.publishes[0].tenant(), "");
  EXPECT_EQ(Run({"stats", "--tenant=acme"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--tenant does not apply to 'stats'"));
}

}  // namespace
}  // namespace wirehub::ctl

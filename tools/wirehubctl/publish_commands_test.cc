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
  ASSERT_EQ(control_.stream_publications.size(), 3u);
  EXPECT_EQ(control_.stream_publications[0].channel(), "news");
  EXPECT_EQ(control_.stream_publications[0].data(), R"({"text":"hi there"})");
  EXPECT_EQ(control_.stream_publications[0].request_id(), 1u);
  EXPECT_EQ(control_.stream_publications[0].idempotency_key(), "");
  EXPECT_EQ(control_.stream_publications[1].channel(), "chat");
  EXPECT_EQ(control_.stream_publications[1].data(), "[1, 2]");
  EXPECT_EQ(control_.stream_publications[1].request_id(), 2u);
  EXPECT_EQ(control_.stream_publications[2].data(), "3");
  EXPECT_EQ(control_.stream_publications[2].request_id(), 3u);
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
  // Typed one line at a time: each is sent alone, and its answer printed
  // before the next line is read.
  EXPECT_EQ(RunWithChunks({"publish-stream"}, {"a 1\n", "b 2\n"}), kExitOk);
  EXPECT_THAT(seen, ElementsAre("", "1 offset=1 epoch=e\n"));
  EXPECT_EQ(out(), "1 offset=1 epoch=e\n2 offset=2 epoch=e\n");
  ASSERT_EQ(control_.stream_requests.size(), 2u);
  EXPECT_EQ(control_.stream_requests[0].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[0].channel(), "a");
  EXPECT_EQ(control_.stream_requests[1].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[1].channel(), "b");
  // Nothing was ready behind either line: neither was held back.
  EXPECT_THAT(control_.stream_more_ready, ElementsAre(false, false));
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
  ASSERT_EQ(control_.stream_publications.size(), 2u);
  EXPECT_EQ(control_.stream_publications[0].request_id(), 1u);
  EXPECT_EQ(control_.stream_publications[1].request_id(), 4u);
  EXPECT_EQ(control_.stream_publications[1].channel(), "c");
}

TEST_F(CliTest, PublishStreamSendsLinesAlreadyWaitingAsOneBatch) {
  EXPECT_EQ(Run({"publish-stream", "--tenant=acme"}, "a 1\nb 2\n\nc 3\n"), kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n3 offset=30 epoch=e\n");
  EXPECT_THAT(err(), IsEmpty());
  ASSERT_EQ(control_.stream_requests.size(), 1u);
  const v1::PublishStreamRequest& batch = control_.stream_requests[0];
  // A batch's own fields stay unset; each item is one publication.
  EXPECT_EQ(batch.channel(), "");
  EXPECT_EQ(batch.data(), "");
  EXPECT_EQ(batch.request_id(), 0u);
  EXPECT_EQ(batch.tenant(), "");
  ASSERT_EQ(batch.items_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(batch.items(i).request_id(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(batch.items(i).tenant(), "acme");
    EXPECT_EQ(batch.items(i).items_size(), 0);
  }
  EXPECT_EQ(batch.items(0).channel(), "a");
  EXPECT_EQ(batch.items(1).data(), "2");
  EXPECT_EQ(batch.items(2).channel(), "c");
  EXPECT_THAT(control_.stream_more_ready, ElementsAre(false));
}

TEST_F(CliTest, PublishStreamSingleLineIsNotABatch) {
  EXPECT_EQ(Run({"publish-stream"}, "news {}\n"), kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n");
  ASSERT_EQ(control_.stream_requests.size(), 1u);
  EXPECT_EQ(control_.stream_requests[0].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[0].channel(), "news");
  EXPECT_EQ(control_.stream_requests[0].request_id(), 1u);

  // Nor is a line whose neighbours were all blank or malformed.
  EXPECT_EQ(Run({"publish-stream"}, "\nnews {}\nbad\n\n"), kExitFailure);
  ASSERT_EQ(control_.stream_requests.size(), 2u);
  EXPECT_EQ(control_.stream_requests[1].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[1].request_id(), 1u);
  EXPECT_EQ(err(), "line 2: expected CHANNEL JSON\n");
}

TEST_F(CliTest, PublishStreamMaxBatchOneSendsEachLineAlone) {
  EXPECT_EQ(Run({"publish-stream", "--max_batch=1"}, "a 1\nb 2\nc 3\n"), kExitOk);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n3 offset=30 epoch=e\n");
  ASSERT_EQ(control_.stream_requests.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(control_.stream_requests[i].items_size(), 0);
    EXPECT_EQ(control_.stream_requests[i].request_id(), static_cast<uint64_t>(i + 1));
  }
  // The lines were all waiting: each request but the last was followed by
  // another at once.
  EXPECT_THAT(control_.stream_more_ready, ElementsAre(true, true, false));
}

TEST_F(CliTest, PublishStreamBatchesAreCappedByMaxBatch) {
  std::string input;
  for (int i = 1; i <= 7; ++i) input += absl::StrCat("c", i, " ", i, "\n");
  EXPECT_EQ(Run({"publish-stream", "--max_batch=3"}, input), kExitOk);
  ASSERT_EQ(control_.stream_requests.size(), 3u);
  EXPECT_EQ(control_.stream_requests[0].items_size(), 3);
  EXPECT_EQ(control_.stream_requests[1].items_size(), 3);
  // The seventh line alone: a plain request.
  EXPECT_EQ(control_.stream_requests[2].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[2].request_id(), 7u);
  EXPECT_THAT(control_.stream_more_ready, ElementsAre(true, true, false));
  ASSERT_EQ(control_.stream_publications.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(control_.stream_publications[i].request_id(), static_cast<uint64_t>(i + 1));
  }
  std::string expected;
  for (int i = 1; i <= 7; ++i) absl::StrAppend(&expected, i, " offset=", 10 * i, " epoch=e\n");
  EXPECT_EQ(out(), expected);

  // At most 1024 lines per batch by default.
  input.clear();
  for (int i = 0; i < 1030; ++i) input += "news {}\n";
  EXPECT_EQ(Run({"publish-stream"}, input), kExitOk);
  ASSERT_EQ(control_.stream_requests.size(), 5u);
  EXPECT_EQ(control_.stream_requests[3].items_size(), 1024);
  EXPECT_EQ(control_.stream_requests[4].items_size(), 6);
}

TEST_F(CliTest, PublishStreamBatchesAreCappedBySize) {
  // 100 KiB of data per line: two fit in a batch's 256 KiB, the third starts
  // the next one.
  const std::string data = "\"" + std::string(100 * 1024, 'x') + "\"";
  std::string input;
  for (int i = 0; i < 5; ++i) input += "news " + data + "\n";
  EXPECT_EQ(Run({"publish-stream"}, input), kExitOk);
  ASSERT_EQ(control_.stream_requests.size(), 3u);
  EXPECT_EQ(control_.stream_requests[0].items_size(), 2);
  EXPECT_EQ(control_.stream_requests[1].items_size(), 2);
  EXPECT_EQ(control_.stream_requests[2].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[2].data(), data);

  // A line larger than a batch may be still goes, alone.
  const std::string huge = "\"" + std::string(300 * 1024, 'y') + "\"";
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nnews " + huge + "\nb 2\n"), kExitOk);
  ASSERT_EQ(control_.stream_requests.size(), 6u);
  EXPECT_EQ(control_.stream_requests[3].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[3].channel(), "a");
  EXPECT_EQ(control_.stream_requests[4].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[4].data(), huge);
  EXPECT_EQ(control_.stream_requests[5].channel(), "b");
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n2 offset=20 epoch=e\n3 offset=30 epoch=e\n");
}

TEST_F(CliTest, PublishStreamMaxBatchIsChecked) {
  for (const char* flag :
       {"--max_batch=0", "--max_batch=1025", "--max_batch=-1", "--max_batch=x"}) {
    EXPECT_EQ(Run({"publish-stream", flag}, "a 1\n"), kExitUsage) << flag;
    EXPECT_THAT(err(), HasSubstr("--max_batch must be an integer in [1, 1024]")) << flag;
  }
  EXPECT_EQ(Run({"publish", "news", "{}", "--max_batch=2"}), kExitUsage);
  EXPECT_THAT(err(), HasSubstr("--max_batch does not apply to 'publish'"));
  EXPECT_TRUE(connections_.empty());
  EXPECT_EQ(Run({"publish-stream", "--max_batch=1024"}, "a 1\n"), kExitOk);
}

TEST_F(CliTest, PublishStreamBatchWithAFailedItemExitsOne) {
  control_.answer = [](const v1::PublishStreamRequest& request) {
    if (request.channel() == "bad!") {
      return StreamError(request, grpc::StatusCode::INVALID_ARGUMENT, "invalid channel name");
    }
    v1::PublishStreamResponse response;
    response.set_request_id(request.request_id());
    response.set_offset(request.request_id());
    response.set_epoch("e");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "a {}\nbad! {}\nb {}\n"), kExitFailure);
  ASSERT_EQ(control_.stream_requests.size(), 1u);
  EXPECT_EQ(control_.stream_requests[0].items_size(), 3);
  EXPECT_EQ(out(),
            "1 offset=1 epoch=e\n"
            "2 error=INVALID_ARGUMENT invalid channel name\n"
            "3 offset=3 epoch=e\n");
  EXPECT_THAT(err(), IsEmpty());
}

TEST_F(CliTest, PublishStreamBatchRefusedWholeFailsEveryItem) {
  control_.answer_batch = [](const v1::PublishStreamRequest&) {
    v1::PublishStreamResponse response;
    response.set_error_code(grpc::StatusCode::INVALID_ARGUMENT);
    response.set_error_message("a batch carries at most 1024 items");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nnope\nb 2\n"), kExitFailure);
  EXPECT_EQ(out(),
            "1 error=INVALID_ARGUMENT a batch carries at most 1024 items\n"
            "3 error=INVALID_ARGUMENT a batch carries at most 1024 items\n");
  EXPECT_EQ(err(), "line 2: expected CHANNEL JSON\n");
}

TEST_F(CliTest, PublishStreamBatchWithWrongResultCountFails) {
  control_.answer_batch = [](const v1::PublishStreamRequest& request) {
    v1::PublishStreamResponse response;
    v1::PublishStreamResponse* result = response.add_results();
    result->set_request_id(request.items(0).request_id());
    result->set_offset(1);
    result->set_epoch("e");
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitFailure);
  EXPECT_EQ(out(), "1 offset=1 epoch=e\n");
  EXPECT_EQ(err(), "error: server answered 1 of 2 publication(s)\n");

  control_.answer_batch = [](const v1::PublishStreamRequest& request) {
    v1::PublishStreamResponse response;
    for (int i = 0; i < 3; ++i) {
      v1::PublishStreamResponse* result = response.add_results();
      result->set_request_id(request.items(0).request_id() + i);
    }
    return response;
  };
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitFailure);
  EXPECT_EQ(err(), "error: server returned 3 result(s) for a batch of 2 publication(s)\n");
}

TEST_F(CliTest, PublishStreamMalformedLinesInABurstAreReportedAndSkipped) {
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nnojson\n\nb 2\n c 3\nd 4\n"), kExitFailure);
  EXPECT_EQ(err(), "line 2: expected CHANNEL JSON\nline 4: expected CHANNEL JSON\n");
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n3 offset=30 epoch=e\n5 offset=50 epoch=e\n");
  ASSERT_EQ(control_.stream_requests.size(), 1u);
  ASSERT_EQ(control_.stream_requests[0].items_size(), 3);
  EXPECT_EQ(control_.stream_requests[0].items(0).request_id(), 1u);
  EXPECT_EQ(control_.stream_requests[0].items(1).request_id(), 3u);
  EXPECT_EQ(control_.stream_requests[0].items(1).channel(), "b");
  EXPECT_EQ(control_.stream_requests[0].items(2).request_id(), 5u);
}

TEST_F(CliTest, PublishStreamDoesNotWaitForAPartialLine) {
  // The producer wrote two lines and half of a third, then the rest later.
  // The two whole lines go at once, without waiting for the third.
  std::vector<size_t> taken_when_sent;
  control_.answer_batch = [this, &taken_when_sent](const v1::PublishStreamRequest& request) {
    taken_when_sent.push_back(chunked_input_->taken());
    v1::PublishStreamResponse response;
    for (const v1::PublishStreamRequest& item : request.items()) {
      v1::PublishStreamResponse* result = response.add_results();
      result->set_request_id(item.request_id());
      result->set_offset(item.request_id());
    }
    return response;
  };
  EXPECT_EQ(RunWithChunks({"publish-stream"}, {"a 1\nb 2\nc", " 3\nd 4\n", "e 5"}), kExitOk);
  EXPECT_THAT(taken_when_sent, ElementsAre(1u, 2u));
  ASSERT_EQ(control_.stream_requests.size(), 3u);
  ASSERT_EQ(control_.stream_requests[0].items_size(), 2);
  // The rest of the third line came with the fourth: a batch again.
  ASSERT_EQ(control_.stream_requests[1].items_size(), 2);
  EXPECT_EQ(control_.stream_requests[1].items(0).channel(), "c");
  EXPECT_EQ(control_.stream_requests[1].items(0).data(), "3");
  // The last line has no "\n": it counts once the input ends.
  EXPECT_EQ(control_.stream_requests[2].items_size(), 0);
  EXPECT_EQ(control_.stream_requests[2].channel(), "e");
  EXPECT_THAT(control_.stream_more_ready, ElementsAre(false, false, false));
  EXPECT_EQ(out(),
            "1 offset=1 epoch=\n2 offset=2 epoch=\n3 offset=3 epoch=\n4 offset=4 epoch=\n"
            "5 offset=50 epoch=e\n");
}

TEST_F(CliTest, PublishStreamFailureIsReported) {
  control_.stream_status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "failed to connect");
  EXPECT_EQ(Run({"publish-stream"}, "a 1\n"), kExitFailure);
  EXPECT_EQ(err(), "error: UNAVAILABLE: failed to connect\n");
}

TEST_F(CliTest, PublishStreamWithMissingAnswersFails) {
  control_.drop_answers = 1;
  EXPECT_EQ(Run({"publish-stream", "--max_batch=1"}, "a 1\nb 2\n"), kExitFailure);
  EXPECT_EQ(out(), "1 offset=10 epoch=e\n");
  EXPECT_EQ(err(), "error: server answered 1 of 2 publication(s)\n");

  // A whole batch unanswered.
  EXPECT_EQ(Run({"publish-stream"}, "a 1\nb 2\n"), kExitFailure);
  EXPECT_THAT(out(), IsEmpty());
  EXPECT_EQ(err(), "error: server answered 0 of 2 publication(s)\n");
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
  ASSERT_EQ(control_.stream_publications.size(), 2u);
  EXPECT_EQ(control_.stream_publications[0].tenant(), "acme");
  EXPECT_EQ(control_.stream_publications[1].tenant(), "acme");
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

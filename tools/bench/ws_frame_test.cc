#include "tools/bench/ws_frame.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub::bench {
namespace {

using ::testing::HasSubstr;

// An unmasked frame as a server sends it, with the shortest length encoding
// unless `length_bytes` forces 2 or 8.
std::string ServerFrame(uint8_t first_byte, std::string_view payload, int length_bytes = -1) {
  std::string out(1, static_cast<char>(first_byte));
  size_t n = payload.size();
  if (length_bytes < 0) length_bytes = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  if (length_bytes == 0) {
    out.push_back(static_cast<char>(n));
  } else if (length_bytes == 2) {
    out.push_back(126);
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(127);
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(uint64_t{n} >> (8 * i)));
  }
  out.append(payload);
  return out;
}

TEST(WsFrameParserTest, ParsesTextFramesOfEveryLengthEncoding) {
  for (size_t size : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536},
                      size_t{200000}}) {
    SCOPED_TRACE(size);
    std::string payload(size, 'a');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    std::string wire = ServerFrame(0x81, payload);
    WsFrameParser parser;
    WsFrame frame;
    absl::StatusOr<size_t> used = parser.Parse(wire, &frame);
    ASSERT_TRUE(used.ok()) << used.status();
    EXPECT_EQ(*used, wire.size());
    EXPECT_EQ(frame.opcode, WsOpcode::kText);
    EXPECT_EQ(frame.message_opcode, WsOpcode::kText);
    EXPECT_TRUE(frame.fin);
    EXPECT_EQ(frame.payload, payload);
  }
}

TEST(WsFrameParserTest, WaitsForMoreBytesOneAtATime) {
  // Three frames back to back, fed one byte at a time: each is reported
  // exactly when its last byte arrives.
  std::string wire = ServerFrame(0x81, std::string(300, 'x')) + ServerFrame(0x89, "ping!") +
                     ServerFrame(0x82, std::string(70000, 'y'));
  WsFrameParser parser;
  std::vector<std::pair<WsOpcode, size_t>> seen;
  size_t start = 0;
  for (size_t end = 1; end <= wire.size(); ++end) {
    WsFrame frame;
    absl::StatusOr<size_t> used =
        parser.Parse(std::string_view(wire).substr(start, end - start), &frame);
    ASSERT_TRUE(used.ok()) << used.status();
    if (*used == 0) continue;
    ASSERT_EQ(start + *used, end);
    seen.emplace_back(frame.opcode, frame.payload.size());
    start = end;
  }
  EXPECT_EQ(start, wire.size());
  EXPECT_THAT(seen, ::testing::ElementsAre(std::pair(WsOpcode::kText, size_t{300}),
                                           std::pair(WsOpcode::kPing, size_t{5}),
                                           std::pair(WsOpcode::kBinary, size_t{70000})));
}

TEST(WsFrameParserTest, ReportsTheSizeOfAPendingFrame) {
  std::string wire = ServerFrame(0x81, std::string(1000, 'x'));
  WsFrameParser parser;
  WsFrame frame;
  EXPECT_EQ(*parser.Parse(std::string_view(wire).substr(0, 3), &frame), 0u);
  EXPECT_EQ(parser.pending_frame_bytes(), 0u);  // Header incomplete.
  EXPECT_EQ(*parser.Parse(std::string_view(wire).substr(0, 10), &frame), 0u);
  EXPECT_EQ(parser.pending_frame_bytes(), 1004u);
  EXPECT_EQ(*parser.Parse(wire, &frame), 1004u);
}

TEST(WsFrameParserTest, FragmentedMessageWithInterleavedControlFrame) {
  std::string wire = ServerFrame(0x01, "Hel") + ServerFrame(0x8A, "") + ServerFrame(0x00, "lo") +
                     ServerFrame(0x80, "!") + ServerFrame(0x82, "next");
  WsFrameParser parser;
  std::string_view rest = wire;
  std::vector<WsFrame> frames;
  while (!rest.empty()) {
    WsFrame frame;
    absl::StatusOr<size_t> used = parser.Parse(rest, &frame);
    ASSERT_TRUE(used.ok()) << used.status();
    ASSERT_GT(*used, 0u);
    frames.push_back(frame);
    rest.remove_prefix(*used);
  }
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[0].opcode, WsOpcode::kText);
  EXPECT_FALSE(frames[0].fin);
  EXPECT_EQ(frames[1].opcode, WsOpcode::kPong);
  EXPECT_EQ(frames[1].message_opcode, WsOpcode::kPong);
  EXPECT_EQ(frames[2].opcode, WsOpcode::kContinuation);
  EXPECT_EQ(frames[2].message_opcode, WsOpcode::kText);
  EXPECT_EQ(frames[2].payload, "lo");
  EXPECT_FALSE(frames[2].fin);
  EXPECT_EQ(frames[3].message_opcode, WsOpcode::kText);
  EXPECT_TRUE(frames[3].fin);
  EXPECT_EQ(frames[4].opcode, WsOpcode::kBinary);
  EXPECT_EQ(frames[4].message_opcode, WsOpcode::kBinary);
  EXPECT_FALSE(parser.in_message());
}

TEST(WsFrameParserTest, RefusesFramesThatBreakTheProtocol) {
  struct Case {
    std::string wire;
    std::string_view error;
  };
  std::string masked = ServerFrame(0x81, "abcd");
  masked[1] = static_cast<char>(masked[1] | 0x80);
  const Case cases[] = {
      {masked, "masked"},
      {ServerFrame(0xC1, "x"), "reserved bits"},
      {ServerFrame(0x83, "x"), "unknown opcode"},
      {ServerFrame(0x8B, "x"), "unknown opcode"},
      {ServerFrame(0x09, "x"), "fragmented WebSocket control"},
      {ServerFrame(0x89, std::string(126, 'p')), "longer than 125"},
      {ServerFrame(0x80, "x"), "continuation frame outside"},
      {ServerFrame(0x01, "a") + ServerFrame(0x81, "b"), "inside a fragmented"},
      {ServerFrame(0x81, "short", 2), "minimally"},
      {ServerFrame(0x81, std::string(300, 'z'), 8), "minimally"},
      {std::string("\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10), "2^63"},
      {ServerFrame(0x88, "x"), "1-byte"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.error);
    WsFrameParser parser;
    std::string_view rest = c.wire;
    absl::Status status;
    while (status.ok() && !rest.empty()) {
      WsFrame frame;
      absl::StatusOr<size_t> used = parser.Parse(rest, &frame);
      status = used.status();
      if (used.ok()) {
        ASSERT_GT(*used, 0u);
        rest.remove_prefix(*used);
      }
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(status.message(), HasSubstr(c.error));
  }
}

TEST(WsFrameParserTest, RefusesFramesOverTheLimitBeforeTheyArrive) {
  WsFrameParser parser(WsFrameParser::Options{.max_frame_payload = 1000});
  std::string wire = ServerFrame(0x82, std::string(1001, 'x'));
  WsFrame frame;
  // The header alone is enough to refuse it.
  absl::StatusOr<size_t> used = parser.Parse(std::string_view(wire).substr(0, 4), &frame);
  EXPECT_EQ(used.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(parser.Parse(ServerFrame(0x82, std::string(1000, 'x')), &frame).ok());
}

// Undoes the client's masking: returns the header fields and the payload.
struct Unmasked {
  uint8_t first_byte = 0;
  uint32_t mask_key = 0;
  std::string payload;
};
Unmasked Unmask(std::string_view wire) {
  const auto* b = reinterpret_cast<const uint8_t*>(wire.data());
  Unmasked out;
  out.first_byte = b[0];
  EXPECT_TRUE(b[1] & 0x80) << "client frame not masked";
  uint64_t length = b[1] & 0x7F;
  size_t header = 2;
  if (length == 126) {
    length = (uint64_t{b[2]} << 8) | b[3];
    header = 4;
  } else if (length == 127) {
    length = 0;
    for (int i = 2; i < 10; ++i) length = (length << 8) | b[i];
    header = 10;
  }
  const uint8_t* mask = b + header;
  out.mask_key =
      (uint32_t{mask[0]} << 24) | (uint32_t{mask[1]} << 16) | (uint32_t{mask[2]} << 8) | mask[3];
  EXPECT_EQ(wire.size(), header + 4 + length);
  for (size_t i = 0; i < length; ++i) {
    out.payload.push_back(static_cast<char>(b[header + 4 + i] ^ mask[i % 4]));
  }
  return out;
}

TEST(WriteWsClientFrameTest, MasksEveryLengthEncoding) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{9}, size_t{125}, size_t{126},
                      size_t{65535}, size_t{65536}, size_t{100003}}) {
    SCOPED_TRACE(size);
    std::string payload(size, ' ');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 31 + 7);
    std::vector<char> out(WsClientFrameSize(size));
    absl::StatusOr<size_t> written =
        WriteWsClientFrame(WsOpcode::kText, true, payload, 0xA1B2C3D4, out.data(), out.size());
    ASSERT_TRUE(written.ok()) << written.status();
    ASSERT_EQ(*written, out.size());
    Unmasked frame = Unmask(std::string_view(out.data(), out.size()));
    EXPECT_EQ(frame.first_byte, 0x81);
    EXPECT_EQ(frame.mask_key, 0xA1B2C3D4u);
    EXPECT_EQ(frame.payload, payload);
  }
}

TEST(WriteWsClientFrameTest, KnownBytes) {
  // RFC 6455 section 5.7's masked "Hello".
  char out[16];
  absl::StatusOr<size_t> written =
      WriteWsClientFrame(WsOpcode::kText, true, "Hello", 0x37fa213d, out, sizeof(out));
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(std::string_view(out, *written),
            std::string_view("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
}

TEST(WriteWsClientFrameTest, RefusesWhatItCannotWrite) {
  char out[256];
  EXPECT_EQ(WriteWsClientFrame(WsOpcode::kText, true, "Hello", 1, out, 10).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(
      WriteWsClientFrame(WsOpcode::kPing, true, std::string(126, 'x'), 1, out, 256).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteWsClientFrame(WsOpcode::kPong, false, "", 1, out, 256).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteWsClientFrame(static_cast<WsOpcode>(3), true, "", 1, out, 256).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteWsClientClose(1000, std::string(124, 'r'), 1, out, 256).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WriteWsClientFrameTest, CloseRoundTrip) {
  char out[64];
  absl::StatusOr<size_t> written = WriteWsClientClose(1001, "bye", 7, out, sizeof(out));
  ASSERT_TRUE(written.ok());
  Unmasked frame = Unmask(std::string_view(out, *written));
  EXPECT_EQ(frame.first_byte, 0x88);
  absl::StatusOr<WsClose> close = ParseWsClosePayload(frame.payload);
  ASSERT_TRUE(close.ok());
  EXPECT_EQ(close->code, 1001);
  EXPECT_EQ(close->reason, "bye");
  EXPECT_EQ(ParseWsClosePayload("")->code, 1005);
  EXPECT_FALSE(ParseWsClosePayload("x").ok());
}

}  // namespace
}  // namespace wirehub::bench

#include "common/websocket_frame.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace wirehub {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A frame written by hand (not by the encoder under test): `first_byte`, then
// the length with the shortest encoding unless `length_bytes` forces 0, 2 or
// 8, then the mask key when `mask` is set, then the (masked) payload.
std::string RawFrame(uint8_t first_byte, std::string_view payload, int length_bytes = -1,
                     std::optional<uint32_t> mask = std::nullopt) {
  std::string out(1, static_cast<char>(first_byte));
  const size_t n = payload.size();
  const char mask_bit = mask.has_value() ? '\x80' : '\0';
  if (length_bytes < 0) length_bytes = n < 126 ? 0 : n <= 0xFFFF ? 2 : 8;
  if (length_bytes == 0) {
    out.push_back(static_cast<char>(mask_bit | static_cast<char>(n)));
  } else if (length_bytes == 2) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(uint64_t{n} >> (8 * i)));
  }
  if (!mask.has_value()) return out.append(payload);
  const uint8_t key[4] = {static_cast<uint8_t>(*mask >> 24), static_cast<uint8_t>(*mask >> 16),
                          static_cast<uint8_t>(*mask >> 8), static_cast<uint8_t>(*mask)};
  out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ key[i % 4]));
  return out;
}

std::string ServerFrame(uint8_t first_byte, std::string_view payload, int length_bytes = -1) {
  return RawFrame(first_byte, payload, length_bytes);
}

std::string ClientFrame(uint8_t first_byte, std::string_view payload, int length_bytes = -1) {
  return RawFrame(first_byte, payload, length_bytes, 0x0A1B2C3D);
}

std::string Payload(size_t size) {
  std::string payload(size, ' ');
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>(i * 31 + 7);
  return payload;
}

WebSocketFrameDecoder ServerDecoder(size_t max_frame_payload = size_t{1} << 20) {
  return WebSocketFrameDecoder(
      {.role = WebSocketRole::kServer, .max_frame_payload = max_frame_payload});
}

// Decodes every frame of `wire` (a copy, unmasked in place) and returns the
// first error, or OK when all of it decoded.
absl::Status DecodeAll(WebSocketFrameDecoder& decoder, std::string wire,
                       std::vector<std::pair<WebSocketFrame, std::string>>* frames = nullptr) {
  size_t start = 0;
  while (start < wire.size()) {
    WebSocketFrame frame;
    absl::StatusOr<size_t> used = decoder.Decode(wire.data() + start, wire.size() - start, &frame);
    if (!used.ok()) return used.status();
    if (*used == 0) return absl::OutOfRangeError("input ends inside a frame");
    if (frames != nullptr) frames->emplace_back(frame, std::string(frame.payload));
    start += *used;
  }
  return absl::OkStatus();
}

TEST(WebSocketFrameDecoderTest, RfcExamples) {
  // RFC 6455 section 5.7: an unmasked and a masked "Hello".
  WebSocketFrameDecoder client;
  WebSocketFrame frame;
  absl::StatusOr<size_t> used = client.Decode(std::string_view("\x81\x05Hello", 7), &frame);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(*used, 7u);
  EXPECT_EQ(frame.payload, "Hello");

  WebSocketFrameDecoder server = ServerDecoder();
  std::string masked("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  used = server.Decode(masked.data(), masked.size(), &frame);
  ASSERT_TRUE(used.ok()) << used.status();
  EXPECT_EQ(*used, 11u);
  EXPECT_EQ(frame.opcode, WebSocketOpcode::kText);
  EXPECT_TRUE(frame.fin);
  EXPECT_EQ(frame.payload, "Hello");
  // Unmasked in place: the view is into the caller's buffer.
  EXPECT_EQ(frame.payload.data(), masked.data() + 6);
}

TEST(WebSocketFrameDecoderTest, DecodesEveryLengthEncodingInBothRoles) {
  for (size_t size : {size_t{0}, size_t{5}, size_t{125}, size_t{126}, size_t{65535}, size_t{65536},
                      size_t{200000}}) {
    SCOPED_TRACE(size);
    const std::string payload = Payload(size);
    for (WebSocketRole role : {WebSocketRole::kClient, WebSocketRole::kServer}) {
      std::string wire =
          role == WebSocketRole::kClient ? ServerFrame(0x82, payload) : ClientFrame(0x82, payload);
      WebSocketFrameDecoder decoder({.role = role});
      WebSocketFrame frame;
      absl::StatusOr<size_t> used = decoder.Decode(wire.data(), wire.size(), &frame);
      ASSERT_TRUE(used.ok()) << used.status();
      EXPECT_EQ(*used, wire.size());
      EXPECT_EQ(frame.opcode, WebSocketOpcode::kBinary);
      EXPECT_EQ(frame.message_opcode, WebSocketOpcode::kBinary);
      EXPECT_TRUE(frame.fin);
      EXPECT_EQ(frame.payload, payload);
    }
  }
}

TEST(WebSocketFrameDecoderTest, WaitsForMoreBytesOneAtATime) {
  // Three masked frames back to back, fed one byte at a time: each is
  // reported exactly when its last byte arrives, and the bytes of an
  // incomplete frame are left alone.
  const std::string wire = ClientFrame(0x81, Payload(300)) + ClientFrame(0x89, "ping!") +
                           ClientFrame(0x82, Payload(70000));
  std::string buffer;
  WebSocketFrameDecoder decoder = ServerDecoder();
  std::vector<std::pair<WebSocketOpcode, std::string>> seen;
  for (char byte : wire) {
    buffer.push_back(byte);
    WebSocketFrame frame;
    absl::StatusOr<size_t> used = decoder.Decode(buffer.data(), buffer.size(), &frame);
    ASSERT_TRUE(used.ok()) << used.status();
    if (*used == 0) continue;
    ASSERT_EQ(*used, buffer.size());
    seen.emplace_back(frame.opcode, std::string(frame.payload));
    buffer.clear();
  }
  EXPECT_TRUE(buffer.empty());
  EXPECT_THAT(seen, ElementsAre(std::pair(WebSocketOpcode::kText, Payload(300)),
                                std::pair(WebSocketOpcode::kPing, std::string("ping!")),
                                std::pair(WebSocketOpcode::kBinary, Payload(70000))));
}

TEST(WebSocketFrameDecoderTest, ReportsTheSizeOfAPendingFrame) {
  const std::string wire = ServerFrame(0x81, std::string(1000, 'x'));
  WebSocketFrameDecoder decoder;
  WebSocketFrame frame;
  EXPECT_EQ(*decoder.Decode(std::string_view(wire).substr(0, 3), &frame), 0u);
  EXPECT_EQ(decoder.pending_frame_bytes(), 0u);  // Header incomplete.
  EXPECT_EQ(*decoder.Decode(std::string_view(wire).substr(0, 10), &frame), 0u);
  EXPECT_EQ(decoder.pending_frame_bytes(), 1004u);
  EXPECT_EQ(*decoder.Decode(wire, &frame), 1004u);
  EXPECT_EQ(decoder.pending_frame_bytes(), 0u);

  // A masked frame's size includes its key.
  const std::string masked = ClientFrame(0x81, std::string(1000, 'x'));
  WebSocketFrameDecoder server = ServerDecoder();
  std::string head = masked.substr(0, 10);
  EXPECT_EQ(*server.Decode(head.data(), head.size(), &frame), 0u);
  EXPECT_EQ(server.pending_frame_bytes(), 1008u);
}

TEST(WebSocketFrameDecoderTest, FragmentedMessageWithInterleavedControlFrame) {
  WebSocketFrameDecoder decoder = ServerDecoder();
  std::vector<std::pair<WebSocketFrame, std::string>> frames;
  ASSERT_TRUE(DecodeAll(decoder,
                        ClientFrame(0x01, "Hel") + ClientFrame(0x8A, "") + ClientFrame(0x00, "lo") +
                            ClientFrame(0x80, "!") + ClientFrame(0x82, "next"),
                        &frames)
                  .ok());
  ASSERT_EQ(frames.size(), 5u);
  EXPECT_EQ(frames[0].first.opcode, WebSocketOpcode::kText);
  EXPECT_FALSE(frames[0].first.fin);
  EXPECT_EQ(frames[1].first.opcode, WebSocketOpcode::kPong);
  EXPECT_EQ(frames[1].first.message_opcode, WebSocketOpcode::kPong);
  EXPECT_EQ(frames[2].first.opcode, WebSocketOpcode::kContinuation);
  EXPECT_EQ(frames[2].first.message_opcode, WebSocketOpcode::kText);
  EXPECT_EQ(frames[2].second, "lo");
  EXPECT_FALSE(frames[2].first.fin);
  EXPECT_EQ(frames[3].first.message_opcode, WebSocketOpcode::kText);
  EXPECT_TRUE(frames[3].first.fin);
  EXPECT_EQ(frames[4].first.opcode, WebSocketOpcode::kBinary);
  EXPECT_EQ(frames[4].first.message_opcode, WebSocketOpcode::kBinary);
  EXPECT_FALSE(decoder.in_message());
}

struct BadFrameCase {
  const char* name;
  WebSocketRole role;
  std::string wire;
  absl::StatusCode code;
  const char* error;
};

class WebSocketFrameDecoderBadFrameTest : public ::testing::TestWithParam<BadFrameCase> {};

TEST_P(WebSocketFrameDecoderBadFrameTest, RefusesWithAPreciseStatus) {
  WebSocketFrameDecoder decoder({.role = GetParam().role, .max_frame_payload = 1000});
  absl::Status status = DecodeAll(decoder, GetParam().wire);
  EXPECT_EQ(status.code(), GetParam().code) << status;
  EXPECT_THAT(status.message(), HasSubstr(GetParam().error));
}

std::string MaskedServerFrame() {
  std::string wire = ServerFrame(0x81, "abcd");
  wire[1] = static_cast<char>(wire[1] | 0x80);
  return wire + "wxyz";
}

constexpr WebSocketRole kClient = WebSocketRole::kClient;
constexpr WebSocketRole kServer = WebSocketRole::kServer;
constexpr absl::StatusCode kDataLoss = absl::StatusCode::kDataLoss;

INSTANTIATE_TEST_SUITE_P(
    Rfc6455, WebSocketFrameDecoderBadFrameTest,
    ::testing::Values(
        BadFrameCase{"MaskedToClient", kClient, MaskedServerFrame(), kDataLoss, "masked"},
        BadFrameCase{"UnmaskedToServer", kServer, ServerFrame(0x81, "x"), kDataLoss, "unmasked"},
        BadFrameCase{"Rsv1", kClient, ServerFrame(0xC1, "x"), kDataLoss, "reserved bits"},
        BadFrameCase{"Rsv3", kServer, ClientFrame(0x91, "x"), kDataLoss, "reserved bits"},
        BadFrameCase{"Opcode3", kClient, ServerFrame(0x83, "x"), kDataLoss, "unknown opcode 3"},
        BadFrameCase{"Opcode11", kServer, ClientFrame(0x8B, "x"), kDataLoss, "unknown opcode 11"},
        BadFrameCase{"FragmentedPing", kClient, ServerFrame(0x09, "x"), kDataLoss,
                     "fragmented WebSocket control"},
        BadFrameCase{"FragmentedClose", kServer, ClientFrame(0x08, ""), kDataLoss,
                     "fragmented WebSocket control"},
        BadFrameCase{"LongPing", kClient, ServerFrame(0x89, std::string(126, 'p')), kDataLoss,
                     "longer than 125"},
        BadFrameCase{"OneByteClose", kServer, ClientFrame(0x88, "x"), kDataLoss, "1-byte"},
        BadFrameCase{"StrayContinuation", kClient, ServerFrame(0x80, "x"), kDataLoss,
                     "continuation frame outside"},
        BadFrameCase{"NewMessageInsideFragments", kServer,
                     ClientFrame(0x01, "a") + ClientFrame(0x81, "b"), kDataLoss,
                     "inside a fragmented"},
        BadFrameCase{"Length16NotMinimal", kClient, ServerFrame(0x81, "short", 2), kDataLoss,
                     "minimally"},
        BadFrameCase{"Length64NotMinimal", kServer, ClientFrame(0x81, std::string(300, 'z'), 8),
                     kDataLoss, "minimally"},
        BadFrameCase{"Length64TopBit", kClient,
                     std::string("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10), kDataLoss,
                     "2^63"},
        BadFrameCase{"OverTheLimit", kServer, ClientFrame(0x82, std::string(1001, 'x')),
                     absl::StatusCode::kResourceExhausted, "over the limit of 1000"}),
    [](const ::testing::TestParamInfo<BadFrameCase>& c) { return c.param.name; });

TEST(WebSocketFrameDecoderTest, RefusesFromTheHeaderAlone) {
  // Neither an oversize frame nor a broken control frame is waited for.
  WebSocketFrameDecoder decoder({.max_frame_payload = 1000});
  WebSocketFrame frame;
  const std::string big = ServerFrame(0x82, std::string(1001, 'x'));
  EXPECT_EQ(decoder.Decode(std::string_view(big).substr(0, 4), &frame).status().code(),
            absl::StatusCode::kResourceExhausted);
  const std::string fragmented_ping = ServerFrame(0x09, std::string(100, 'p'));
  EXPECT_EQ(decoder.Decode(std::string_view(fragmented_ping).substr(0, 2), &frame).status().code(),
            absl::StatusCode::kDataLoss);
  // A frame of exactly the limit passes.
  EXPECT_TRUE(decoder.Decode(ServerFrame(0x82, std::string(1000, 'x')), &frame).ok());
}

TEST(WebSocketFrameDecoderDeathTest, ReadOnlyInputIsForClientsOnly) {
  WebSocketFrameDecoder decoder = ServerDecoder();
  WebSocketFrame frame;
  EXPECT_DEATH((void)decoder.Decode(std::string_view("\x81\x80\0\0\0\0", 6), &frame), "");
}

TEST(EncodeWebSocketFrameTest, RoundTripsEveryLengthEncodingInBothRoles) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{7}, size_t{9}, size_t{125}, size_t{126},
                      size_t{65535}, size_t{65536}, size_t{100003}}) {
    SCOPED_TRACE(size);
    const std::string payload = Payload(size);
    for (std::optional<uint32_t> mask : {std::optional<uint32_t>(), std::optional(0xA1B2C3D4u)}) {
      std::string out(WebSocketFrameSize(size, mask.has_value()), '\0');
      absl::StatusOr<size_t> written =
          EncodeWebSocketFrame(WebSocketOpcode::kText, true, payload, mask, out.data(), out.size());
      ASSERT_TRUE(written.ok()) << written.status();
      ASSERT_EQ(*written, out.size());
      EXPECT_EQ(out, RawFrame(0x81, payload, -1, mask));
      // What a client sends, a server decodes, and the other way round.
      WebSocketFrameDecoder decoder(
          {.role = mask.has_value() ? WebSocketRole::kServer : WebSocketRole::kClient});
      WebSocketFrame frame;
      ASSERT_EQ(*decoder.Decode(out.data(), out.size(), &frame), out.size());
      EXPECT_EQ(frame.payload, payload);
    }
  }
}

TEST(EncodeWebSocketFrameTest, KnownBytes) {
  // RFC 6455 section 5.7: masked "Hello", unmasked fragments, an unmasked
  // ping and a 256-byte binary frame's header.
  char out[300];
  absl::StatusOr<size_t> written =
      EncodeWebSocketFrame(WebSocketOpcode::kText, true, "Hello", 0x37fa213d, out, sizeof(out));
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(std::string_view(out, *written),
            std::string_view("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11));
  written =
      EncodeWebSocketFrame(WebSocketOpcode::kText, false, "Hel", std::nullopt, out, sizeof(out));
  EXPECT_EQ(std::string_view(out, *written), std::string_view("\x01\x03Hel", 5));
  written = EncodeWebSocketFrame(WebSocketOpcode::kContinuation, true, "lo", std::nullopt, out,
                                 sizeof(out));
  EXPECT_EQ(std::string_view(out, *written), std::string_view("\x80\x02lo", 4));
  written =
      EncodeWebSocketFrame(WebSocketOpcode::kPing, true, "Hello", std::nullopt, out, sizeof(out));
  EXPECT_EQ(std::string_view(out, *written), std::string_view("\x89\x05Hello", 7));
  written = EncodeWebSocketFrame(WebSocketOpcode::kBinary, true, std::string(256, 'b'),
                                 std::nullopt, out, sizeof(out));
  EXPECT_EQ(std::string_view(out, 4), std::string_view("\x82\x7e\x01\x00", 4));
}

TEST(EncodeWebSocketFrameTest, RefusesWhatItCannotWrite) {
  char out[256];
  EXPECT_EQ(EncodeWebSocketFrame(WebSocketOpcode::kText, true, "Hello", 1, out, 10).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(EncodeWebSocketFrame(WebSocketOpcode::kText, true, "Hello", std::nullopt, out, 6)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(EncodeWebSocketFrame(WebSocketOpcode::kPing, true, std::string(126, 'x'), 1, out, 256)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeWebSocketFrame(WebSocketOpcode::kPong, false, "", 1, out, 256).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      EncodeWebSocketFrame(static_cast<WebSocketOpcode>(3), true, "", 1, out, 256).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeWebSocketClose(1000, std::string(124, 'r'), 1, out, 256).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeWebSocketClose(1005, "", std::nullopt, out, 256).status().code(),
            absl::StatusCode::kInvalidArgument);

  std::string appended = "keep";
  EXPECT_FALSE(
      AppendWebSocketFrame(WebSocketOpcode::kPing, false, "", std::nullopt, &appended).ok());
  EXPECT_EQ(appended, "keep");
}

TEST(WebSocketCloseTest, RoundTripInBothRoles) {
  std::string wire;
  ASSERT_TRUE(AppendWebSocketClose(1001, "bye", 7, &wire).ok());
  ASSERT_TRUE(AppendWebSocketClose(3500, std::string(123, 'r'), std::nullopt, &wire).ok());
  EXPECT_EQ(wire.substr(0, 2), "\x88\x85");

  WebSocketFrameDecoder server = ServerDecoder();
  WebSocketFrame frame;
  const size_t first = *server.Decode(wire.data(), wire.size(), &frame);
  ASSERT_EQ(first, 2u + 4u + 5u);
  absl::StatusOr<WebSocketClose> close = ParseWebSocketClose(frame.payload);
  ASSERT_TRUE(close.ok()) << close.status();
  EXPECT_EQ(close->code, 1001);
  EXPECT_EQ(close->reason, "bye");

  WebSocketFrameDecoder client;
  ASSERT_EQ(*client.Decode(std::string_view(wire).substr(first), &frame), 2u + 125u);
  close = ParseWebSocketClose(frame.payload);
  ASSERT_TRUE(close.ok()) << close.status();
  EXPECT_EQ(close->code, 3500);
  EXPECT_EQ(close->reason, std::string(123, 'r'));
}

TEST(WebSocketCloseTest, ParsesAndChecksCodes) {
  EXPECT_EQ(ParseWebSocketClose("")->code, kWebSocketCloseNoStatus);
  EXPECT_EQ(ParseWebSocketClose("")->reason, "");
  EXPECT_EQ(ParseWebSocketClose("x").status().code(), absl::StatusCode::kDataLoss);
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999}) {
    SCOPED_TRACE(code);
    const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    EXPECT_TRUE(ParseWebSocketClose(std::string_view(payload, 2)).ok());
  }
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535}) {
    SCOPED_TRACE(code);
    const char payload[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    absl::StatusOr<WebSocketClose> close = ParseWebSocketClose(std::string_view(payload, 2));
    EXPECT_EQ(close.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(close.status().message(), HasSubstr(absl::StrCat("code ", code)));
  }
}

}  // namespace
}  // namespace wirehub

#include "runtime-api/frame.h"

#include <gtest/gtest.h>

namespace thaw {
namespace {

constexpr char kId[] = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

Frame sample() {
  Frame f;
  f.type = FrameType::kResponse;
  f.flags = kFlagMore;
  f.request_id = kId;
  f.payload = {'h', 'i', 0, 0xff};
  return f;
}

std::vector<uint8_t> header_of(const Frame& f) {
  auto bytes = encode_frame(f);
  EXPECT_TRUE(bytes.ok());
  return {bytes->begin(), bytes->begin() + kFrameHeaderSize};
}

TEST(Frame, RoundTripsThroughDecoder) {
  auto bytes = encode_frame(sample());
  ASSERT_TRUE(bytes.ok()) << bytes.error().message;
  ASSERT_EQ(bytes->size(), kFrameHeaderSize + 4);
  // Wire layout is fixed little-endian: "THAW" magic first, type at offset 8.
  EXPECT_EQ(std::string(bytes->begin(), bytes->begin() + 4), "THAW");
  EXPECT_EQ((*bytes)[8], 5);
  EXPECT_EQ((*bytes)[12], 4);
  FrameDecoder d;
  ASSERT_TRUE(d.feed(*bytes).ok());
  auto f = d.next();
  ASSERT_TRUE(f.ok()) << f.error().message;
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->type, FrameType::kResponse);
  EXPECT_EQ((*f)->flags, kFlagMore);
  EXPECT_EQ((*f)->request_id, kId);
  EXPECT_EQ((*f)->payload, sample().payload);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, DecoderHandlesByteAtATimeAndBackToBack) {
  std::vector<uint8_t> stream;
  for (int i = 0; i < 3; ++i) {
    Frame f = sample();
    f.payload.assign(static_cast<size_t>(i * 1000), static_cast<uint8_t>(i));
    auto b = encode_frame(f);
    ASSERT_TRUE(b.ok());
    stream.insert(stream.end(), b->begin(), b->end());
  }
  FrameDecoder d;
  std::vector<Frame> got;
  for (uint8_t byte : stream) {
    ASSERT_TRUE(d.feed({&byte, 1}).ok());
    auto f = d.next();
    ASSERT_TRUE(f.ok());
    if (f->has_value()) got.push_back(std::move(**f));
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].payload.size(), 2000u);
  EXPECT_EQ(got[2].payload[1999], 2);
}

TEST(Frame, EmptyRequestIdAndEveryType) {
  for (uint16_t t = 1; t <= kMaxFrameType; ++t) {
    Frame f;
    f.type = static_cast<FrameType>(t);
    auto h = decode_header(header_of(f));
    ASSERT_TRUE(h.ok()) << h.error().message;
    EXPECT_EQ(h->type, f.type);
    EXPECT_EQ(h->request_id, "");
    EXPECT_NE(frame_type_name(f.type), "unknown");
  }
}

struct Corruption {
  size_t offset;
  uint8_t value;
  const char* expect;
};

TEST(Frame, EveryMalformedHeaderFieldIsRejectedByName) {
  const Corruption cases[] = {
      {0, 'X', "magic"},          {4, 2, "version"},        {6, 40, "header length"},
      {8, 0, "type 0"},           {8, 13, "type 13"},       {9, 1, "type"},
      {10, 2, "flags"},           {15, 0x01, "payload length"}, {16 + 36 - 1, '!', "request id"},
      {16, '\n', "request id"},   {52, 1, "reserved"},      {55, 0x80, "reserved"},
  };
  for (const auto& c : cases) {
    auto h = header_of(sample());
    h[c.offset] = c.value;
    auto r = decode_header(h);
    ASSERT_FALSE(r.ok()) << "offset " << c.offset;
    EXPECT_NE(r.error().message.find(c.expect), std::string::npos)
        << "offset " << c.offset << ": " << r.error().message;
  }
}

TEST(Frame, RequestIdMustBeNulPaddedAfterItsEnd) {
  Frame f = sample();
  f.request_id = "abc";
  auto h = header_of(f);
  h[16 + 10] = 'x';  // a byte after the NUL terminator
  auto r = decode_header(h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("after its NUL"), std::string::npos);
}

TEST(Frame, MoreFlagOnlyOnResponses) {
  Frame f = sample();
  f.type = FrameType::kInvoke;
  f.flags = 0;
  auto h = header_of(f);
  h[10] = kFlagMore;
  auto r = decode_header(h);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("only valid on response"), std::string::npos);
}

TEST(Frame, EncodeRefusesBadInputs) {
  Frame f = sample();
  f.request_id = std::string(37, 'a');
  EXPECT_FALSE(encode_frame(f).ok());
  f.request_id = "has space";
  EXPECT_FALSE(encode_frame(f).ok());
  f.request_id = kId;
  f.flags = 0x8000;
  EXPECT_FALSE(encode_frame(f).ok());
  auto h = encode_header(FrameType::kInvoke, 0, kId, size_t{kMaxFramePayload} + 1);
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.error().message.find("8388608"), std::string::npos);
  EXPECT_TRUE(encode_header(FrameType::kInvoke, 0, kId, kMaxFramePayload).ok());
}

TEST(Frame, OverLimitPayloadLengthPoisonsTheDecoder) {
  auto h = header_of(sample());
  uint32_t too_big = kMaxFramePayload + 1;
  for (int i = 0; i < 4; ++i) h[12 + i] = static_cast<uint8_t>(too_big >> (8 * i));
  FrameDecoder d;
  ASSERT_TRUE(d.feed(h).ok());
  auto f = d.next();
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.error().message.find("over the"), std::string::npos);
  // Framing is lost: every later call fails too.
  EXPECT_FALSE(d.next().ok());
  EXPECT_FALSE(d.feed(h).ok());
}

TEST(Frame, WrongHeaderSpanSize) {
  std::vector<uint8_t> short_header(kFrameHeaderSize - 1);
  EXPECT_FALSE(decode_header(short_header).ok());
}

}  // namespace
}  // namespace thaw

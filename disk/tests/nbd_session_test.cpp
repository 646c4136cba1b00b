// The NBD handshake and request decoding on bytes alone: what the server sends, in the
// byte layout doc/proto.md gives, and how it treats input that is split, oversize or wrong.
#include "disk/nbd_session.h"

#include <gtest/gtest.h>

namespace ftvm::disk {
namespace {

using namespace nbd;

std::vector<uint8_t> option(uint32_t type, std::vector<uint8_t> data) {
  std::vector<uint8_t> out;
  put_be(out, kOptionMagic);
  put_be(out, type);
  put_be(out, static_cast<uint32_t>(data.size()));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> go_data(const std::string& name) {
  std::vector<uint8_t> data;
  put_be(data, static_cast<uint32_t>(name.size()));
  data.insert(data.end(), name.begin(), name.end());
  put_be(data, uint16_t{0});
  return data;
}

std::vector<uint8_t> client_flags(uint32_t flags) {
  std::vector<uint8_t> out;
  put_be(out, flags);
  return out;
}

std::vector<uint8_t> request(uint16_t type, uint64_t offset, uint32_t length,
                             std::vector<uint8_t> payload = {}) {
  std::vector<uint8_t> out;
  put_be(out, kRequestMagic);
  put_be(out, uint16_t{0});
  put_be(out, type);
  put_be(out, uint64_t{0xc00c1e});
  put_be(out, offset);
  put_be(out, length);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

// Option replies in the output, as (option, type) pairs.
std::vector<std::pair<uint32_t, uint32_t>> option_replies(std::span<const uint8_t> out) {
  std::vector<std::pair<uint32_t, uint32_t>> replies;
  while (out.size() >= 20) {
    EXPECT_EQ(load_be<uint64_t>(out.data()), kOptionReplyMagic);
    replies.emplace_back(load_be<uint32_t>(out.data() + 8), load_be<uint32_t>(out.data() + 12));
    out = out.subspan(20 + load_be<uint32_t>(out.data() + 16));
  }
  return replies;
}

class NbdSessionTest : public ::testing::Test {
 protected:
  NbdSession session_{{{"vol", 1 << 20, false}, {"other", 4096, true}}};

  void feed(const std::vector<uint8_t>& bytes) { session_.feed(bytes); }
  // Drives the session; expects no error.
  std::optional<NbdRequest> next() {
    auto r = session_.next_request();
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : std::nullopt;
  }
};

TEST_F(NbdSessionTest, GreetsAsAFixedNewstyleServer) {
  const auto greeting = session_.take_output();
  ASSERT_EQ(greeting.size(), 18u);
  EXPECT_EQ(load_be<uint64_t>(greeting.data()), kInitMagic);
  EXPECT_EQ(load_be<uint64_t>(greeting.data() + 8), kOptionMagic);
  EXPECT_EQ(load_be<uint16_t>(greeting.data() + 16), kFlagFixedNewstyle | kFlagNoZeroes);
}

TEST_F(NbdSessionTest, ExportNamePadsWithZeroesUnlessTheClientSaysNot) {
  for (const bool no_zeroes : {false, true}) {
    NbdSession s({{"vol", 1 << 20, false}});
    s.take_output();
    s.feed(client_flags(kClientFlagFixedNewstyle | (no_zeroes ? kClientFlagNoZeroes : 0)));
    const std::string name = "vol";
    s.feed(option(kOptExportName, {name.begin(), name.end()}));
    ASSERT_TRUE(s.next_request().ok());
    EXPECT_TRUE(s.transmitting());
    const auto out = s.take_output();
    ASSERT_EQ(out.size(), no_zeroes ? 10u : 134u);
    EXPECT_EQ(load_be<uint64_t>(out.data()), uint64_t{1} << 20);
    EXPECT_EQ(load_be<uint16_t>(out.data() + 8) & kTxCanMultiConn, kTxCanMultiConn);
  }
}

TEST_F(NbdSessionTest, AnUnknownExportIsRefusedAndTheHandshakeGoesOn) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("nope")));
  feed(option(kOptGo, go_data("other")));
  EXPECT_FALSE(next().has_value());
  EXPECT_TRUE(session_.transmitting());
  EXPECT_EQ(session_.export_info().name, "other");
  const auto replies = option_replies(session_.take_output());
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0], (std::pair<uint32_t, uint32_t>{kOptGo, kRepErrUnknown}));
  EXPECT_EQ(replies[1], (std::pair<uint32_t, uint32_t>{kOptGo, kRepInfo}));
  EXPECT_EQ(replies[2], (std::pair<uint32_t, uint32_t>{kOptGo, kRepAck}));
}

TEST_F(NbdSessionTest, AnExportNameCanNameItsWriter) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("vol@web/3/0123abcd")));
  EXPECT_FALSE(next().has_value());
  ASSERT_TRUE(session_.transmitting());
  EXPECT_EQ(session_.export_info().name, "vol");
  ASSERT_TRUE(session_.writer().has_value());
  EXPECT_EQ(*session_.writer(), (WriterToken{"web", 3, "0123abcd"}));
}

TEST_F(NbdSessionTest, APlainExportNameNamesNoWriter) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("vol")));
  EXPECT_FALSE(next().has_value());
  ASSERT_TRUE(session_.transmitting());
  EXPECT_FALSE(session_.writer().has_value());
}

TEST_F(NbdSessionTest, AMalformedWriterTokenIsRefusedAndTheHandshakeGoesOn) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("vol@web/zero/0123abcd")));
  feed(option(kOptGo, go_data("@web/2/0123abcd")));
  EXPECT_FALSE(next().has_value());
  ASSERT_TRUE(session_.transmitting());
  EXPECT_EQ(session_.export_info().name, "vol");  // the empty name: the default export
  EXPECT_EQ(session_.writer()->generation, 2u);
  const auto replies = option_replies(session_.take_output());
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0], (std::pair<uint32_t, uint32_t>{kOptGo, kRepErrUnknown}));
}

TEST_F(NbdSessionTest, UnsupportedAndOutOfOrderOptionsAreRefused) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptStartTls, {}));
  feed(option(kOptSetMetaContext, {0, 0, 0, 0, 0, 0, 0, 0}));  // before structured replies
  feed(option(kOptList, {1}));                                 // LIST takes no data
  feed(option(999, {}));
  EXPECT_FALSE(next().has_value());
  const auto replies = option_replies(session_.take_output());
  ASSERT_EQ(replies.size(), 4u);
  EXPECT_EQ(replies[0].second, kRepErrUnsup);
  EXPECT_EQ(replies[1].second, kRepErrInvalid);
  EXPECT_EQ(replies[2].second, kRepErrInvalid);
  EXPECT_EQ(replies[3].second, kRepErrUnsup);
}

// An option's data over the bound is dropped as it arrives, never buffered, then refused.
TEST_F(NbdSessionTest, AnOversizeOptionIsDiscardedAndRefused) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  std::vector<uint8_t> header;
  put_be(header, kOptionMagic);
  put_be(header, uint32_t{kOptGo});
  put_be(header, uint32_t{1 << 20});
  feed(header);
  EXPECT_FALSE(next().has_value());
  for (int i = 0; i < 16; ++i) {
    feed(std::vector<uint8_t>(64 << 10, 'x'));
    EXPECT_FALSE(next().has_value());
    EXPECT_LT(session_.buffered_bytes(), 1024u);
  }
  feed(option(kOptGo, go_data("vol")));
  EXPECT_FALSE(next().has_value());
  EXPECT_TRUE(session_.transmitting());
  const auto replies = option_replies(session_.take_output());
  ASSERT_GE(replies.size(), 1u);
  EXPECT_EQ(replies[0], (std::pair<uint32_t, uint32_t>{kOptGo, kRepErrTooBig}));
}

TEST_F(NbdSessionTest, RequestsSplitIntoSingleBytesDecodeWhole) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("vol")));
  EXPECT_FALSE(next().has_value());
  const auto bytes = request(kCmdWrite, 4096, 5, {'h', 'e', 'l', 'l', 'o'});
  std::optional<NbdRequest> got;
  for (const uint8_t b : bytes) {
    EXPECT_FALSE(got.has_value());
    session_.feed(std::span<const uint8_t>(&b, 1));
    got = next();
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->type, kCmdWrite);
  EXPECT_EQ(got->cookie, 0xc00c1eu);
  EXPECT_EQ(got->offset, 4096u);
  EXPECT_EQ(got->payload, (std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(session_.check(*got), kOk);
}

// A server may receive the rest of a write's payload straight into the request.
TEST_F(NbdSessionTest, AWritePayloadCanBeReceivedInPlace) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("vol")));
  EXPECT_FALSE(next().has_value());
  auto bytes = request(kCmdWrite, 0, 6, {'a', 'b'});
  feed(bytes);
  EXPECT_FALSE(next().has_value());
  auto room = session_.payload_room();
  ASSERT_EQ(room.size(), 4u);
  room[0] = 'c';
  session_.payload_received(1);
  EXPECT_FALSE(next().has_value());
  EXPECT_EQ(session_.payload_room().size(), 3u);
  feed({'d', 'e', 'f'});  // the rest through feed(), as a server that mixes both would
  auto got = next();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->payload, (std::vector<uint8_t>{'a', 'b', 'c', 'd', 'e', 'f'}));
  EXPECT_TRUE(session_.payload_room().empty());
  EXPECT_EQ(session_.buffered_bytes(), 0u);
}

TEST_F(NbdSessionTest, AWriteOverTheMaximumPayloadEndsTheSession) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptGo, go_data("vol")));
  feed(request(kCmdWrite, 0, NbdSession::kMaxPayloadBytes + 1));
  auto r = session_.next_request();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("over the"), std::string::npos) << r.error().message;
  EXPECT_FALSE(session_.next_request().ok()) << "the end is final";
}

TEST_F(NbdSessionTest, StructuredRepliesCarryTheReadOffsetAndErrorMessages) {
  session_.take_output();
  feed(client_flags(kClientFlagFixedNewstyle));
  feed(option(kOptStructuredReply, {}));
  feed(option(kOptGo, go_data("vol")));
  EXPECT_FALSE(next().has_value());
  ASSERT_TRUE(session_.structured_replies());
  NbdRequest read{0, kCmdRead, 42, 512, 3, {}};
  const std::vector<uint8_t> data{1, 2, 3};
  const auto ok = session_.reply(read, kOk, data);
  ASSERT_EQ(ok.size(), 20u + 8 + 3);
  EXPECT_EQ(load_be<uint32_t>(ok.data()), kStructuredReplyMagic);
  EXPECT_EQ(load_be<uint16_t>(ok.data() + 4), kReplyFlagDone);
  EXPECT_EQ(load_be<uint16_t>(ok.data() + 6), kReplyTypeOffsetData);
  EXPECT_EQ(load_be<uint64_t>(ok.data() + 8), 42u);
  EXPECT_EQ(load_be<uint64_t>(ok.data() + 20), 512u);
  const auto error = session_.reply(read, kEinval, {}, "bad");
  EXPECT_EQ(load_be<uint16_t>(error.data() + 6), kReplyTypeError);
  EXPECT_EQ(load_be<uint32_t>(error.data() + 20), uint32_t{kEinval});
  EXPECT_EQ(std::string(error.end() - 3, error.end()), "bad");
}

}  // namespace
}  // namespace ftvm::disk

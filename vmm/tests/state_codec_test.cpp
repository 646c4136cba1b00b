#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "vmm/vcpu_state.h"

namespace ftvm {
namespace {

constexpr uint32_t kLstar = 0xc0000082;
constexpr uint64_t kLstarValue = 0xffffffff81a00040;

MachineState sample_state() {
  MachineState state{};
  state.vcpu.regs.rip = 0x1010d7;
  state.vcpu.regs.rax = 0x1122334455667788;
  state.vcpu.sregs.cs.selector = 0x33;
  state.vcpu.xsave.resize(4096);
  for (size_t i = 0; i < 512; ++i) state.vcpu.xsave[i] = uint8_t(i * 3 + 1);
  state.vcpu.xcrs.nr_xcrs = 1;
  state.vcpu.xcrs.xcrs[0] = {0, 0, 0x7};
  state.vcpu.debugregs.db[0] = 0x102000;
  state.vcpu.debugregs.dr6 = 0xffff0ff0;
  state.vcpu.debugregs.dr7 = 0x401;
  state.vcpu.msrs = {{0x174, 0x10}, {0x277, 0x0007040600070406}, {kLstar, kLstarValue}};
  state.devices.uart.scr = 0x5a;
  state.page_gpas = {0x1000, 0x7000};
  state.page_bytes.resize(2 * kStatePageBytes);
  for (size_t i = 0; i < state.page_bytes.size(); ++i) state.page_bytes[i] = uint8_t(i * 7);
  return state;
}

TEST(StateCodec, RoundTrips) {
  const MachineState state = sample_state();
  auto decoded = decode_state(encode_state(state));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->vcpu.regs.rip, state.vcpu.regs.rip);
  EXPECT_EQ(decoded->vcpu.regs.rax, state.vcpu.regs.rax);
  EXPECT_EQ(decoded->vcpu.sregs.cs.selector, 0x33);
  EXPECT_EQ(decoded->vcpu.xsave, state.vcpu.xsave);
  EXPECT_EQ(decoded->vcpu.xcrs.nr_xcrs, 1u);
  EXPECT_EQ(decoded->vcpu.xcrs.xcrs[0].value, 0x7u);
  EXPECT_EQ(decoded->vcpu.debugregs.db[0], 0x102000u);
  EXPECT_EQ(decoded->vcpu.debugregs.dr6, 0xffff0ff0u);
  EXPECT_EQ(decoded->vcpu.debugregs.dr7, 0x401u);
  EXPECT_EQ(decoded->vcpu.msrs, state.vcpu.msrs);
  EXPECT_EQ(decoded->devices.uart.scr, 0x5a);
  EXPECT_EQ(decoded->page_gpas, state.page_gpas);
  EXPECT_EQ(decoded->page_bytes, state.page_bytes);
}

// A host without XSAVE: no area, the FPU in kvm_fpu, no XCRs; and no MSRs at all.
TEST(StateCodec, RoundTripsWithoutXsaveOrMsrs) {
  MachineState state = sample_state();
  state.vcpu.xsave.clear();
  state.vcpu.xcrs = {};
  state.vcpu.msrs.clear();
  state.vcpu.fpu.mxcsr = 0x1f80;
  state.vcpu.fpu.xmm[0][0] = 0xab;
  auto decoded = decode_state(encode_state(state));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_TRUE(decoded->vcpu.xsave.empty());
  EXPECT_TRUE(decoded->vcpu.msrs.empty());
  EXPECT_EQ(decoded->vcpu.fpu.mxcsr, 0x1f80u);
  EXPECT_EQ(decoded->vcpu.fpu.xmm[0][0], 0xab);
  EXPECT_EQ(decoded->page_bytes, state.page_bytes);
}

std::vector<uint8_t> decompress(std::span<const uint8_t> blob) {
  const auto payload = blob.subspan(22);
  std::vector<uint8_t> raw(ZSTD_getFrameContentSize(payload.data(), payload.size()));
  EXPECT_EQ(ZSTD_decompress(raw.data(), raw.size(), payload.data(), payload.size()), raw.size());
  return raw;
}

// Where the sample state's MSR count lies in its serialized bytes: just before the first
// pair, which starts with the index 0x174 and is followed by the value 0x10.
size_t msr_count_offset(std::span<const uint8_t> raw) {
  const uint8_t first_pair[12] = {0x74, 0x01, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0};
  auto it = std::search(raw.begin(), raw.end(), std::begin(first_pair), std::end(first_pair));
  EXPECT_NE(it, raw.end());
  return size_t(it - raw.begin()) - 4;
}

std::string decode_error(std::span<const uint8_t> raw) {
  auto r = decode_state(seal_state_payload(raw));
  return r.ok() ? "decoded" : r.error().message;
}

TEST(StateCodec, SealedPayloadOfAnEncodedStateDecodes) {
  const auto raw = decompress(encode_state(sample_state()));
  auto decoded = decode_state(seal_state_payload(raw));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->vcpu.msrs, sample_state().vcpu.msrs);
}

TEST(StateCodec, RejectsATruncatedMsrList) {
  const auto raw = decompress(encode_state(sample_state()));
  const size_t count_at = msr_count_offset(raw);
  // Cut inside the second pair.
  EXPECT_NE(decode_error(std::span(raw).first(count_at + 4 + 12 + 5)).find("truncated (MSR list)"),
            std::string::npos);
  // A count within the bound but beyond the bytes there are is refused before allocating.
  auto claims_more = std::vector<uint8_t>(raw.begin(), raw.begin() + long(count_at) + 4 + 36);
  const uint32_t count = 1000;
  std::memcpy(claims_more.data() + count_at, &count, 4);
  EXPECT_NE(decode_error(claims_more).find("truncated (MSR list)"), std::string::npos);
}

TEST(StateCodec, RejectsAnOversizedMsrList) {
  auto raw = decompress(encode_state(sample_state()));
  const uint32_t huge = 0xffffffff;
  std::memcpy(raw.data() + msr_count_offset(raw), &huge, 4);
  EXPECT_NE(decode_error(raw).find("claims 4294967295 MSRs"), std::string::npos)
      << decode_error(raw);

  MachineState state = sample_state();
  state.vcpu.msrs.assign(kMaxStateMsrs + 1, {kLstar, 1});
  auto r = decode_state(encode_state(state));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("MSRs (at most"), std::string::npos) << r.error().message;
  state.vcpu.msrs.resize(kMaxStateMsrs);
  EXPECT_TRUE(decode_state(encode_state(state)).ok());
}

TEST(StateCodec, RejectsAnOversizedXsaveArea) {
  MachineState state = sample_state();
  state.vcpu.xsave.assign(kMaxStateXsaveBytes + 1, 0);
  auto r = decode_state(encode_state(state));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("XSAVE area"), std::string::npos) << r.error().message;
}

TEST(StateCodec, RejectsEveryTruncation) {
  const auto blob = encode_state(sample_state());
  for (size_t n = 0; n < blob.size(); ++n) {
    auto r = decode_state(std::span(blob).first(n));
    EXPECT_FALSE(r.ok()) << "truncated to " << n << " bytes";
  }
}

TEST(StateCodec, RejectsFlippedBitsWithAChecksumError) {
  const auto blob = encode_state(sample_state());
  for (size_t bit = 22 * 8; bit < blob.size() * 8; bit += 13) {
    auto copy = blob;
    copy[bit / 8] ^= uint8_t(1u << (bit % 8));
    auto r = decode_state(copy);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("checksum"), std::string::npos) << r.error().message;
  }
}

TEST(StateCodec, NamesWrongMagicAndVersion) {
  auto blob = encode_state(sample_state());
  auto bad_magic = blob;
  bad_magic[0] ^= 1;
  EXPECT_NE(decode_state(bad_magic).error().message.find("magic"), std::string::npos);
  auto bad_version = blob;
  bad_version[4] = 99;
  EXPECT_NE(decode_state(bad_version).error().message.find("version 99"), std::string::npos);
}

// Version 1 blobs (before XSAVE, debug registers and MSRs) are in older traces.
TEST(StateCodec, RefusesTheOlderFormatClearly) {
  auto blob = encode_state(sample_state());
  blob[4] = 1;
  const std::string message = decode_state(blob).error().message;
  EXPECT_NE(message.find("version 1 is from an older ftvm"), std::string::npos) << message;
  EXPECT_NE(message.find("again"), std::string::npos) << message;
}

// Flips a bit, truncates, or inserts a byte (`bytes` must not be empty).
void mutate(std::vector<uint8_t>& bytes, std::mt19937& random) {
  switch (random() % 3) {
    case 0:
      bytes[random() % bytes.size()] ^= uint8_t(1u << (random() % 8));
      break;
    case 1:
      bytes.resize(random() % bytes.size());
      break;
    default:
      bytes.insert(bytes.begin() + long(random() % bytes.size()), uint8_t(random()));
      break;
  }
}

// The same body as the libFuzzer target (vmm/fuzz/state_fuzzer.cpp), over deterministic
// mutations, so that every CI run exercises the decoder with hostile bytes.
TEST(StateCodec, SurvivesRandomMutations) {
  const auto blob = encode_state(sample_state());
  std::mt19937 random(42);
  for (int i = 0; i < 5000; ++i) {
    auto copy = blob;
    mutate(copy, random);
    (void)decode_state(copy);
  }
}

// As above, but mutating the serialized bytes and sealing them again, so that the mutations
// reach the parser instead of stopping at the checksum.
TEST(StateCodec, SurvivesRandomMutationsBehindAValidChecksum) {
  const auto raw = decompress(encode_state(sample_state()));
  std::mt19937 random(7);
  for (int i = 0; i < 3000; ++i) {
    auto copy = raw;
    for (int n = int(random() % 4); n >= 0 && !copy.empty(); --n) mutate(copy, random);
    (void)decode_state(seal_state_payload(copy));
  }
}

}  // namespace
}  // namespace ftvm

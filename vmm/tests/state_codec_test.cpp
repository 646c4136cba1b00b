#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "vmm/vcpu_state.h"

namespace ftvm {
namespace {

MachineState sample_state() {
  MachineState state{};
  state.vcpu.regs.rip = 0x1010d7;
  state.vcpu.regs.rax = 0x1122334455667788;
  state.vcpu.sregs.cs.selector = 0x33;
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
  EXPECT_EQ(decoded->devices.uart.scr, 0x5a);
  EXPECT_EQ(decoded->page_gpas, state.page_gpas);
  EXPECT_EQ(decoded->page_bytes, state.page_bytes);
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

// The same body as the libFuzzer target (vmm/fuzz/state_fuzzer.cpp), over deterministic
// mutations, so that every CI run exercises the decoder with hostile bytes.
TEST(StateCodec, SurvivesRandomMutations) {
  const auto blob = encode_state(sample_state());
  std::mt19937 random(42);
  for (int i = 0; i < 5000; ++i) {
    auto copy = blob;
    switch (random() % 3) {
      case 0:
        copy[random() % copy.size()] ^= uint8_t(1u << (random() % 8));
        break;
      case 1:
        copy.resize(random() % copy.size());
        break;
      default:
        copy.insert(copy.begin() + long(random() % copy.size()), uint8_t(random()));
        break;
    }
    (void)decode_state(copy);
  }
}

}  // namespace
}  // namespace ftvm

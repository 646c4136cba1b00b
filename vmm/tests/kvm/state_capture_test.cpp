// Captures vCPU state from a real KVM vCPU after setting state the basic registers do not hold
// (an MSR, debug registers, XCR0, an XSAVE component), loads it into a fresh VM's vCPU through
// the state blob, and reads the same values back.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <vector>

#include "kvm_gate.h"
#include "vmm/devices/time_source.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

constexpr uint32_t kLstar = 0xc0000082;
constexpr uint64_t kLstarValue = 0xffffffff81a00040;
// Offsets in the (non-compacted) XSAVE area, as the SDM and KVM's uapi define them.
constexpr size_t kXmm0Offset = 160;
constexpr size_t kXstateBvOffset = 512;
constexpr size_t kXsaveDataOffset = 576;  // after the 64-byte XSAVE header
constexpr uint64_t kXfeatureX87 = 1;
constexpr uint64_t kXfeatureSse = 2;
constexpr std::array<uint8_t, 16> kXmm0 = {0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
                                           0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

uint64_t xstate_bv(const std::vector<uint8_t>& area) {
  uint64_t bv = 0;
  std::memcpy(&bv, area.data() + kXstateBvOffset, sizeof(bv));
  return bv;
}

// "" when equal, else where the first difference is and the 8 bytes from there on each side.
std::string first_difference(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want) {
  const size_t n = std::min(got.size(), want.size());
  size_t at = 0;
  while (at < n && got[at] == want[at]) ++at;
  if (at == n && got.size() == want.size()) return "";
  auto bytes = [at](const std::vector<uint8_t>& v) {
    std::string out;
    for (size_t i = at; i < std::min(v.size(), at + 8); ++i) out += fmt::format("{:02x}", v[i]);
    return out;
  };
  return fmt::format("first difference at byte {} of {}/{}: {} vs {}", at, got.size(), want.size(),
                     bytes(got), bytes(want));
}

class NullConsole : public ConsoleSink {
 public:
  void write(std::span<const uint8_t>) override {}
};

class StateCaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (accel_ == Accel::kKvm) FTVM_REQUIRE_KVM();
    std::ifstream in(std::string(FTVM_TINY_GUEST_DIR) + "/pio_mmio.elf", std::ios::binary);
    ASSERT_TRUE(in.good()) << "missing test guest pio_mmio.elf";
    image_.assign(std::istreambuf_iterator<char>(in), {});
  }

  // A booted VM that has not run: its vCPU holds what the boot code set.
  std::unique_ptr<Vm> create_vm() {
    VmConfig config;
    config.mem_bytes = 8 << 20;
    config.image = image_;
    config.image_name = "pio_mmio.elf";
    config.accel = accel_;
    auto vm = Vm::create(config, time_, console_);
    EXPECT_TRUE(vm.ok()) << vm.error().message;
    return vm ? std::move(*vm) : nullptr;
  }

  Accel accel_ = Accel::kKvm;
  // Encodes `state`, decodes it, loads it into a fresh VM and captures that VM's vCPU again.
  std::optional<VcpuRegisters> through_blob_into_a_fresh_vm(const MachineState& state) {
    auto decoded = decode_state(encode_state(state));
    EXPECT_TRUE(decoded.ok()) << decoded.error().message;
    auto target = create_vm();
    if (!decoded || target == nullptr) return std::nullopt;
    auto loaded = load_state(*decoded, target->vcpu(), target->platform(), target->memory());
    EXPECT_TRUE(loaded.ok()) << loaded.error().message;
    auto again = capture_registers(target->vcpu());
    EXPECT_TRUE(again.ok()) << again.error().message;
    if (!loaded || !again) return std::nullopt;
    return *again;
  }

  std::vector<uint8_t> image_;
  HostTimeSource time_;
  NullConsole console_;
};

uint64_t msr(const VcpuRegisters& registers, uint32_t index) {
  for (const auto& m : registers.msrs) {
    if (m.index == index) return m.value;
  }
  ADD_FAILURE() << "MSR " << std::hex << index << " was not captured";
  return 0;
}

TEST_F(StateCaptureTest, XsaveDebugRegistersAndMsrsSurviveCaptureAndLoad) {
  auto source = create_vm();
  ASSERT_NE(source, nullptr);
  Vcpu& vcpu = source->vcpu();
  const bool has_xsave = vcpu.state_support().xsave_bytes != 0;

  const kvm_msr_entry lstar{kLstar, 0, kLstarValue};
  ASSERT_TRUE(vcpu.set_msrs({&lstar, 1}).ok());

  kvm_debugregs debugregs{};
  debugregs.db[0] = 0x102000;
  debugregs.db[3] = 0x7fff0000;
  debugregs.dr6 = 0xffff0ff0;
  debugregs.dr7 = 0x401;  // L0: breakpoint 0 enabled; bit 10 is always 1
  ASSERT_TRUE(vcpu.set_debugregs(debugregs).ok());

  if (has_xsave) {
    auto xcrs = vcpu.get_xcrs();
    ASSERT_TRUE(xcrs.ok()) << xcrs.error().message;
    ASSERT_EQ(xcrs->nr_xcrs, 1u);
    xcrs->xcrs[0].value = kXfeatureX87 | kXfeatureSse;
    ASSERT_TRUE(vcpu.set_xcrs(*xcrs).ok());

    auto xsave = vcpu.get_xsave();
    ASSERT_TRUE(xsave.ok()) << xsave.error().message;
    std::memcpy(xsave->data() + kXmm0Offset, kXmm0.data(), kXmm0.size());
    uint64_t xstate_bv = 0;
    std::memcpy(&xstate_bv, xsave->data() + kXstateBvOffset, 8);
    xstate_bv |= kXfeatureSse;  // else XRSTOR would put SSE in its initial (zero) state
    std::memcpy(xsave->data() + kXstateBvOffset, &xstate_bv, 8);
    auto set = vcpu.set_xsave(*xsave);
    ASSERT_TRUE(set.ok()) << set.error().message;
  }

  auto captured = capture_state(vcpu, source->platform(), source->memory(), {});
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  EXPECT_EQ(msr(captured->vcpu, kLstar), kLstarValue);
  EXPECT_EQ(captured->vcpu.debugregs.db[0], 0x102000u);
  EXPECT_EQ(captured->vcpu.debugregs.dr7, 0x401u);
  for (const auto& m : captured->vcpu.msrs) {
    EXPECT_NE(m.index, 0x10u) << "IA32_TSC must not be captured";
  }
  ASSERT_EQ(captured->vcpu.xsave.empty(), !has_xsave);

  const std::optional<VcpuRegisters> again = through_blob_into_a_fresh_vm(*captured);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->msrs, captured->vcpu.msrs);
  EXPECT_EQ(msr(*again, kLstar), kLstarValue);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(again->debugregs.db[i], debugregs.db[i]) << "DR" << i;
  EXPECT_EQ(again->debugregs.dr7, debugregs.dr7);
  EXPECT_EQ(again->debugregs.dr6, captured->vcpu.debugregs.dr6);
  EXPECT_EQ(std::memcmp(&again->regs, &captured->vcpu.regs, sizeof(kvm_regs)), 0);
  if (has_xsave) {
    ASSERT_EQ(again->xsave.size(), captured->vcpu.xsave.size());
    EXPECT_TRUE(std::equal(kXmm0.begin(), kXmm0.end(), again->xsave.begin() + kXmm0Offset));
    // The XSAVE header's XSTATE_BV may come back with more components marked in use (kvm_amd
    // under QEMU: 0x207 for 0x2), whose data KVM wrote out at their initial values: the same
    // state. So the header is compared by "every component in use stays in use", the rest
    // of the area byte for byte.
    auto without_header = [](std::vector<uint8_t> area) {
      for (size_t i = kXstateBvOffset; i < std::min(area.size(), kXsaveDataOffset); ++i)
        area[i] = 0;
      return area;
    };
    EXPECT_EQ(first_difference(without_header(again->xsave), without_header(captured->vcpu.xsave)),
              std::string())
        << "the XSAVE area read back differs from the one loaded";
    const uint64_t loaded_bv = xstate_bv(captured->vcpu.xsave), read_bv = xstate_bv(again->xsave);
    EXPECT_EQ(read_bv & loaded_bv, loaded_bv)
        << fmt::format("XSTATE_BV {:#x} read back after loading {:#x}", read_bv, loaded_bv);
    EXPECT_EQ(again->xcrs.nr_xcrs, 1u);
    EXPECT_EQ(again->xcrs.xcrs[0].value, kXfeatureX87 | kXfeatureSse);
  }
}

// A loader takes the pairs the blob has, whatever list the capturing build used.
TEST_F(StateCaptureTest, LoadsAShorterMsrListThanItCaptures) {
  auto vm = create_vm();
  ASSERT_NE(vm, nullptr);
  auto registers = capture_registers(vm->vcpu());
  ASSERT_TRUE(registers.ok()) << registers.error().message;
  ASSERT_GT(registers->msrs.size(), 1u);
  registers->msrs = {{kLstar, kLstarValue}};
  ASSERT_TRUE(load_registers(vm->vcpu(), *registers).ok());
  auto again = capture_registers(vm->vcpu());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(msr(*again, kLstar), kLstarValue);
}

// The software CPU keeps no XSAVE area: its state is the FPU's (x87 stack, XMM, MXCSR), its
// guest debug registers and the MSRs Unicorn reads and writes. All of it must come back from
// a capture loaded into a fresh vCPU, or a checkpoint would resume a different machine.
class EmuStateCaptureTest : public StateCaptureTest {
 protected:
  void SetUp() override {
    accel_ = Accel::kEmu;
    StateCaptureTest::SetUp();
  }
};

TEST_F(EmuStateCaptureTest, FpuDebugRegistersAndMsrsSurviveCaptureAndLoad) {
  auto source = create_vm();
  ASSERT_NE(source, nullptr);
  Vcpu& vcpu = source->vcpu();
  EXPECT_EQ(vcpu.state_support().xsave_bytes, 0u);
  const auto& msrs = vcpu.state_support().msr_indices;
  ASSERT_TRUE(std::binary_search(msrs.begin(), msrs.end(), kLstar)) << "LSTAR not offered";
  const kvm_msr_entry lstar{kLstar, 0, kLstarValue};
  ASSERT_TRUE(vcpu.set_msrs({&lstar, 1}).ok());

  kvm_debugregs debugregs{};
  debugregs.db[1] = 0x102000;
  debugregs.dr7 = 0x404;
  ASSERT_TRUE(vcpu.set_debugregs(debugregs).ok());

  auto fpu = vcpu.get_fpu();
  ASSERT_TRUE(fpu.ok()) << fpu.error().message;
  std::memcpy(fpu->xmm[0], kXmm0.data(), kXmm0.size());
  std::memcpy(fpu->xmm[15], kXmm0.data(), kXmm0.size());
  fpu->mxcsr = 0x1f80 | 0x6000;  // round toward zero
  fpu->fcw = 0x027f;             // double precision
  // One value pushed on the x87 stack: TOP = 7, register 7 in use, ST(0) = 1.0.
  fpu->fsw = 7 << 11;
  fpu->ftwx = 0x80;
  const uint8_t one[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f};
  std::memcpy(fpu->fpr[0], one, sizeof(one));
  ASSERT_TRUE(vcpu.set_fpu(*fpu).ok());

  auto captured = capture_state(vcpu, source->platform(), source->memory(), {});
  ASSERT_TRUE(captured.ok()) << captured.error().message;
  const std::optional<VcpuRegisters> again = through_blob_into_a_fresh_vm(*captured);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(msr(*again, kLstar), kLstarValue);
  EXPECT_EQ(again->msrs, captured->vcpu.msrs);
  EXPECT_EQ(again->debugregs.db[1], 0x102000u);
  EXPECT_EQ(again->debugregs.dr7, 0x404u);
  EXPECT_EQ(std::memcmp(again->fpu.xmm[0], kXmm0.data(), 16), 0);
  EXPECT_EQ(std::memcmp(again->fpu.xmm[15], kXmm0.data(), 16), 0);
  EXPECT_EQ(again->fpu.mxcsr, 0x7f80u);
  EXPECT_EQ(again->fpu.fcw, 0x027fu);
  EXPECT_EQ((again->fpu.fsw >> 11) & 7, 7);
  EXPECT_EQ(again->fpu.ftwx, 0x80);
  EXPECT_EQ(std::memcmp(again->fpu.fpr[0], one, sizeof(one)), 0);
  EXPECT_EQ(std::memcmp(&again->regs, &captured->vcpu.regs, sizeof(kvm_regs)), 0);
  EXPECT_EQ(std::memcmp(&again->sregs, &captured->vcpu.sregs, sizeof(kvm_sregs)), 0);
}

}  // namespace
}  // namespace ftvm

#include "vmm/boot.h"

#include <gtest/gtest.h>

#include "testsvc/abi.h"

namespace ftvm {
namespace {

namespace abi = testsvc::abi;

uint64_t read_u64(const GuestMemory& memory, uint64_t gpa) {
  uint64_t value = 0;
  EXPECT_TRUE(memory.read(gpa, {reinterpret_cast<uint8_t*>(&value), 8}).ok());
  return value;
}

// Walks the guest page tables the way the MMU would, for a 2 MiB mapping.
uint64_t translate(const GuestMemory& memory, uint64_t cr3, uint64_t va) {
  const uint64_t pml4e = read_u64(memory, cr3 + ((va >> 39) & 511) * 8);
  EXPECT_TRUE(pml4e & 1);
  const uint64_t pdpte = read_u64(memory, (pml4e & ~0xfffull) + ((va >> 30) & 511) * 8);
  EXPECT_TRUE(pdpte & 1);
  const uint64_t pde = read_u64(memory, (pdpte & ~0xfffull) + ((va >> 21) & 511) * 8);
  EXPECT_TRUE(pde & 1);
  EXPECT_TRUE(pde & (1 << 7)) << "2 MiB page";
  return (pde & ~0x1fffffull) + (va & 0x1fffff);
}

TEST(Boot, BuildsAnIdentityMapAndLongModeState) {
  auto memory = GuestMemory::allocate(8 << 20);
  ASSERT_TRUE(memory.ok());
  auto state = prepare_long_mode_boot(*memory, 0x100123, kvm_sregs{});
  ASSERT_TRUE(state.ok()) << state.error().message;
  const auto& s = state->sregs;
  EXPECT_EQ(s.cr3, abi::kPageTablesGpa);
  EXPECT_TRUE(s.cr0 & (1ull << 31)) << "paging";
  EXPECT_TRUE(s.cr0 & 1) << "protected mode";
  EXPECT_TRUE(s.cr4 & (1 << 5)) << "PAE";
  EXPECT_EQ(s.efer & 0x500, 0x500u) << "LME and LMA";
  EXPECT_EQ(s.cs.l, 1);
  EXPECT_EQ(s.cs.db, 0);
  EXPECT_EQ(s.cs.selector, abi::kBootCodeSelector);
  EXPECT_EQ(s.ss.selector, abi::kBootDataSelector);
  for (uint64_t va : {0x0ull, 0x100123ull, 0x7fffffull, 0xd0000010ull, 0xffffffffull}) {
    EXPECT_EQ(translate(*memory, s.cr3, va), va) << std::hex << va;
  }
  EXPECT_EQ(state->regs.rip, 0x100123u);
  EXPECT_EQ(state->regs.rsp, abi::kBootStackTop);
  EXPECT_EQ(state->regs.rdi, abi::kBootInfoGpa);
  EXPECT_EQ(state->regs.rflags & (1 << 9), 0u) << "interrupts off until the guest has an IDT";
}

TEST(Boot, WritesBootInfo) {
  auto memory = GuestMemory::allocate(8 << 20);
  ASSERT_TRUE(memory.ok());
  ASSERT_TRUE(prepare_long_mode_boot(*memory, 0x100000, kvm_sregs{}).ok());
  abi::BootInfo info{};
  ASSERT_TRUE(
      memory->read(abi::kBootInfoGpa, {reinterpret_cast<uint8_t*>(&info), sizeof(info)}).ok());
  EXPECT_EQ(info.magic, abi::kBootInfoMagic);
  EXPECT_EQ(info.abi_version, abi::kAbiVersion);
  EXPECT_EQ(info.mem_bytes, 8u << 20);
}

TEST(Boot, RefusesMemoryTooSmallForTheBootStructures) {
  auto memory = GuestMemory::allocate(64 << 10);
  ASSERT_TRUE(memory.ok());
  EXPECT_FALSE(prepare_long_mode_boot(*memory, 0x1000, kvm_sregs{}).ok());
}

}  // namespace
}  // namespace ftvm

// Checks the built guest image: what the VMM's ELF loader relies on, and the determinism rules
// that can be checked statically (no instruction that reads host time or randomness, no FPU/
// SSE state that the context switch would not save).

#include <capstone/capstone.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "testsvc/abi.h"

namespace {

class TestsvcImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream file(TESTSVC_GUEST_ELF, std::ios::binary);
    ASSERT_TRUE(file) << "cannot open " << TESTSVC_GUEST_ELF;
    image_.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    ASSERT_GE(image_.size(), sizeof(Elf64_Ehdr));
    std::memcpy(&header_, image_.data(), sizeof(header_));
  }

  std::vector<Elf64_Phdr> ProgramHeaders() const {
    std::vector<Elf64_Phdr> headers(header_.e_phnum);
    for (size_t i = 0; i < headers.size(); ++i) {
      const size_t offset = header_.e_phoff + i * header_.e_phentsize;
      EXPECT_LE(offset + sizeof(Elf64_Phdr), image_.size());
      if (offset + sizeof(Elf64_Phdr) > image_.size()) return {};
      std::memcpy(&headers[i], image_.data() + offset, sizeof(Elf64_Phdr));
    }
    return headers;
  }

  std::vector<Elf64_Shdr> SectionHeaders() const {
    std::vector<Elf64_Shdr> headers(header_.e_shnum);
    for (size_t i = 0; i < headers.size(); ++i) {
      const size_t offset = header_.e_shoff + i * header_.e_shentsize;
      EXPECT_LE(offset + sizeof(Elf64_Shdr), image_.size());
      if (offset + sizeof(Elf64_Shdr) > image_.size()) return {};
      std::memcpy(&headers[i], image_.data() + offset, sizeof(Elf64_Shdr));
    }
    return headers;
  }

  std::vector<uint8_t> image_;
  Elf64_Ehdr header_{};
};

TEST_F(TestsvcImageTest, IsAStaticX8664Executable) {
  EXPECT_EQ(std::memcmp(header_.e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(header_.e_ident[EI_CLASS], ELFCLASS64);
  EXPECT_EQ(header_.e_ident[EI_DATA], ELFDATA2LSB);
  EXPECT_EQ(header_.e_type, ET_EXEC);
  EXPECT_EQ(header_.e_machine, EM_X86_64);
  EXPECT_EQ(header_.e_phentsize, sizeof(Elf64_Phdr));
}

TEST_F(TestsvcImageTest, LoadSegmentsSitAtOrAboveOneMiBIdentityMapped) {
  int loads = 0;
  bool entry_is_executable = false;
  for (const Elf64_Phdr& ph : ProgramHeaders()) {
    EXPECT_NE(ph.p_type, static_cast<uint32_t>(PT_INTERP));
    EXPECT_NE(ph.p_type, static_cast<uint32_t>(PT_DYNAMIC));
    EXPECT_NE(ph.p_type, static_cast<uint32_t>(PT_TLS));
    if (ph.p_type != PT_LOAD) continue;
    ++loads;
    EXPECT_EQ(ph.p_vaddr, ph.p_paddr);
    EXPECT_GE(ph.p_paddr, testsvc::abi::kGuestImageMinGpa);
    EXPECT_LE(ph.p_filesz, ph.p_memsz);
    EXPECT_LE(ph.p_offset + ph.p_filesz, image_.size());
    // Small enough for the smallest RAM `ftvm run --mem` accepts (4 MiB).
    EXPECT_LE(ph.p_paddr + ph.p_memsz, 4u << 20);
    if ((ph.p_flags & PF_X) != 0 && header_.e_entry >= ph.p_vaddr &&
        header_.e_entry < ph.p_vaddr + ph.p_memsz) {
      entry_is_executable = true;
    }
  }
  EXPECT_GT(loads, 0);
  EXPECT_TRUE(entry_is_executable) << "entry 0x" << std::hex << header_.e_entry;
}

TEST_F(TestsvcImageTest, HasNoForbiddenInstructions) {
  // Nondeterministic (host time, randomness, host CPU identity/counters) or, for `int n`,
  // not deliverable on every KVM host (see yield_trap in isr.S). int3 is allowed: it is the
  // padding between interrupt stubs.
  const std::set<std::string> kForbiddenMnemonics = {"rdtsc", "rdtscp", "rdrand", "rdseed", "rdpmc",
                                                     "rdpid", "cpuid",  "int",    "into"};
  const std::set<uint8_t> kFpuSimdGroups = {
      X86_GRP_3DNOW, X86_GRP_AVX,   X86_GRP_AVX2,  X86_GRP_AVX512, X86_GRP_F16C,
      X86_GRP_FMA,   X86_GRP_FMA4,  X86_GRP_MMX,   X86_GRP_SSE1,   X86_GRP_SSE2,
      X86_GRP_SSE3,  X86_GRP_SSE41, X86_GRP_SSE42, X86_GRP_SSE4A,  X86_GRP_SSSE3,
      X86_GRP_XOP,   X86_GRP_FPU,   X86_GRP_AES,   X86_GRP_SHA,    X86_GRP_PCLMUL};

  csh handle;
  ASSERT_EQ(cs_open(CS_ARCH_X86, CS_MODE_64, &handle), CS_ERR_OK);
  ASSERT_EQ(cs_option(handle, CS_OPT_DETAIL, CS_OPT_ON), CS_ERR_OK);

  size_t checked = 0;
  for (const Elf64_Shdr& sh : SectionHeaders()) {
    if ((sh.sh_flags & SHF_EXECINSTR) == 0 || sh.sh_type != SHT_PROGBITS) continue;
    ASSERT_LE(sh.sh_offset + sh.sh_size, image_.size());
    const uint8_t* code = image_.data() + sh.sh_offset;
    size_t size = sh.sh_size;
    uint64_t address = sh.sh_addr;
    cs_insn* insn = cs_malloc(handle);
    while (size > 0) {
      const uint64_t at = address;
      if (!cs_disasm_iter(handle, &code, &size, &address, insn)) {
        ADD_FAILURE() << "undecodable bytes at 0x" << std::hex << at;
        ++code;
        --size;
        ++address;
        continue;
      }
      ++checked;
      const std::string where = std::string(insn->mnemonic) + " " + insn->op_str + " at 0x";
      EXPECT_EQ(kForbiddenMnemonics.count(insn->mnemonic), 0u) << where << std::hex << at;
      const cs_detail* detail = insn->detail;
      for (uint8_t i = 0; i < detail->groups_count; ++i) {
        EXPECT_EQ(kFpuSimdGroups.count(detail->groups[i]), 0u)
            << "FPU/SIMD " << where << std::hex << at;
      }
      for (uint8_t i = 0; i < detail->x86.op_count; ++i) {
        const cs_x86_op& op = detail->x86.operands[i];
        if (op.type != X86_OP_REG) continue;
        const std::string reg = cs_reg_name(handle, op.reg);
        for (const char* prefix : {"xmm", "ymm", "zmm", "mm", "st"}) {
          EXPECT_NE(reg.rfind(prefix, 0), 0u) << "FPU/SIMD register " << where << std::hex << at;
        }
      }
    }
    cs_free(insn, 1);
  }
  cs_close(&handle);
  EXPECT_GT(checked, 1000u);
}

}  // namespace

#include "vmm/elf_loader.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ftvm {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr LoadLimits kLimits{kMiB, 16 * kMiB};

// Builds a minimal static x86-64 executable with the given loadable segments.
struct ElfBuilder {
  struct Seg {
    uint64_t paddr;
    std::vector<uint8_t> bytes;
    uint64_t memsz;
    uint32_t flags = PF_R | PF_X;
  };
  Elf64_Ehdr header{};
  std::vector<Seg> segments;

  ElfBuilder() {
    std::memcpy(header.e_ident, ELFMAG, SELFMAG);
    header.e_ident[EI_CLASS] = ELFCLASS64;
    header.e_ident[EI_DATA] = ELFDATA2LSB;
    header.e_ident[EI_VERSION] = EV_CURRENT;
    header.e_type = ET_EXEC;
    header.e_machine = EM_X86_64;
    header.e_version = EV_CURRENT;
    header.e_entry = kMiB;
    header.e_phoff = sizeof(Elf64_Ehdr);
    header.e_ehsize = sizeof(Elf64_Ehdr);
    header.e_phentsize = sizeof(Elf64_Phdr);
  }

  std::vector<uint8_t> build() {
    header.e_phnum = static_cast<uint16_t>(segments.size());
    std::vector<uint8_t> file(sizeof(Elf64_Ehdr) + segments.size() * sizeof(Elf64_Phdr));
    std::memcpy(file.data(), &header, sizeof(header));
    for (size_t i = 0; i < segments.size(); ++i) {
      Elf64_Phdr ph{};
      ph.p_type = PT_LOAD;
      ph.p_flags = segments[i].flags;
      ph.p_offset = file.size();
      ph.p_vaddr = ph.p_paddr = segments[i].paddr;
      ph.p_filesz = segments[i].bytes.size();
      ph.p_memsz = segments[i].memsz;
      std::memcpy(file.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &ph, sizeof(ph));
      file.insert(file.end(), segments[i].bytes.begin(), segments[i].bytes.end());
    }
    return file;
  }
};

ElfBuilder one_segment() {
  ElfBuilder b;
  b.segments.push_back({kMiB, {0xf4, 0xeb, 0xfd}, 0x2000});
  return b;
}

std::string error_of(const std::vector<uint8_t>& file) {
  auto r = parse_elf64(file, kLimits);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message;
}

TEST(ElfLoader, ParsesAndLoadsAGoodImage) {
  auto file = one_segment().build();
  auto image = parse_elf64(file, kLimits);
  ASSERT_TRUE(image.ok()) << image.error().message;
  EXPECT_EQ(image->entry, kMiB);
  ASSERT_EQ(image->segments.size(), 1u);
  EXPECT_EQ(image->segments[0].memory_bytes, 0x2000u);

  auto memory = GuestMemory::allocate(16 * kMiB);
  ASSERT_TRUE(memory.ok());
  auto dirty = memory->span(kMiB, 0x2000);
  std::memset(dirty->data(), 0xaa, 0x2000);
  ASSERT_TRUE(load_elf64(*image, file, *memory).ok());
  EXPECT_EQ((*dirty)[0], 0xf4);
  EXPECT_EQ((*dirty)[2], 0xfd);
  EXPECT_EQ((*dirty)[3], 0) << "bss tail must be zero-filled";
  EXPECT_EQ((*dirty)[0x1fff], 0);
}

TEST(ElfLoader, RejectsTinyAndNonElfFiles) {
  EXPECT_NE(error_of({}).find("only 0 bytes"), std::string::npos);
  std::vector<uint8_t> junk(200, 'x');
  EXPECT_NE(error_of(junk).find("bad magic"), std::string::npos);
}

TEST(ElfLoader, RejectsWrongClassMachineAndType) {
  auto b = one_segment();
  b.header.e_ident[EI_CLASS] = ELFCLASS32;
  EXPECT_NE(error_of(b.build()).find("ELF64"), std::string::npos);
  b = one_segment();
  b.header.e_machine = EM_AARCH64;
  EXPECT_NE(error_of(b.build()).find("not x86-64"), std::string::npos);
  b = one_segment();
  b.header.e_type = ET_DYN;
  EXPECT_NE(error_of(b.build()).find("ET_EXEC"), std::string::npos);
}

TEST(ElfLoader, RejectsProgramHeadersOutsideTheFile) {
  auto b = one_segment();
  b.header.e_phoff = ~0ull - 8;  // offset + size would wrap
  EXPECT_NE(error_of(b.build()).find("outside the file"), std::string::npos);
}

TEST(ElfLoader, RejectsTruncatedSegmentData) {
  auto file = one_segment().build();
  file.resize(file.size() - 1);
  EXPECT_NE(error_of(file).find("outside the"), std::string::npos);
}

TEST(ElfLoader, RejectsSegmentsOutsideMemoryOrBelowTheMinimum) {
  auto b = one_segment();
  b.segments[0].paddr = 0x1000;
  b.header.e_entry = 0x1000;
  EXPECT_NE(error_of(b.build()).find("boot structures"), std::string::npos);

  b = one_segment();
  b.segments[0].memsz = 16 * kMiB;  // from 1 MiB: ends past RAM
  EXPECT_NE(error_of(b.build()).find("does not fit"), std::string::npos);

  b = one_segment();
  b.segments[0].paddr = ~0ull - 0x10;  // paddr + memsz wraps
  b.header.e_entry = b.segments[0].paddr;
  EXPECT_NE(error_of(b.build()).find("does not fit"), std::string::npos);
}

TEST(ElfLoader, RejectsFileSizeLargerThanMemorySize) {
  auto b = one_segment();
  b.segments[0].memsz = 1;
  EXPECT_NE(error_of(b.build()).find("exceeds memory size"), std::string::npos);
}

TEST(ElfLoader, RejectsOverlappingSegments) {
  auto b = one_segment();
  b.segments.push_back({kMiB + 0x1000, {1, 2, 3}, 0x100, PF_R});
  EXPECT_NE(error_of(b.build()).find("overlaps"), std::string::npos);
}

TEST(ElfLoader, RejectsEntryOutsideExecutableSegments) {
  auto b = one_segment();
  b.header.e_entry = 4 * kMiB;
  EXPECT_NE(error_of(b.build()).find("entry point"), std::string::npos);
  b = one_segment();
  b.segments[0].flags = PF_R | PF_W;
  EXPECT_NE(error_of(b.build()).find("entry point"), std::string::npos);
}

TEST(ElfLoader, RejectsImagesWithoutLoadableSegments) {
  ElfBuilder b;
  EXPECT_NE(error_of(b.build()).find("no loadable segments"), std::string::npos);
}

}  // namespace
}  // namespace ftvm

#include "vmm/elf_loader.h"

#include <elf.h>
#include <fmt/format.h>

#include <cstring>

namespace ftvm {
namespace {

bool range_within(uint64_t offset, uint64_t length, uint64_t total) {
  return offset <= total && length <= total - offset;
}

Result<Elf64_Ehdr> read_header(std::span<const uint8_t> file) {
  Elf64_Ehdr header;
  if (file.size() < sizeof(header)) {
    return make_error(fmt::format("not an ELF file: only {} bytes, an ELF64 header needs {}",
                                  file.size(), sizeof(header)));
  }
  std::memcpy(&header, file.data(), sizeof(header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0) {
    return make_error("not an ELF file: bad magic (expected 0x7f 'E' 'L' 'F')");
  }
  if (header.e_ident[EI_CLASS] != ELFCLASS64) {
    return make_error("not an ELF64 image: ftvm boots 64-bit kernels only (ELF class is not 64)");
  }
  if (header.e_ident[EI_DATA] != ELFDATA2LSB) {
    return make_error("ELF image is not little-endian");
  }
  if (header.e_machine != EM_X86_64) {
    return make_error(
        fmt::format("ELF image is for machine {}, not x86-64 ({})", header.e_machine, EM_X86_64));
  }
  if (header.e_type != ET_EXEC) {
    return make_error(
        "ELF image is not a static executable (ET_EXEC); link the kernel with -static -no-pie");
  }
  if (header.e_phentsize != sizeof(Elf64_Phdr)) {
    return make_error(fmt::format("ELF program header size is {}, expected {}", header.e_phentsize,
                                  sizeof(Elf64_Phdr)));
  }
  if (!range_within(header.e_phoff, uint64_t{header.e_phnum} * sizeof(Elf64_Phdr), file.size())) {
    return make_error("ELF program header table lies outside the file (truncated image?)");
  }
  return header;
}

Result<ElfSegment> check_segment(const Elf64_Phdr& ph, size_t index, uint64_t file_size,
                                 const LoadLimits& limits) {
  if (ph.p_filesz > ph.p_memsz) {
    return make_error(fmt::format("ELF segment {}: file size {:#x} exceeds memory size {:#x}",
                                  index, ph.p_filesz, ph.p_memsz));
  }
  if (!range_within(ph.p_offset, ph.p_filesz, file_size)) {
    return make_error(fmt::format(
        "ELF segment {}: file bytes {:#x}+{:#x} lie outside the {}-byte file (truncated image?)",
        index, ph.p_offset, ph.p_filesz, file_size));
  }
  if (ph.p_paddr < limits.min_gpa) {
    return make_error(fmt::format(
        "ELF segment {} at {:#x} is below {:#x}, where ftvm keeps boot structures; link the "
        "kernel at or above {:#x}",
        index, ph.p_paddr, limits.min_gpa, limits.min_gpa));
  }
  if (!range_within(ph.p_paddr, ph.p_memsz, limits.ram_bytes)) {
    return make_error(fmt::format(
        "ELF segment {} at {:#x}+{:#x} does not fit in {} MiB of guest memory (try a larger --mem)",
        index, ph.p_paddr, ph.p_memsz, limits.ram_bytes >> 20));
  }
  return ElfSegment{ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz, (ph.p_flags & PF_X) != 0};
}

bool overlaps(const ElfSegment& a, const ElfSegment& b) {
  return a.gpa < b.gpa + b.memory_bytes && b.gpa < a.gpa + a.memory_bytes;
}

}  // namespace

Result<ElfImage> parse_elf64(std::span<const uint8_t> file, const LoadLimits& limits) {
  auto header = read_header(file);
  if (!header) return header.error();
  ElfImage image{header->e_entry, {}};
  for (size_t i = 0; i < header->e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + header->e_phoff + i * sizeof(Elf64_Phdr), sizeof(ph));
    if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC) {
      return make_error("ELF image is dynamically linked; ftvm needs a static kernel");
    }
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    auto segment = check_segment(ph, i, file.size(), limits);
    if (!segment) return segment.error();
    for (const auto& other : image.segments) {
      if (overlaps(*segment, other)) {
        return make_error(fmt::format("ELF segment {} at {:#x} overlaps another segment at {:#x}",
                                      i, segment->gpa, other.gpa));
      }
    }
    image.segments.push_back(*segment);
  }
  if (image.segments.empty()) return make_error("ELF image has no loadable segments");
  bool entry_ok = false;
  for (const auto& s : image.segments) {
    entry_ok |= s.executable && image.entry >= s.gpa && image.entry - s.gpa < s.memory_bytes;
  }
  if (!entry_ok) {
    return make_error(fmt::format(
        "ELF entry point {:#x} is not inside an executable loadable segment", image.entry));
  }
  return image;
}

Result<void> load_elf64(const ElfImage& image, std::span<const uint8_t> file,
                        const GuestMemory& memory) {
  for (const auto& s : image.segments) {
    auto target = memory.span(s.gpa, s.memory_bytes);
    if (!target) return target.error();
    if (!range_within(s.file_offset, s.file_bytes, file.size())) {
      return make_error("ELF segment does not match the file it was parsed from");
    }
    std::memcpy(target->data(), file.data() + s.file_offset, s.file_bytes);
    std::memset(target->data() + s.file_bytes, 0, s.memory_bytes - s.file_bytes);
  }
  return {};
}

}  // namespace ftvm

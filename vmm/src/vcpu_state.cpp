#include "vmm/vcpu_state.h"

#include <xxhash.h>
#include <zstd.h>

#include <cstring>
#include <type_traits>

#include <fmt/format.h>

namespace ftvm {
namespace {

constexpr uint32_t kMagic = 0x53565446;  // "FTVS"
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kMaxDecodedBytes = 4ull << 30;
constexpr int kZstdLevel = 1;  // checkpoints are on the recording path: favour speed

template <typename T>
constexpr uint32_t layout_size() {
  static_assert(std::is_trivially_copyable_v<T>);
  return sizeof(T);
}

// The sizes a decoder checks so that a blob from a build with other struct layouts is refused.
constexpr uint32_t kLayout[] = {
    layout_size<kvm_regs>(), layout_size<kvm_sregs>(), layout_size<kvm_fpu>(),
    layout_size<kvm_vcpu_events>(), layout_size<PicState>(), layout_size<PitState>(),
    layout_size<UartState>(), layout_size<CmosState>()};

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_bytes(std::span<const uint8_t> data) { bytes.insert(bytes.end(), data.begin(), data.end()); }
  std::vector<uint8_t> bytes;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}
  template <typename T>
  bool get(T& value) {
    if (data_.size() - offset_ < sizeof(T)) return false;
    std::memcpy(&value, data_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return true;
  }
  bool get_bytes(std::vector<uint8_t>& out, uint64_t count) {
    if (data_.size() - offset_ < count) return false;
    out.assign(data_.begin() + offset_, data_.begin() + offset_ + count);
    offset_ += count;
    return true;
  }
  bool at_end() const { return offset_ == data_.size(); }

 private:
  std::span<const uint8_t> data_;
  size_t offset_ = 0;
};

std::vector<uint8_t> serialize(const MachineState& state) {
  Writer w;
  for (uint32_t size : kLayout) w.put(size);
  w.put(state.vcpu.regs);
  w.put(state.vcpu.sregs);
  w.put(state.vcpu.fpu);
  w.put(state.vcpu.events);
  w.put(state.devices.pic);
  w.put(state.devices.pit);
  w.put(state.devices.uart);
  w.put(state.devices.rtc);
  w.put(static_cast<uint64_t>(state.page_gpas.size()));
  for (uint64_t gpa : state.page_gpas) w.put(gpa);
  w.put_bytes(state.page_bytes);
  return std::move(w.bytes);
}

Result<MachineState> deserialize(std::span<const uint8_t> raw) {
  Reader r(raw);
  for (uint32_t expected : kLayout) {
    uint32_t size = 0;
    if (!r.get(size)) return make_error("state blob is truncated (layout table)");
    if (size != expected) {
      return make_error("state blob was written by an ftvm build with other KVM or device struct "
                        "layouts; capture it again with this build");
    }
  }
  MachineState state;
  uint64_t pages = 0;
  if (!r.get(state.vcpu.regs) || !r.get(state.vcpu.sregs) || !r.get(state.vcpu.fpu) ||
      !r.get(state.vcpu.events) || !r.get(state.devices.pic) || !r.get(state.devices.pit) ||
      !r.get(state.devices.uart) || !r.get(state.devices.rtc) || !r.get(pages)) {
    return make_error("state blob is truncated (registers or devices)");
  }
  if (pages > kMaxDecodedBytes / kStatePageBytes) return make_error("state blob claims too many pages");
  state.page_gpas.resize(pages);
  for (auto& gpa : state.page_gpas) {
    if (!r.get(gpa)) return make_error("state blob is truncated (page list)");
  }
  if (!r.get_bytes(state.page_bytes, pages * kStatePageBytes) || !r.at_end()) {
    return make_error("state blob page data does not match its page list");
  }
  return state;
}

}  // namespace

Result<VcpuRegisters> capture_registers(const KvmVcpu& vcpu) {
  VcpuRegisters out{};
  auto regs = vcpu.get_regs();
  if (!regs) return regs.error();
  auto sregs = vcpu.get_sregs();
  if (!sregs) return sregs.error();
  auto fpu = vcpu.get_fpu();
  if (!fpu) return fpu.error();
  auto events = vcpu.get_events();
  if (!events) return events.error();
  out.regs = *regs;
  out.sregs = *sregs;
  out.fpu = *fpu;
  out.events = *events;
  return out;
}

Result<void> load_registers(KvmVcpu& vcpu, const VcpuRegisters& registers) {
  // A vCPU stopped at a PIO or MMIO exit has not finished that instruction: KVM completes it
  // (in its emulator, with the registers it holds) on the next KVM_RUN. Let it do so now, or it
  // would complete it on top of the registers loaded below and execute the I/O twice.
  if (auto r = vcpu.refresh_run_page(); !r) return r;
  if (auto r = vcpu.set_sregs(registers.sregs); !r) return r;
  if (auto r = vcpu.set_regs(registers.regs); !r) return r;
  if (auto r = vcpu.set_fpu(registers.fpu); !r) return r;
  auto events = registers.events;
  events.flags = KVM_VCPUEVENT_VALID_SHADOW;
  if (auto r = vcpu.set_events(events); !r) return r;
  return vcpu.refresh_run_page();
}

PlatformState capture_devices(Platform& platform) {
  return {platform.pic().save(), platform.pit().save(), platform.uart().save(),
          platform.rtc().save()};
}

void load_devices(Platform& platform, const PlatformState& state) {
  platform.pic().restore(state.pic);
  platform.pit().restore(state.pit);
  platform.uart().restore(state.uart);
  platform.rtc().restore(state.rtc);
}

Result<MachineState> capture_state(const KvmVcpu& vcpu, Platform& platform,
                                   const GuestMemory& memory, std::vector<uint64_t> page_gpas) {
  auto registers = capture_registers(vcpu);
  if (!registers) return registers.error();
  MachineState state{*registers, capture_devices(platform), std::move(page_gpas), {}};
  state.page_bytes.resize(state.page_gpas.size() * kStatePageBytes);
  for (size_t i = 0; i < state.page_gpas.size(); ++i) {
    auto page = memory.span(state.page_gpas[i], kStatePageBytes);
    if (!page) return page.error();
    std::memcpy(state.page_bytes.data() + i * kStatePageBytes, page->data(), kStatePageBytes);
  }
  return state;
}

Result<void> load_state(const MachineState& state, KvmVcpu& vcpu, Platform& platform,
                        const GuestMemory& memory) {
  for (size_t i = 0; i < state.page_gpas.size(); ++i) {
    auto page = memory.span(state.page_gpas[i], kStatePageBytes);
    if (!page) return page.error();
    std::memcpy(page->data(), state.page_bytes.data() + i * kStatePageBytes, kStatePageBytes);
  }
  load_devices(platform, state.devices);
  return load_registers(vcpu, state.vcpu);
}

std::vector<uint8_t> encode_state(const MachineState& state) {
  const std::vector<uint8_t> raw = serialize(state);
  std::vector<uint8_t> out(22 + ZSTD_compressBound(raw.size()));
  const size_t compressed = ZSTD_compress(out.data() + 22, out.size() - 22, raw.data(),
                                          raw.size(), kZstdLevel);
  out.resize(22 + compressed);
  const uint64_t raw_size = raw.size();
  std::memcpy(out.data(), &kMagic, 4);
  std::memcpy(out.data() + 4, &kFormatVersion, 2);
  std::memcpy(out.data() + 6, &raw_size, 8);
  const uint64_t checksum = XXH3_64bits(out.data() + 22, compressed);
  std::memcpy(out.data() + 14, &checksum, 8);
  return out;
}

Result<MachineState> decode_state(std::span<const uint8_t> bytes) {
  if (bytes.size() < 22) return make_error("state blob is too short for its header");
  uint32_t magic;
  uint16_t version;
  uint64_t raw_size, checksum;
  std::memcpy(&magic, bytes.data(), 4);
  std::memcpy(&version, bytes.data() + 4, 2);
  std::memcpy(&raw_size, bytes.data() + 6, 8);
  std::memcpy(&checksum, bytes.data() + 14, 8);
  if (magic != kMagic) return make_error("not an ftvm state blob (bad magic)");
  if (version != kFormatVersion) {
    return make_error(fmt::format("state format version {} is not supported (this ftvm reads {})",
                                  version, kFormatVersion));
  }
  const auto payload = bytes.subspan(22);
  if (XXH3_64bits(payload.data(), payload.size()) != checksum) {
    return make_error("state blob checksum mismatch: the data is corrupt");
  }
  if (raw_size > kMaxDecodedBytes) return make_error("state blob claims an impossible size");
  std::vector<uint8_t> raw(raw_size);
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), payload.data(), payload.size());
  if (ZSTD_isError(n) || n != raw_size) return make_error("state blob does not decompress");
  return deserialize(raw);
}

std::vector<uint64_t> dirty_pages_from_bitmap(std::span<const uint64_t> bitmap) {
  std::vector<uint64_t> pages;
  for (size_t word = 0; word < bitmap.size(); ++word) {
    for (uint64_t bits = bitmap[word]; bits != 0; bits &= bits - 1) {
      pages.push_back((word * 64 + static_cast<uint64_t>(__builtin_ctzll(bits))) * kStatePageBytes);
    }
  }
  return pages;
}

}  // namespace ftvm

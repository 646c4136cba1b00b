// The versioned byte format of MachineState (see vcpu_state.h). Kept apart from capture and
// load so the decoder of untrusted bytes can be fuzzed without KVM.
#include <fmt/format.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "vmm/vcpu_state.h"

namespace ftvm {
namespace {

constexpr uint32_t kMagic = 0x53565446;  // "FTVS"
// 2: adds the XSAVE area, XCRs, debug registers and MSRs (version 1 had none of them).
constexpr uint16_t kFormatVersion = 2;
constexpr size_t kMaxDecodedBytes = 4ull << 30;
constexpr int kZstdLevel = 1;
constexpr uint64_t kMaxCompressionRatio =
    16384;  // checkpoints are on the recording path: favour speed

template <typename T>
constexpr uint32_t layout_size() {
  static_assert(std::is_trivially_copyable_v<T>);
  return sizeof(T);
}

// The sizes a decoder checks so that a blob from a build with other struct layouts is refused.
// The XSAVE area and the MSRs are not structs but counted byte runs and pairs, so they need no
// entry here.
constexpr uint32_t kLayout[] = {layout_size<kvm_regs>(),  layout_size<kvm_sregs>(),
                                layout_size<kvm_fpu>(),   layout_size<kvm_vcpu_events>(),
                                layout_size<kvm_xcrs>(),  layout_size<kvm_debugregs>(),
                                layout_size<PicState>(),  layout_size<PitState>(),
                                layout_size<UartState>(), layout_size<CmosState>()};

// An MSR in the blob: u32 index, u64 value.
constexpr uint64_t kMsrBytes = 12;

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes.insert(bytes.end(), p, p + sizeof(T));
  }
  void put_bytes(std::span<const uint8_t> data) {
    bytes.insert(bytes.end(), data.begin(), data.end());
  }
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
  uint64_t remaining() const { return data_.size() - offset_; }

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
  w.put(static_cast<uint32_t>(state.vcpu.xsave.size()));
  w.put_bytes(state.vcpu.xsave);
  w.put(state.vcpu.xcrs);
  w.put(state.vcpu.debugregs);
  w.put(static_cast<uint32_t>(state.vcpu.msrs.size()));
  for (const auto& msr : state.vcpu.msrs) {
    w.put(msr.index);
    w.put(msr.value);
  }
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
      return make_error(
          "state blob was written by an ftvm build with other KVM or device struct "
          "layouts; capture it again with this build");
    }
  }
  MachineState state;
  uint32_t xsave_bytes = 0;
  if (!r.get(state.vcpu.regs) || !r.get(state.vcpu.sregs) || !r.get(state.vcpu.fpu) ||
      !r.get(state.vcpu.events) || !r.get(xsave_bytes)) {
    return make_error("state blob is truncated (registers)");
  }
  // Every count is checked against its bound and against the bytes that are left before
  // anything is allocated for it.
  if (xsave_bytes > kMaxStateXsaveBytes) {
    return make_error(fmt::format("state blob claims a {}-byte XSAVE area (at most {})",
                                  xsave_bytes, kMaxStateXsaveBytes));
  }
  uint32_t msrs = 0;
  if (!r.get_bytes(state.vcpu.xsave, xsave_bytes) || !r.get(state.vcpu.xcrs) ||
      !r.get(state.vcpu.debugregs) || !r.get(msrs)) {
    return make_error("state blob is truncated (XSAVE area, XCRs or debug registers)");
  }
  if (state.vcpu.xcrs.nr_xcrs > KVM_MAX_XCRS) {
    return make_error(fmt::format("state blob claims {} XCRs (at most {})", state.vcpu.xcrs.nr_xcrs,
                                  KVM_MAX_XCRS));
  }
  if (msrs > kMaxStateMsrs) {
    return make_error(fmt::format("state blob claims {} MSRs (at most {})", msrs, kMaxStateMsrs));
  }
  if (msrs * kMsrBytes > r.remaining()) return make_error("state blob is truncated (MSR list)");
  state.vcpu.msrs.resize(msrs);
  for (auto& msr : state.vcpu.msrs) {
    if (!r.get(msr.index) || !r.get(msr.value)) {
      return make_error("state blob is truncated (MSR list)");
    }
  }
  uint64_t pages = 0;
  if (!r.get(state.devices.pic) || !r.get(state.devices.pit) || !r.get(state.devices.uart) ||
      !r.get(state.devices.rtc) || !r.get(pages)) {
    return make_error("state blob is truncated (devices)");
  }
  if (pages > kMaxDecodedBytes / kStatePageBytes)
    return make_error("state blob claims too many pages");
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

std::vector<uint8_t> encode_state(const MachineState& state) {
  return seal_state_payload(serialize(state));
}

std::vector<uint8_t> seal_state_payload(std::span<const uint8_t> raw) {
  std::vector<uint8_t> out(22 + ZSTD_compressBound(raw.size()));
  const size_t compressed =
      ZSTD_compress(out.data() + 22, out.size() - 22, raw.data(), raw.size(), kZstdLevel);
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
  if (version < kFormatVersion) {
    return make_error(fmt::format(
        "state format version {} is from an older ftvm and lacks XSAVE, debug register and MSR "
        "state (this ftvm reads version {}); record the trace or capture the state again",
        version, kFormatVersion));
  }
  if (version != kFormatVersion) {
    return make_error(fmt::format("state format version {} is not supported (this ftvm reads {})",
                                  version, kFormatVersion));
  }
  const auto payload = bytes.subspan(22);
  if (XXH3_64bits(payload.data(), payload.size()) != checksum) {
    return make_error("state blob checksum mismatch: the data is corrupt");
  }
  // Bound the allocation by what the compressed bytes could plausibly expand to, so a small
  // hostile blob cannot make the decoder allocate gigabytes.
  const uint64_t plausible = std::max<uint64_t>(1ull << 20, payload.size() * kMaxCompressionRatio);
  if (raw_size > kMaxDecodedBytes || raw_size > plausible ||
      ZSTD_getFrameContentSize(payload.data(), payload.size()) != raw_size) {
    return make_error("state blob claims a size its compressed data cannot have");
  }
  std::vector<uint8_t> raw(raw_size);
  const size_t n = ZSTD_decompress(raw.data(), raw.size(), payload.data(), payload.size());
  if (ZSTD_isError(n) || n != raw_size) return make_error("state blob does not decompress");
  return deserialize(raw);
}

}  // namespace ftvm

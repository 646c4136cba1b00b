#include "replay/trace_header.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <algorithm>

#include "byte_io.h"

namespace ftvm::replay {
namespace {

// Header file layout, little-endian:
//    0  8  magic "FTVMTRC\0"
//    8  4  format version
//   12  4  body length
//   16  .  body
//    .  8  xxh3-64 of everything before it
// The framing (magic, version, length, trailing checksum) stays the same in every version,
// so a reader can tell a corrupt header from one written by a newer ftvm.
constexpr uint8_t kMagic[8] = {'F', 'T', 'V', 'M', 'T', 'R', 'C', '\0'};
constexpr size_t kVersionAt = 8;
constexpr size_t kBodyLengthAt = 12;
constexpr size_t kBodyAt = 16;
constexpr size_t kChecksumBytes = 8;
constexpr size_t kMaxBodyBytes = size_t{1} << 20;

Result<void> check_limit(size_t size, size_t max, const char* what) {
  if (size <= max) return {};
  return make_error(fmt::format(
      "cannot write a trace header: {} is {} bytes long, the maximum is {}", what, size, max));
}

void put_cpuid_leaf(std::vector<uint8_t>& out, const CpuidLeaf& leaf) {
  for (uint32_t value :
       {leaf.function, leaf.index, leaf.flags, leaf.eax, leaf.ebx, leaf.ecx, leaf.edx}) {
    put_u32(out, value);
  }
}

CpuidLeaf read_cpuid_leaf(ByteReader& in) {
  CpuidLeaf leaf;
  for (uint32_t* field :
       {&leaf.function, &leaf.index, &leaf.flags, &leaf.eax, &leaf.ebx, &leaf.ecx, &leaf.edx}) {
    *field = in.u32("CPUID leaf");
  }
  return leaf;
}

std::vector<uint8_t> encode_body(const TraceHeader& header) {
  std::vector<uint8_t> body;
  put_string(body, header.guest_name);
  put_u64(body, header.guest_image_xxh3);
  put_varint(body, header.mem_bytes);
  put_varint(body, header.cpuid.size());
  for (const auto& leaf : header.cpuid) put_cpuid_leaf(body, leaf);
  put_varint(body, header.max_delay_ns);
  put_string(body, header.async_mode);
  put_zigzag(body, header.created_unix_ns);
  put_varint(body, header.disk_bytes);
  put_u8(body, header.disk_read_only ? 1 : 0);
  put_string(body, header.disk_serial);
  put_string(body, header.accel);
  put_varint(body, header.net_mac.size());
  body.insert(body.end(), header.net_mac.begin(), header.net_mac.end());
  put_u8(body, header.interrupt_window ? 1 : 0);
  return body;
}

// `header_bytes` is the whole header but its checksum; the body starts at kBodyAt.
Result<TraceHeader> decode_body(std::span<const uint8_t> header_bytes, uint32_t version) {
  ByteReader in(header_bytes, kBodyAt);
  TraceHeader header;
  header.format_version = version;
  header.guest_name = in.string(kMaxGuestNameBytes, "guest name");
  header.guest_image_xxh3 = in.u64("guest image hash");
  header.mem_bytes = in.varint("memory size");
  const uint64_t leaves = in.varint("CPUID leaf count");
  if (leaves > kMaxCpuidLeaves) {
    in.fail(fmt::format("{} CPUID leaves, more than the maximum {}", leaves, kMaxCpuidLeaves));
  }
  for (uint64_t i = 0; i < leaves && in.ok(); ++i) header.cpuid.push_back(read_cpuid_leaf(in));
  header.max_delay_ns = in.varint("max delay");
  header.async_mode = in.string(kMaxAsyncModeBytes, "async mode");
  header.created_unix_ns = in.zigzag("creation time");
  header.disk_bytes = in.varint("disk size");
  const uint8_t disk_flags = in.u8("disk flags");
  if (disk_flags > 1) in.fail(fmt::format("unknown disk flags {:#04x}", disk_flags));
  header.disk_read_only = disk_flags == 1;
  header.disk_serial = in.string(kMaxDiskSerialBytes, "disk serial");
  header.accel = in.string(kMaxAccelBytes, "vCPU backend");
  if (in.ok() && header.accel != "kvm" && header.accel != "emu") {
    in.fail(fmt::format("unknown vCPU backend '{}'", header.accel));
  }
  const uint64_t mac_bytes = in.varint("MAC length");
  if (in.ok() && mac_bytes != 0 && mac_bytes != kMacBytes) {
    in.fail(fmt::format("a MAC of {} bytes (0 or {})", mac_bytes, kMacBytes));
  }
  for (uint64_t i = 0; i < mac_bytes && in.ok(); ++i) header.net_mac.push_back(in.u8("MAC"));
  const uint8_t window = in.u8("interrupt-window flag");
  if (in.ok() && window > 1) in.fail(fmt::format("interrupt-window flag {:#04x} (0 or 1)", window));
  header.interrupt_window = window == 1;
  if (in.ok() && !in.at_end()) {
    in.fail(fmt::format("{} unexpected bytes after the last field", in.remaining()));
  }
  if (!in.ok()) return make_error(fmt::format("malformed trace header: {}", in.error()));
  return header;
}

}  // namespace

Result<std::vector<uint8_t>> encode_trace_header(const TraceHeader& header) {
  if (auto r = check_limit(header.guest_name.size(), kMaxGuestNameBytes, "the guest name"); !r) {
    return r.error();
  }
  if (auto r = check_limit(header.async_mode.size(), kMaxAsyncModeBytes, "the async mode"); !r) {
    return r.error();
  }
  if (auto r = check_limit(header.disk_serial.size(), kMaxDiskSerialBytes, "the disk serial"); !r) {
    return r.error();
  }
  if (!header.net_mac.empty() && header.net_mac.size() != kMacBytes) {
    return make_error(
        fmt::format("cannot write a trace header: a MAC of {} bytes", header.net_mac.size()));
  }
  if (auto r = check_limit(header.accel.size(), kMaxAccelBytes, "the vCPU backend"); !r) {
    return r.error();
  }
  if (header.cpuid.size() > kMaxCpuidLeaves) {
    return make_error(fmt::format("cannot write a trace header: {} CPUID leaves, the maximum is {}",
                                  header.cpuid.size(), kMaxCpuidLeaves));
  }
  const std::vector<uint8_t> body = encode_body(header);
  std::vector<uint8_t> out(std::begin(kMagic), std::end(kMagic));
  put_u32(out, header.format_version);
  put_u32(out, static_cast<uint32_t>(body.size()));
  put_bytes(out, body);
  put_u64(out, XXH3_64bits(out.data(), out.size()));
  return out;
}

Result<TraceHeader> decode_trace_header(std::span<const uint8_t> bytes) {
  const auto magic = bytes.first(std::min(bytes.size(), sizeof(kMagic)));
  if (!std::equal(magic.begin(), magic.end(), std::begin(kMagic))) {
    return make_error("not an ftvm trace header: bad magic (expected \"FTVMTRC\\0\")");
  }
  if (bytes.size() < kBodyAt + kChecksumBytes) {
    return make_error(fmt::format("trace header is truncated: {} bytes, at least {} needed",
                                  bytes.size(), kBodyAt + kChecksumBytes));
  }
  const uint32_t body_bytes = load_u32(bytes.data() + kBodyLengthAt);
  if (body_bytes > kMaxBodyBytes) {
    return make_error(fmt::format("corrupt trace header: body length {} exceeds the maximum {}",
                                  body_bytes, kMaxBodyBytes));
  }
  const size_t total = kBodyAt + body_bytes + kChecksumBytes;
  if (bytes.size() < total) {
    return make_error(fmt::format("trace header is truncated: {} of its {} bytes are present",
                                  bytes.size(), total));
  }
  if (bytes.size() > total) {
    return make_error(fmt::format("corrupt trace header: {} unexpected bytes after its checksum",
                                  bytes.size() - total));
  }
  const size_t checked = total - kChecksumBytes;
  const uint64_t stored = load_u64(bytes.data() + checked);
  if (const uint64_t computed = XXH3_64bits(bytes.data(), checked); computed != stored) {
    return make_error(
        fmt::format("corrupt trace header: checksum mismatch (stored {:#018x}, computed {:#018x})",
                    stored, computed));
  }
  const uint32_t version = load_u32(bytes.data() + kVersionAt);
  if (version != kTraceFormatVersion) {
    return make_error(
        fmt::format("trace format version {} is not supported by this ftvm "
                    "(supports {})",
                    version, kTraceFormatVersion));
  }
  return decode_body(bytes.first(checked), version);
}

}  // namespace ftvm::replay

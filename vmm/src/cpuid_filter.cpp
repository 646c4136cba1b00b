#include "vmm/cpuid_filter.h"

#include <algorithm>
#include <cstdint>

namespace ftvm {
namespace {

constexpr uint32_t bit(unsigned n) {
  return 1u << n;
}

// Leaf 1.
constexpr uint32_t kLeaf1EcxMonitor = bit(3);
constexpr uint32_t kLeaf1EcxX2apic = bit(21);
constexpr uint32_t kLeaf1EcxTscDeadline = bit(24);
constexpr uint32_t kLeaf1EcxRdrand = bit(30);
constexpr uint32_t kLeaf1EcxHypervisor = bit(31);
constexpr uint32_t kLeaf1EdxTsc = bit(4);
constexpr uint32_t kLeaf1EdxApic = bit(9);
// Leaf 7, subleaf 0.
constexpr uint32_t kLeaf7EbxTscAdjust = bit(1);
constexpr uint32_t kLeaf7EbxHle = bit(4);
constexpr uint32_t kLeaf7EbxRtm = bit(11);
constexpr uint32_t kLeaf7EbxRdseed = bit(18);
constexpr uint32_t kLeaf7EcxWaitpkg = bit(5);
constexpr uint32_t kLeaf7EcxRdpid = bit(22);
constexpr uint32_t kLeaf7EdxTsxLdtrk = bit(16);
// Leaf 0x80000001 and 0x80000007.
constexpr uint32_t kExt1EdxRdtscp = bit(27);
constexpr uint32_t kExt7EdxInvariantTsc = bit(8);

bool is_hidden_leaf(uint32_t function) {
  const bool paravirt = function >= 0x40000000 && function <= 0x4fffffff;
  const bool power_or_perfmon = function == 0x6 || function == 0xa;
  const bool tsc_frequency = function == 0x15 || function == 0x16;
  return paravirt || power_or_perfmon || tsc_frequency;
}

void mask_features(kvm_cpuid_entry2& entry) {
  switch (entry.function) {
    case 0x1:
      entry.ecx &= ~(kLeaf1EcxMonitor | kLeaf1EcxX2apic | kLeaf1EcxTscDeadline | kLeaf1EcxRdrand |
                     kLeaf1EcxHypervisor);
      entry.edx &= ~(kLeaf1EdxTsc | kLeaf1EdxApic);
      break;
    case 0x7:
      if (entry.index == 0) {
        entry.ebx &= ~(kLeaf7EbxTscAdjust | kLeaf7EbxHle | kLeaf7EbxRtm | kLeaf7EbxRdseed);
        entry.ecx &= ~(kLeaf7EcxWaitpkg | kLeaf7EcxRdpid);
        entry.edx &= ~kLeaf7EdxTsxLdtrk;
      }
      break;
    case 0x80000001:
      entry.edx &= ~kExt1EdxRdtscp;
      break;
    case 0x80000007:
      entry.edx &= ~kExt7EdxInvariantTsc;
      break;
    default:
      break;
  }
}

}  // namespace

std::vector<kvm_cpuid_entry2> filter_cpuid(std::vector<kvm_cpuid_entry2> supported) {
  std::erase_if(supported, [](const kvm_cpuid_entry2& e) { return is_hidden_leaf(e.function); });
  for (auto& entry : supported) mask_features(entry);
  return supported;
}

}  // namespace ftvm

// The contract between the ftvm VMM and the testsvc guest.
//
// This one header is compiled into both the host (C++20, hosted) and the guest (C++20,
// freestanding), so it may only use <stdint.h>-level facilities. Anything a guest relies on
// about the machine it boots on (where it is loaded, what the VMM hands it, which ports and
// IRQs exist) is stated here and nowhere else.
#pragma once

#include <stdint.h>

namespace testsvc::abi {

// ---- Boot contract ----------------------------------------------------------------------
//
// The VMM loads the guest ELF64 image, builds identity-mapped page tables covering the first
// kIdentityMapBytes of guest-physical space (2 MiB pages, writable, executable), loads a flat
// 64-bit GDT and enters the ELF entry point directly in long mode with:
//   RDI = kBootInfoGpa (a BootInfo, below), RSP = kBootStackTop, RFLAGS = 0x2 (IF=0),
//   CS = kBootCodeSelector, DS/ES/SS = kBootDataSelector.
// No IDT is loaded: the guest must install its own before enabling interrupts.

inline constexpr uint64_t kPageTablesGpa = 0x10000;      // PML4, PDPT, then 4 PDs
inline constexpr uint64_t kBootGdtGpa = 0x8000;          // 4 descriptors
inline constexpr uint64_t kBootInfoGpa = 0x9000;         // one BootInfo
inline constexpr uint64_t kBootStackTop = 0x80000;       // grows down, below 512 KiB
inline constexpr uint64_t kGuestImageMinGpa = 0x100000;  // loadable segments start at 1 MiB
inline constexpr uint64_t kIdentityMapBytes = 4ull << 30;
inline constexpr uint16_t kBootCodeSelector = 0x08;
inline constexpr uint16_t kBootDataSelector = 0x10;

inline constexpr uint32_t kBootInfoMagic = 0x4d565446;  // "FTVM"
// 2: the virtio-mmio disk slot and its IRQ.
// 3: the virtio-net slot, its IRQ and the guest's IPv4 address.
inline constexpr uint32_t kAbiVersion = 3;

struct BootInfo {
  uint32_t magic;        // kBootInfoMagic
  uint32_t abi_version;  // kAbiVersion
  uint64_t mem_bytes;    // size of guest RAM, which starts at GPA 0
  uint64_t flags;        // reserved, 0
};

// ---- Guest-physical memory map ----------------------------------------------------------

// RAM is one region [0, mem_bytes). mem_bytes may not exceed kMaxRamBytes so that RAM never
// overlaps the MMIO window.
inline constexpr uint64_t kMaxRamBytes = 3ull << 30;
inline constexpr uint64_t kMmioBase = 0xd0000000;
inline constexpr uint64_t kMmioSize = 0x10000000;

// ---- virtio-mmio devices ----------------------------------------------------------------
//
// Devices sit in fixed slots of the MMIO window, each a virtio 1.x MMIO register block
// (docs/devices.md). A slot whose magic value does not read "virt" (0x74726976) is empty: with
// nothing there, reads return all ones. The disk, when the VM has one, is virtio-blk.
inline constexpr uint64_t kVirtioSlotBytes = 0x200;
inline constexpr uint64_t kVirtioBlkGpa = kMmioBase;  // slot 0
// The network card, when the VM has one (ftvm --net), is virtio-net: its MAC is in the device's
// config space.
inline constexpr uint64_t kVirtioNetGpa = kMmioBase + kVirtioSlotBytes;  // slot 1

// ---- Network ----------------------------------------------------------------------------
//
// testsvc answers on one fixed IPv4 address, the same on both sides of a pair (scripts/lab
// builds its test network around it): 10.78.0.2/24.
inline constexpr uint8_t kGuestIpv4[4] = {10, 78, 0, 2};
inline constexpr uint8_t kGuestIpv4PrefixBits = 24;

// ---- Port I/O ---------------------------------------------------------------------------

inline constexpr uint16_t kPicMasterCommand = 0x20;
inline constexpr uint16_t kPicMasterData = 0x21;
inline constexpr uint16_t kPicSlaveCommand = 0xa0;
inline constexpr uint16_t kPicSlaveData = 0xa1;
inline constexpr uint16_t kPitChannel0 = 0x40;
inline constexpr uint16_t kPitCommand = 0x43;
inline constexpr uint16_t kRtcIndex = 0x70;
inline constexpr uint16_t kRtcData = 0x71;
inline constexpr uint16_t kCom1Base = 0x3f8;  // 8 registers, 16550A

// A write of one 32-bit value to this port asks the VMM to stop the VM with that exit status
// (0 = success). It is how a guest reports a verdict without a console parser.
inline constexpr uint16_t kShutdownPort = 0x501;

// ---- Interrupts -------------------------------------------------------------------------

inline constexpr uint8_t kIrqPit = 0;
inline constexpr uint8_t kIrqCascade = 2;
inline constexpr uint8_t kIrqCom1 = 4;
inline constexpr uint8_t kIrqRtc = 8;
inline constexpr uint8_t kIrqVirtioBlk = 5;  // level-triggered while the device's status is set
inline constexpr uint8_t kIrqVirtioNet = 6;  // likewise

// Vector bases the guest programs into the PICs (ICW2). The VMM does not assume them; it is
// the PIC model that turns an IRQ into a vector.
inline constexpr uint8_t kPicMasterVectorBase = 0x20;
inline constexpr uint8_t kPicSlaveVectorBase = 0x28;

// ---- Timing -----------------------------------------------------------------------------

inline constexpr uint32_t kPitInputHz = 1193182;
inline constexpr uint32_t kTickHz = 100;  // the guest programs the PIT for this rate

// ---- Console protocol -------------------------------------------------------------------
//
// testsvc prints kBannerPrefix once at boot, then a status line starting with kStatusPrefix
// every kStatusEveryTicks ticks:
//   "status tick=<n> progress=<n> journal=<n> digest=<16 hex>"
// and answers one command per input line ("help", "stats", "digest", "echo <text>",
// "compute on", "compute off", "shutdown") with a line starting with kReplyPrefix.
inline constexpr const char* kBannerPrefix = "testsvc: up";
inline constexpr const char* kStatusPrefix = "status ";
inline constexpr const char* kReplyPrefix = "> ";
inline constexpr uint32_t kStatusEveryTicks = 50;

}  // namespace testsvc::abi

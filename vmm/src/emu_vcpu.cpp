#include "vmm/emu_vcpu.h"

#include <fmt/format.h>
#include <unicorn/unicorn.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "vmm/kick_pacer.h"
#include "vmm/vcpu_state.h"

namespace ftvm {
namespace {

// Unicorn 2.0.1 saves its CPU state as a copy of QEMU's CPUX86State. Only these fields are
// touched, and check_state_layout() verifies them against the API when a vCPU is created.
constexpr size_t kRegsOffset = 0;  // target_ulong regs[16]
constexpr size_t kEipOffset = 128;
constexpr size_t kHflagsOffset = 176;
constexpr size_t kSegsOffset = 184;  // SegmentCache segs[6], then ldt, tr
constexpr size_t kSegBytes = 24;     // selector (u32, padded), base (u64), limit, flags (u32)
constexpr int kSegEs = 0, kSegCs = 1, kSegSs = 2, kSegDs = 3, kSegFs = 4, kSegGs = 5, kSegLdt = 6,
              kSegTr = 7;

constexpr uint32_t kHfCpl = 3u << 0;
constexpr uint32_t kHfInhibitIrq = 1u << 3;
constexpr uint32_t kHfCs32 = 1u << 4;
constexpr uint32_t kHfSs32 = 1u << 5;
constexpr uint32_t kHfAddseg = 1u << 6;
constexpr uint32_t kHfLma = 1u << 14;
constexpr uint32_t kHfCs64 = 1u << 15;

constexpr uint64_t kRflagsIf = 1ull << 9;
constexpr uint64_t kRflagsTf = 1ull << 8;
constexpr uint64_t kRflagsNt = 1ull << 14;
constexpr uint64_t kRflagsRf = 1ull << 16;
constexpr uint64_t kRflagsVm = 1ull << 17;
constexpr uint64_t kRflagsDf = 1ull << 10;

constexpr uint64_t kPage = 4096;
constexpr uint32_t kMsrEfer = 0xc0000080;

struct SegmentCache {
  uint32_t selector;
  uint64_t base;
  uint32_t limit;
  uint32_t flags;  // the descriptor's high word, as QEMU keeps it
};

SegmentCache read_segment(const uint8_t* state, int index) {
  const uint8_t* p = state + kSegsOffset + index * kSegBytes;
  SegmentCache s{};
  std::memcpy(&s.selector, p, 4);
  std::memcpy(&s.base, p + 8, 8);
  std::memcpy(&s.limit, p + 16, 4);
  std::memcpy(&s.flags, p + 20, 4);
  return s;
}

void write_segment(uint8_t* state, int index, const SegmentCache& s) {
  uint8_t* p = state + kSegsOffset + index * kSegBytes;
  std::memcpy(p, &s.selector, 4);
  std::memcpy(p + 8, &s.base, 8);
  std::memcpy(p + 16, &s.limit, 4);
  std::memcpy(p + 20, &s.flags, 4);
}

uint32_t read_hflags(const uint8_t* state) {
  uint32_t h;
  std::memcpy(&h, state + kHflagsOffset, 4);
  return h;
}

void write_hflags(uint8_t* state, uint32_t h) {
  std::memcpy(state + kHflagsOffset, &h, 4);
}

kvm_segment to_kvm_segment(const SegmentCache& c) {
  kvm_segment s{};
  s.base = c.base;
  s.limit = c.limit;
  s.selector = static_cast<uint16_t>(c.selector);
  s.type = (c.flags >> 8) & 0xf;
  s.s = (c.flags >> 12) & 1;
  s.dpl = (c.flags >> 13) & 3;
  s.present = (c.flags >> 15) & 1;
  s.avl = (c.flags >> 20) & 1;
  s.l = (c.flags >> 21) & 1;
  s.db = (c.flags >> 22) & 1;
  s.g = (c.flags >> 23) & 1;
  s.unusable = s.present ? 0 : 1;
  return s;
}

SegmentCache from_kvm_segment(const kvm_segment& s) {
  const uint32_t flags = (uint32_t{s.type} << 8) | (uint32_t{s.s} << 12) | (uint32_t{s.dpl} << 13) |
                         (uint32_t{s.present} << 15) | (uint32_t{s.avl} << 20) |
                         (uint32_t{s.l} << 21) | (uint32_t{s.db} << 22) | (uint32_t{s.g} << 23);
  return {s.selector, s.base, s.limit, s.unusable ? 0u : flags};
}

// The descriptor's base and limit as a segment cache holds them.
SegmentCache cache_from_descriptor(uint16_t selector, uint64_t descriptor) {
  const uint32_t low = static_cast<uint32_t>(descriptor);
  const uint32_t high = static_cast<uint32_t>(descriptor >> 32);
  uint32_t limit = (low & 0xffff) | (high & 0x000f0000);
  if (high & (1u << 23)) limit = (limit << 12) | 0xfff;
  const uint64_t base = (low >> 16) | ((high & 0xff) << 16) | (high & 0xff000000);
  return {selector, base, limit, high & 0x00f0ff00};
}

std::string unicorn_error(const char* what, uc_err error) {
  return fmt::format("{}: {}", what, uc_strerror(error));
}

const std::array<int, 18> kGprIds = {
    UC_X86_REG_RAX, UC_X86_REG_RBX, UC_X86_REG_RCX,   UC_X86_REG_RDX, UC_X86_REG_RSI,
    UC_X86_REG_RDI, UC_X86_REG_RSP, UC_X86_REG_RBP,   UC_X86_REG_R8,  UC_X86_REG_R9,
    UC_X86_REG_R10, UC_X86_REG_R11, UC_X86_REG_R12,   UC_X86_REG_R13, UC_X86_REG_R14,
    UC_X86_REG_R15, UC_X86_REG_RIP, UC_X86_REG_RFLAGS};

std::array<__u64*, 18> gpr_fields(kvm_regs& r) {
  return {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rsp, &r.rbp, &r.r8,
          &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15, &r.rip, &r.rflags};
}

EmuVcpu* self_of(void* user) {
  return static_cast<EmuVcpu*>(user);
}

void code_hook(uc_engine*, uint64_t address, uint32_t, void* user) {
  self_of(user)->on_instruction(address);
}
uint32_t in_hook(uc_engine*, uint32_t port, int size, void* user) {
  return self_of(user)->on_port_in(port, size);
}
void out_hook(uc_engine*, uint32_t port, int size, uint32_t value, void* user) {
  self_of(user)->on_port_out(port, size, value);
}
bool unmapped_hook(uc_engine*, uc_mem_type type, uint64_t address, int size, int64_t value,
                   void* user) {
  return self_of(user)->on_unmapped_access(type == UC_MEM_WRITE_UNMAPPED,
                                           type == UC_MEM_FETCH_UNMAPPED, address, size, value);
}
void interrupt_hook(uc_engine*, uint32_t vector, void* user) {
  self_of(user)->on_exception(vector);
}
void syscall_hook(uc_engine*, void* user) {
  self_of(user)->on_refused_instruction("SYSCALL");
}
void sysenter_hook(uc_engine*, void* user) {
  self_of(user)->on_refused_instruction("SYSENTER");
}
void ram_write_hook(uc_engine*, uc_mem_type, uint64_t address, int size, int64_t, void* user) {
  self_of(user)->on_ram_write(address, size);
}

bool invalid_hook(uc_engine*, void* user) {
  self_of(user)->on_refused_instruction("an instruction it does not know (#UD)");
  return false;
}
uint64_t device_read(uc_engine*, uint64_t offset, unsigned size, void* user) {
  return self_of(user)->on_device_page_read(offset, size);
}
void device_write(uc_engine*, uint64_t offset, unsigned size, uint64_t value, void* user) {
  self_of(user)->on_device_page_write(offset, size, value);
}

// The instructions whose result comes from the host, which Unicorn executes without a hook:
// RDTSC and RDTSCP (the host's clock), RDRAND and RDSEED (its entropy). nullptr for any other.
const char* host_input_instruction(std::span<const uint8_t> bytes) {
  size_t i = 0;
  while (i < 4 && i < bytes.size() &&
         (bytes[i] == 0x66 || bytes[i] == 0xf2 || bytes[i] == 0xf3 || (bytes[i] & 0xf0) == 0x40)) {
    ++i;
  }
  if (i + 2 >= bytes.size() || bytes[i] != 0x0f) return nullptr;
  const uint8_t opcode = bytes[i + 1];
  const uint8_t modrm = bytes[i + 2];
  if (opcode == 0x31) return "RDTSC";
  if (opcode == 0x01 && modrm == 0xf9) return "RDTSCP";
  if (opcode == 0xc7 && (modrm >> 6) == 3 && ((modrm >> 3) & 7) == 6) return "RDRAND";
  if (opcode == 0xc7 && (modrm >> 6) == 3 && ((modrm >> 3) & 7) == 7) return "RDSEED";
  return nullptr;
}

// Whether the instruction at `bytes` is INS rather than IN (both reach the IN hook).
bool is_string_port_instruction(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    const bool prefix = b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 || (b & 0xf0) == 0x40;
    if (!prefix) return b == 0x6c || b == 0x6d || b == 0x6e || b == 0x6f;
  }
  return false;
}

}  // namespace

const char* accel_name(Accel accel) {
  return accel == Accel::kKvm ? "kvm" : "emu";
}

std::string EmuVcpu::engine_version() {
  unsigned major = 0, minor = 0;
  uc_version(&major, &minor);
  return fmt::format("Unicorn {}.{}", major, minor);
}

EmuVcpu::EmuVcpu(uc_struct* engine, const GuestMemory& memory)
    : engine_(engine), memory_(memory), run_page_(new uint8_t[kRunPageBytes]()) {}

EmuVcpu::~EmuVcpu() {
  if (context_) uc_context_free(context_);
  uc_close(engine_);
}

Result<std::unique_ptr<EmuVcpu>> EmuVcpu::create(const GuestMemory& memory) {
  uc_engine* engine = nullptr;
  if (uc_err e = uc_open(UC_ARCH_X86, UC_MODE_64, &engine); e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot start the software CPU (uc_open)", e));
  }
  std::unique_ptr<EmuVcpu> vcpu(new EmuVcpu(engine, memory));
  if (uc_err e = uc_mem_map_ptr(engine, 0, memory.size(), UC_PROT_ALL, memory.host_base());
      e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot map guest RAM into the software CPU", e));
  }
  if (uc_err e = uc_context_alloc(engine, &vcpu->context_); e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot allocate the software CPU's state", e));
  }
  if (auto r = vcpu->check_state_layout(); !r) return r.error();
  if (auto r = vcpu->install_hooks(); !r) return r.error();
  vcpu->find_state_msrs();
  return vcpu;
}

Result<void> EmuVcpu::install_hooks() {
  struct Hook {
    int type;
    void* callback;
    int instruction;  // for UC_HOOK_INSN, else 0
  };
  const std::array<Hook, 7> hooks = {{
      {UC_HOOK_CODE, reinterpret_cast<void*>(code_hook), 0},
      {UC_HOOK_INSN, reinterpret_cast<void*>(in_hook), UC_X86_INS_IN},
      {UC_HOOK_INSN, reinterpret_cast<void*>(out_hook), UC_X86_INS_OUT},
      {UC_HOOK_INSN, reinterpret_cast<void*>(syscall_hook), UC_X86_INS_SYSCALL},
      {UC_HOOK_INSN, reinterpret_cast<void*>(sysenter_hook), UC_X86_INS_SYSENTER},
      {UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(unmapped_hook), 0},
      {UC_HOOK_INTR, reinterpret_cast<void*>(interrupt_hook), 0},
  }};
  for (const Hook& h : hooks) {
    uc_hook handle;
    const uc_err e =
        h.type == UC_HOOK_INSN
            ? uc_hook_add(engine_, &handle, h.type, h.callback, this, 1, 0, h.instruction)
            : uc_hook_add(engine_, &handle, h.type, h.callback, this, 1, 0);
    if (e != UC_ERR_OK) return make_error(unicorn_error("cannot hook the software CPU", e));
  }
  uc_hook handle;
  if (uc_err e = uc_hook_add(engine_, &handle, UC_HOOK_INSN_INVALID,
                             reinterpret_cast<void*>(invalid_hook), this, 1, 0);
      e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot hook the software CPU", e));
  }
  return {};
}

// Writes values through the API and finds them where the layout constants say; a Unicorn
// whose saved state differs is refused rather than corrupted at the first interrupt from CPL3.
Result<void> EmuVcpu::check_state_layout() {
  // QEMU keeps the GPRs in encoding order.
  const std::array<int, 16> encoding_order = {
      UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
      UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
      UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
      UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
  for (size_t i = 0; i < 16; ++i) set_reg(encoding_order[i], 0x1111111111111111ull * (i + 1));
  set_reg(UC_X86_REG_RIP, 0x123456);
  set_reg(UC_X86_REG_FS_BASE, 0xabcdef000ull);
  const uint8_t* state = save_state();
  bool ok = true;
  for (size_t i = 0; i < 16; ++i) {
    uint64_t v;
    std::memcpy(&v, state + kRegsOffset + 8 * i, 8);
    ok = ok && v == 0x1111111111111111ull * (i + 1);
  }
  uint64_t eip;
  std::memcpy(&eip, state + kEipOffset, 8);
  const uint32_t hflags = read_hflags(state);
  ok = ok && eip == 0x123456 && read_segment(state, kSegFs).base == 0xabcdef000ull &&
       read_segment(state, kSegCs).selector == reg(UC_X86_REG_CS) &&
       (hflags & (kHfLma | kHfCs64)) == (kHfLma | kHfCs64) && (hflags & kHfCpl) == 0;
  for (int id : encoding_order) set_reg(id, 0);
  set_reg(UC_X86_REG_RIP, 0);
  set_reg(UC_X86_REG_FS_BASE, 0);
  if (!ok) {
    return make_error(fmt::format(
        "{} does not lay out its CPU state as ftvm expects (it was checked against Unicorn "
        "2.0.1): the software CPU could not deliver interrupts to user-mode code on it",
        engine_version()));
  }
  return {};
}

uint8_t* EmuVcpu::save_state() const {
  uc_context_save(engine_, context_);
  // The state follows the context's header; uc_context_size counts both.
  size_t state_bytes;
  std::memcpy(&state_bytes, context_, sizeof(state_bytes));
  return reinterpret_cast<uint8_t*>(context_) + (uc_context_size(engine_) - state_bytes);
}

void EmuVcpu::restore_state() {
  uc_context_restore(engine_, context_);
}

uint64_t EmuVcpu::reg(int id) const {
  uint64_t value = 0;
  uc_reg_read(engine_, id, &value);
  return value;
}

void EmuVcpu::set_reg(int id, uint64_t value) {
  uc_reg_write(engine_, id, &value);
}

uint64_t EmuVcpu::rflags() const {
  return reg(UC_X86_REG_RFLAGS);
}

bool EmuVcpu::interrupt_shadow() const {
  return (read_hflags(save_state()) & kHfInhibitIrq) != 0;
}

void EmuVcpu::stop(Stop reason) {
  stop_ = reason;
  uc_emu_stop(engine_);
}

void EmuVcpu::fault(std::string what) {
  if (failure_.empty()) failure_ = std::move(what);
  stop(Stop::kFault);
}

// Runs before each instruction (and before each rep iteration). An instruction it stops is
// not executed, so it is not counted.
void EmuVcpu::on_instruction(uint64_t address) {
  if (stop_ != Stop::kNone) return;
  // RF covers the run's first instruction until it begins: a stop before it (a kick) leaves
  // RF set for the next run, as hardware leaves it in RFLAGS.
  const bool past_breakpoint = std::exchange(debug_.resuming, false) && debug_.resume_flag;
  if (completing_) {
    if (retired_ == limit_) {
      stop(Stop::kLimit);
      return;
    }
  } else if (debug_stop_before(address, past_breakpoint)) {
    stop(Stop::kDebug);
    return;
  } else if (stop_at_ && retired_ == *stop_at_) {
    stop(Stop::kTarget);
    return;
  } else if (*kick_flag_) {
    *kick_flag_ = 0;
    stop(Stop::kKick);
    return;
  } else if (run_page()->request_interrupt_window && (rflags() & kRflagsIf) &&
             !interrupt_shadow()) {
    stop(Stop::kWindow);
    return;
  }
  if (debug_.single_step) debug_.step_begun = true;
  debug_.resume_flag = false;
  current_rip_ = address;
  // Guest code is in RAM at its identity-mapped address (the backend's scope), so its bytes are
  // read in place: a few compares per instruction.
  if (address < memory_.size() - 8) {
    if (const char* what = host_input_instruction({memory_.host_base() + address, 7})) {
      on_refused_instruction(what);
      return;
    }
  }
  ++retired_;
}

bool EmuVcpu::debug_stop_before(uint64_t address, bool past_breakpoint) {
  constexpr uint32_t kDr6SingleStep = 1u << 14;
  if (!debug_.armed) return false;  // every instruction passes here
  if (debug_.single_step && debug_.step_begun) {
    debug_.step_begun = false;
    debug_stop_dr6_ = kDr6SingleStep;
    return true;
  }
  if (past_breakpoint) return false;
  for (size_t i = 0; i < debug_.breakpoints.size(); ++i) {
    if (debug_.breakpoints[i] == address) {
      debug_stop_dr6_ = 1u << i;
      return true;
    }
  }
  return false;
}

Result<void> EmuVcpu::stop_at_instruction(uint64_t retired) {
  if (retired < retired_) {
    return make_error(
        fmt::format("instruction {} is already behind the guest (at {})", retired, retired_));
  }
  stop_at_ = retired;
  return {};
}

// One element of port I/O, reported as KVM reports it.
void EmuVcpu::report_port_exit(uint8_t direction, uint32_t port, int size) {
  kvm_run* run = run_page();
  run->exit_reason = KVM_EXIT_IO;
  run->io = {};
  run->io.direction = direction;
  run->io.size = static_cast<uint8_t>(size);
  run->io.port = static_cast<uint16_t>(port);
  run->io.count = 1;
  run->io.data_offset = kPioDataOffset;
}

uint32_t EmuVcpu::on_port_in(uint32_t port, int size) {
  std::array<uint8_t, 15> bytes{};
  uc_mem_read(engine_, current_rip_, bytes.data(), bytes.size());
  port_in_ = PendingPortIn{size, is_string_port_instruction(bytes)};
  report_port_exit(KVM_EXIT_IO_IN, port, size);
  stop(Stop::kPortIn);
  return 0;  // the real value is written before the guest goes on (complete_port_in)
}

void EmuVcpu::on_port_out(uint32_t port, int size, uint32_t value) {
  report_port_exit(KVM_EXIT_IO_OUT, port, size);
  std::memcpy(run_page_.get() + kPioDataOffset, &value, static_cast<size_t>(size));
  stop(Stop::kPortOut);
}

bool EmuVcpu::on_unmapped_access(bool is_write, bool is_fetch, uint64_t address, int size,
                                 int64_t value) {
  if (is_fetch) {
    fault(fmt::format("the guest jumped to {:#x}, where there is no memory", address));
    return false;
  }
  if (size <= 0 || size > 8 || (address & (kPage - 1)) + static_cast<uint64_t>(size) > kPage) {
    fault(
        fmt::format("the guest accessed {} bytes of device memory at {:#x}: the software CPU "
                    "passes only accesses of 1 to 8 bytes within one page to devices",
                    size, address));
    return false;
  }
  kvm_run* run = run_page();
  run->exit_reason = KVM_EXIT_MMIO;
  run->mmio = {};
  run->mmio.phys_addr = address;
  run->mmio.len = static_cast<uint32_t>(size);
  run->mmio.is_write = is_write ? 1 : 0;
  if (is_write) std::memcpy(run->mmio.data, &value, static_cast<size_t>(size));
  device_access_ =
      PendingDeviceAccess{address, static_cast<uint32_t>(size), is_write, address & ~(kPage - 1)};
  stop(Stop::kDeviceMemory);
  return false;  // the instruction does not run now; complete_device_access() runs it
}

void EmuVcpu::on_exception(uint32_t vector) {
  exception_ = classify_exception(vector);
  if (exception_) return stop(Stop::kException);
  fault(
      fmt::format("the guest raised exception {} at {:#x}: the software CPU delivers the guest's "
                  "software interrupts (INT n, INT3, INT1) only",
                  vector, current_rip_));
}

// Only software interrupts: they carry no error code (Unicorn exposes none) and bypass the
// exception bookkeeping Unicorn runs without ever delivering (a UD2 after a #DE delivered this
// way was seen to stop Unicorn with no hook called).
std::optional<EmuVcpu::GuestException> EmuVcpu::classify_exception(uint32_t vector) const {
  std::array<uint8_t, 2> bytes{};
  uc_mem_read(engine_, current_rip_, bytes.data(), bytes.size());
  if (bytes[0] == 0xcd && bytes[1] == vector) return GuestException{bytes[1], current_rip_ + 2};
  if (bytes[0] == 0xcc && vector == 3) return GuestException{3, current_rip_ + 1};
  if (bytes[0] == 0xf1 && vector == 1) return GuestException{1, current_rip_ + 1};
  return std::nullopt;
}

Result<void> EmuVcpu::take_exception() {
  const GuestException e = *exception_;
  exception_.reset();
  set_reg(UC_X86_REG_RIP, e.return_rip);
  if (auto r = deliver(e.vector, /*software=*/true); !r) {
    return make_error(
        fmt::format("the guest's software interrupt {} at {:#x} cannot be "
                    "delivered: {}",
                    e.vector, current_rip_, r.error().message));
  }
  return {};
}

void EmuVcpu::on_refused_instruction(const char* what) {
  fault(
      fmt::format("the guest reached {} at {:#x}, which the software CPU cannot run "
                  "faithfully",
                  what, current_rip_));
}

// Whether the access at `offset` of the device page is the next part of the one the exit
// reported; anything else is a second device access in one instruction, which stops the run.
bool EmuVcpu::expected_device_access(uint64_t offset, unsigned size, bool is_write) {
  const PendingDeviceAccess& a = *device_access_;
  const uint64_t address = a.page + offset;
  if (a.is_write == is_write && address == a.address + a.served && a.served + size <= a.size) {
    return true;
  }
  fault(
      fmt::format("the instruction at {:#x} made a second device access ({} bytes at {:#x}) "
                  "after its {} of {} bytes at {:#x}: the software CPU passes one device "
                  "access per instruction",
                  current_rip_, size, address, a.is_write ? "write" : "read", a.size, a.address));
  return false;
}

uint64_t EmuVcpu::on_device_page_read(uint64_t offset, unsigned size) {
  if (!expected_device_access(offset, size, /*is_write=*/false)) return 0;
  PendingDeviceAccess& a = *device_access_;
  uint64_t value = 0;
  std::memcpy(&value, run_page()->mmio.data + a.served, size);
  a.served += size;
  return value;
}

void EmuVcpu::on_device_page_write(uint64_t offset, unsigned size, uint64_t) {
  // The exit handler already gave the write to the device.
  if (expected_device_access(offset, size, /*is_write=*/true)) device_access_->served += size;
}

Result<void> EmuVcpu::complete_port_in() {
  if (!port_in_) return {};
  const PendingPortIn in = *port_in_;
  port_in_.reset();
  uint64_t value = 0;
  std::memcpy(&value, run_page_.get() + kPioDataOffset, static_cast<size_t>(in.size));
  if (!in.string) {
    // The IN wrote 0 into AL/AX (keeping the rest of RAX) or EAX (clearing the upper half).
    set_reg(UC_X86_REG_RAX, reg(UC_X86_REG_RAX) | value);
    return {};
  }
  // INS stored 0 at RDI and moved RDI on by the element size, in the direction DF says.
  const uint64_t step = static_cast<uint64_t>(in.size);
  const uint64_t rdi = reg(UC_X86_REG_RDI);
  const uint64_t target = (rflags() & kRflagsDf) ? rdi + step : rdi - step;
  auto gpa = translate(target);
  if (!gpa) return gpa.error();
  if (uc_err e = uc_mem_write(engine_, *gpa, &value, step); e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot complete INS", e));
  }
  mark_dirty(*gpa, step);
  return {};
}

// Runs the one instruction that stopped at device memory, against a page that serves the data
// the exit handler put in the run page.
int EmuVcpu::complete_device_access() {
  const uint64_t page = device_access_->page;
  if (uc_err e = uc_mmio_map(engine_, page, kPage, device_read, this, device_write, this);
      e != UC_ERR_OK) {
    failure_ = unicorn_error("cannot map a device page to complete an access", e);
    return EIO;
  }
  completing_ = true;
  limit_ = retired_ + 1;
  const int error = execute();
  completing_ = false;
  uc_mem_unmap(engine_, page, kPage);
  const bool complete = device_access_->served == device_access_->size;
  device_access_.reset();
  if (error != 0) return error;
  if (stop_ == Stop::kFault) return 0;
  if (!complete && stop_ == Stop::kNone) {
    failure_ = "the instruction that accessed device memory did not complete its access";
    stop_ = Stop::kFault;
  }
  return 0;
}

// One uc_emu_start from the current RIP until a hook stops it or the guest halts.
int EmuVcpu::execute() {
  stop_ = Stop::kNone;
  const uint64_t before = retired_;
  const uc_err e = uc_emu_start(engine_, reg(UC_X86_REG_RIP), ~0ull, 0, 0);
  if (e == UC_ERR_OK) return 0;
  // The instruction that failed was counted when it began but did not complete.
  if (retired_ > before) --retired_;
  if (stop_ == Stop::kDeviceMemory || stop_ == Stop::kFault || stop_ == Stop::kException) return 0;
  failure_ = fmt::format("the software CPU stopped at {:#x}: {}", current_rip_, uc_strerror(e));
  stop_ = Stop::kFault;
  return 0;
}

void EmuVcpu::fill_interrupt_fields() {
  kvm_run* run = run_page();
  const bool interruptible = (rflags() & kRflagsIf) != 0;
  run->if_flag = interruptible ? 1 : 0;
  run->ready_for_interrupt_injection = interruptible && !interrupt_shadow() ? 1 : 0;
}

int EmuVcpu::finish_run(int error) {
  fill_interrupt_fields();
  return error;
}

int EmuVcpu::run() {
  kick_flag_ = &kick_flag_of_this_thread();
  failure_.clear();
  debug_.resuming = true;
  if (auto r = complete_port_in(); !r) {
    failure_ = r.error().message;
    run_page()->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    return finish_run(0);
  }
  if (device_access_) {
    if (int error = complete_device_access(); error != 0) return finish_run(error);
    if (stop_ == Stop::kLimit) stop_ = Stop::kNone;  // the access is done; go on
  } else {
    stop_ = Stop::kNone;
  }
  // A guest exception is no exit (the hardware delivers it without one): it is delivered
  // here and the guest goes on.
  if (stop_ == Stop::kNone) {
    for (;;) {
      if (int error = execute(); error != 0) return finish_run(error);
      if (stop_ != Stop::kException) break;
      if (auto r = take_exception(); !r) {
        failure_ = r.error().message;
        stop_ = Stop::kFault;
        break;
      }
    }
  }
  kvm_run* run = run_page();
  switch (stop_) {
    case Stop::kPortIn:
    case Stop::kPortOut:
    case Stop::kDeviceMemory:
      return finish_run(0);  // the hook filled the exit record
    case Stop::kKick:
    case Stop::kLimit:
      run->exit_reason = KVM_EXIT_INTR;
      return finish_run(EINTR);
    case Stop::kTarget:
      stop_at_.reset();
      run->exit_reason = KVM_EXIT_DEBUG;
      run->debug = {};
      run->debug.arch.pc = reg(UC_X86_REG_RIP);
      return finish_run(0);
    case Stop::kDebug:
      run->exit_reason = KVM_EXIT_DEBUG;
      run->debug = {};
      run->debug.arch.exception = 1;  // #DB
      run->debug.arch.pc = reg(UC_X86_REG_RIP);
      run->debug.arch.dr6 = debug_stop_dr6_;
      return finish_run(0);
    case Stop::kWindow:
      run->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
      return finish_run(0);
    case Stop::kException:  // delivered above
    case Stop::kFault:
      run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
      run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
      return finish_run(0);
    case Stop::kNone:
      break;
  }
  // Unicorn returns by itself only after HLT.
  uint8_t last = 0;
  uc_mem_read(engine_, current_rip_, &last, 1);
  if (last != 0xf4) {
    failure_ = fmt::format("the software CPU stopped at {:#x} without saying why", current_rip_);
    run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    return finish_run(0);
  }
  run->exit_reason = KVM_EXIT_HLT;
  return finish_run(0);
}

Result<void> EmuVcpu::refresh_run_page() {
  // As KVM_RUN with immediate_exit: what the last exit left pending (a port read's value, a
  // device-memory access) completes first, and the guest runs no further.
  if (auto r = complete_port_in(); !r) return r;
  if (device_access_) {
    if (const int error = complete_device_access(); error != 0 || stop_ == Stop::kFault) {
      return make_error("completing a device-memory access: " + failure_);
    }
    stop_ = Stop::kNone;
  }
  fill_interrupt_fields();
  return {};
}

Result<kvm_regs> EmuVcpu::get_regs() const {
  kvm_regs regs{};
  auto fields = gpr_fields(regs);
  for (size_t i = 0; i < kGprIds.size(); ++i) *fields[i] = reg(kGprIds[i]);
  if (debug_.resume_flag) regs.rflags |= kRflagsRf;
  return regs;
}

Result<void> EmuVcpu::set_regs(const kvm_regs& regs) {
  port_in_.reset();  // a new state replaces the one the read was completing
  kvm_regs copy = regs;
  debug_.resume_flag = (copy.rflags & kRflagsRf) != 0;
  copy.rflags &= ~kRflagsRf;
  auto fields = gpr_fields(copy);
  for (size_t i = 0; i < kGprIds.size(); ++i) set_reg(kGprIds[i], *fields[i]);
  return {};
}

Result<kvm_sregs> EmuVcpu::get_sregs() const {
  kvm_sregs s{};
  const uint8_t* state = save_state();
  s.es = to_kvm_segment(read_segment(state, kSegEs));
  s.cs = to_kvm_segment(read_segment(state, kSegCs));
  s.ss = to_kvm_segment(read_segment(state, kSegSs));
  s.ds = to_kvm_segment(read_segment(state, kSegDs));
  s.fs = to_kvm_segment(read_segment(state, kSegFs));
  s.gs = to_kvm_segment(read_segment(state, kSegGs));
  s.ldt = to_kvm_segment(read_segment(state, kSegLdt));
  s.tr = to_kvm_segment(read_segment(state, kSegTr));
  uc_x86_mmr gdt{}, idt{};
  uc_reg_read(engine_, UC_X86_REG_GDTR, &gdt);
  uc_reg_read(engine_, UC_X86_REG_IDTR, &idt);
  s.gdt.base = gdt.base;
  s.gdt.limit = static_cast<uint16_t>(gdt.limit);
  s.idt.base = idt.base;
  s.idt.limit = static_cast<uint16_t>(idt.limit);
  s.cr0 = reg(UC_X86_REG_CR0);
  s.cr2 = reg(UC_X86_REG_CR2);
  s.cr3 = reg(UC_X86_REG_CR3);
  s.cr4 = reg(UC_X86_REG_CR4);
  s.cr8 = reg(UC_X86_REG_CR8);
  uc_x86_msr efer{kMsrEfer, 0};
  uc_reg_read(engine_, UC_X86_REG_MSR, &efer);
  s.efer = efer.value;
  return s;
}

Result<void> EmuVcpu::set_sregs(const kvm_sregs& s) {
  // Paging is switched on last, once what it depends on (CR3, PAE, LME) is in place.
  set_reg(UC_X86_REG_CR3, s.cr3);
  set_reg(UC_X86_REG_CR4, s.cr4);
  uc_x86_msr efer{kMsrEfer, s.efer};
  if (uc_err e = uc_reg_write(engine_, UC_X86_REG_MSR, &efer); e != UC_ERR_OK) {
    return make_error(unicorn_error("the software CPU refused EFER", e));
  }
  set_reg(UC_X86_REG_CR0, s.cr0);
  set_reg(UC_X86_REG_CR2, s.cr2);
  set_reg(UC_X86_REG_CR8, s.cr8);
  uc_x86_mmr gdt{0, s.gdt.base, s.gdt.limit, 0};
  uc_x86_mmr idt{0, s.idt.base, s.idt.limit, 0};
  uc_reg_write(engine_, UC_X86_REG_GDTR, &gdt);
  uc_reg_write(engine_, UC_X86_REG_IDTR, &idt);
  uint8_t* state = save_state();
  write_segment(state, kSegEs, from_kvm_segment(s.es));
  write_segment(state, kSegCs, from_kvm_segment(s.cs));
  write_segment(state, kSegSs, from_kvm_segment(s.ss));
  write_segment(state, kSegDs, from_kvm_segment(s.ds));
  write_segment(state, kSegFs, from_kvm_segment(s.fs));
  write_segment(state, kSegGs, from_kvm_segment(s.gs));
  write_segment(state, kSegLdt, from_kvm_segment(s.ldt));
  write_segment(state, kSegTr, from_kvm_segment(s.tr));
  // What QEMU derives from CS and SS when it loads them: the CPL and the code size.
  uint32_t hflags = read_hflags(state) & ~(kHfCpl | kHfCs32 | kHfSs32 | kHfCs64 | kHfAddseg);
  hflags |= s.ss.dpl & kHfCpl;
  if ((hflags & kHfLma) && s.cs.l) {
    hflags |= kHfCs32 | kHfSs32 | kHfCs64;
  } else {
    if (s.cs.db) hflags |= kHfCs32;
    if (s.ss.db) hflags |= kHfSs32;
    hflags |= kHfAddseg;
  }
  write_hflags(state, hflags);
  restore_state();
  return {};
}

// kvm_fpu holds ST(i) in stack order and the abridged tag (bit i: physical register i is in
// use); Unicorn reads physical registers and the full tag word (two bits each, 3 = empty).
Result<kvm_fpu> EmuVcpu::get_fpu() const {
  kvm_fpu fpu{};
  fpu.fcw = static_cast<uint16_t>(reg(UC_X86_REG_FPCW));
  fpu.fsw = static_cast<uint16_t>(reg(UC_X86_REG_FPSW));
  const uint64_t tags = reg(UC_X86_REG_FPTAG);
  for (int i = 0; i < 8; ++i) {
    if (((tags >> (2 * i)) & 3) != 3) fpu.ftwx |= static_cast<uint8_t>(1u << i);
  }
  const int top = (fpu.fsw >> 11) & 7;
  for (int i = 0; i < 8; ++i) {
    uc_reg_read(engine_, UC_X86_REG_FP0 + ((top + i) & 7), fpu.fpr[i]);
  }
  fpu.last_opcode = static_cast<uint16_t>(reg(UC_X86_REG_FOP));
  fpu.last_ip = reg(UC_X86_REG_FIP);
  fpu.last_dp = reg(UC_X86_REG_FDP);
  for (int i = 0; i < 16; ++i) uc_reg_read(engine_, UC_X86_REG_XMM0 + i, fpu.xmm[i]);
  fpu.mxcsr = static_cast<uint32_t>(reg(UC_X86_REG_MXCSR));
  return fpu;
}

Result<void> EmuVcpu::set_fpu(const kvm_fpu& fpu) {
  set_reg(UC_X86_REG_FPCW, fpu.fcw);
  set_reg(UC_X86_REG_FPSW, fpu.fsw);
  const int top = (fpu.fsw >> 11) & 7;
  for (int i = 0; i < 8; ++i) {
    uc_reg_write(engine_, UC_X86_REG_FP0 + ((top + i) & 7), fpu.fpr[i]);
  }
  uint64_t tags = 0;
  for (int i = 0; i < 8; ++i) {
    if ((fpu.ftwx & (1u << i)) == 0) tags |= uint64_t{3} << (2 * i);
  }
  set_reg(UC_X86_REG_FPTAG, tags);
  set_reg(UC_X86_REG_FOP, fpu.last_opcode);
  set_reg(UC_X86_REG_FIP, fpu.last_ip);
  set_reg(UC_X86_REG_FDP, fpu.last_dp);
  for (int i = 0; i < 16; ++i) uc_reg_write(engine_, UC_X86_REG_XMM0 + i, fpu.xmm[i]);
  set_reg(UC_X86_REG_MXCSR, fpu.mxcsr);
  return {};
}

Result<kvm_vcpu_events> EmuVcpu::get_events() const {
  kvm_vcpu_events events{};
  events.flags = KVM_VCPUEVENT_VALID_SHADOW;
  events.interrupt.shadow = interrupt_shadow() ? KVM_X86_SHADOW_INT_STI : 0;
  return events;
}

Result<void> EmuVcpu::set_events(const kvm_vcpu_events& events) {
  if (events.exception.injected || events.interrupt.injected || events.nmi.injected) {
    return make_error("the software CPU cannot take a pending exception or interrupt");
  }
  // A checkpoint taken in an STI or MOV SS shadow resumes in it.
  if (events.flags & KVM_VCPUEVENT_VALID_SHADOW) {
    uint8_t* state = save_state();
    uint32_t hflags = read_hflags(state) & ~kHfInhibitIrq;
    if (events.interrupt.shadow != 0) hflags |= kHfInhibitIrq;
    write_hflags(state, hflags);
    restore_state();
  }
  return {};
}

Result<std::vector<uint8_t>> EmuVcpu::get_xsave() const {
  return make_error("the software CPU does not expose an XSAVE area");
}
Result<void> EmuVcpu::set_xsave(std::span<const uint8_t>) {
  return make_error("the software CPU does not take an XSAVE area");
}
// No XCRs: the software CPU's guests run without XSAVE (capture then keeps the FPU state).
Result<kvm_xcrs> EmuVcpu::get_xcrs() const {
  return kvm_xcrs{};
}
Result<void> EmuVcpu::set_xcrs(const kvm_xcrs& xcrs) {
  if (xcrs.nr_xcrs == 0) return {};
  return make_error("the software CPU has no XCRs to load");
}

// The guest's own debug registers, which Unicorn keeps (ftvm's breakpoints live apart, in
// debug_).
Result<kvm_debugregs> EmuVcpu::get_debugregs() const {
  kvm_debugregs d{};
  for (int i = 0; i < 4; ++i) d.db[i] = reg(UC_X86_REG_DR0 + i);
  d.dr6 = reg(UC_X86_REG_DR6);
  d.dr7 = reg(UC_X86_REG_DR7);
  return d;
}
Result<void> EmuVcpu::set_debugregs(const kvm_debugregs& d) {
  for (int i = 0; i < 4; ++i) set_reg(UC_X86_REG_DR0 + i, d.db[i]);
  set_reg(UC_X86_REG_DR6, d.dr6);
  set_reg(UC_X86_REG_DR7, d.dr7);
  return {};
}

void EmuVcpu::find_state_msrs() {
  for (uint32_t index : state_msr_indices()) {
    uc_x86_msr msr{index, 0};
    if (uc_reg_read(engine_, UC_X86_REG_MSR, &msr) != UC_ERR_OK) continue;
    if (uc_reg_write(engine_, UC_X86_REG_MSR, &msr) != UC_ERR_OK) continue;
    support_.msr_indices.push_back(index);
  }
}

Result<std::vector<kvm_msr_entry>> EmuVcpu::get_msrs(std::span<const uint32_t> indices) const {
  std::vector<kvm_msr_entry> entries;
  for (uint32_t index : indices) {
    uc_x86_msr msr{index, 0};
    if (uc_err e = uc_reg_read(engine_, UC_X86_REG_MSR, &msr); e != UC_ERR_OK) {
      return make_error(unicorn_error(fmt::format("cannot read MSR {:#x}", index).c_str(), e));
    }
    entries.push_back({index, 0, msr.value});
  }
  return entries;
}
Result<void> EmuVcpu::set_msrs(std::span<const kvm_msr_entry> entries) {
  for (const auto& entry : entries) {
    uc_x86_msr msr{entry.index, entry.data};
    if (uc_err e = uc_reg_write(engine_, UC_X86_REG_MSR, &msr); e != UC_ERR_OK) {
      return make_error(
          unicorn_error(fmt::format("cannot write MSR {:#x}", entry.index).c_str(), e));
    }
  }
  return {};
}

Result<void> EmuVcpu::log_dirty_pages() {
  if (!dirty_bitmap_.empty()) return {};
  uc_hook handle;
  if (uc_err e = uc_hook_add(engine_, &handle, UC_HOOK_MEM_WRITE,
                             reinterpret_cast<void*>(ram_write_hook), this, 0, memory_.size() - 1);
      e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot log the software CPU's writes", e));
  }
  // From here on, as KVM's log starts when its slot is created: what the VMM put in RAM before
  // (the guest's image) the replay puts there too.
  dirty_bitmap_.assign((memory_.size() / kPage + 63) / 64, 0);
  return {};
}

void EmuVcpu::mark_dirty(uint64_t gpa, uint64_t bytes) {
  if (dirty_bitmap_.empty() || bytes == 0 || gpa >= memory_.size()) return;
  const uint64_t last = std::min(gpa + bytes - 1, memory_.size() - 1) / kPage;
  for (uint64_t page = gpa / kPage; page <= last; ++page) {
    dirty_bitmap_[page / 64] |= uint64_t{1} << (page % 64);
  }
}

// The page-table pages reachable from CR3 (PML4, PDPTs, page directories, page tables), in RAM.
std::vector<uint64_t> EmuVcpu::page_table_pages() const {
  constexpr uint64_t kPresent = 1, kLarge = 1u << 7;
  constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;
  std::vector<uint64_t> tables;
  const auto in_ram = [this](uint64_t gpa) { return gpa + kPage <= memory_.size(); };
  const auto walk = [&](auto& self, uint64_t table, int level) -> void {
    if (!in_ram(table)) return;
    tables.push_back(table);
    if (level == 1) return;
    const auto* entries = reinterpret_cast<const uint64_t*>(memory_.host_base() + table);
    for (size_t i = 0; i < kPage / 8; ++i) {
      const uint64_t entry = entries[i];
      if ((entry & kPresent) == 0) continue;
      if (level != 4 && (entry & kLarge) != 0) continue;  // a 1 GiB or 2 MiB page
      self(self, entry & kAddressMask, level - 1);
    }
  };
  walk(walk, reg(UC_X86_REG_CR3) & kAddressMask, 4);
  return tables;
}

// Unicorn sets accessed and dirty bits in the guest's page tables as it walks them, and no
// write hook sees it; a checkpoint without them resumes with tables that differ from the
// recording's (the replay's RAM digest then differs). So every table page is compared with
// its copy from the last look, and marked when it changed or is new.
void EmuVcpu::mark_changed_page_tables() {
  for (uint64_t table : page_table_pages()) table_copies_.try_emplace(table);
  for (auto& [table, copy] : table_copies_) {
    const uint8_t* now = memory_.host_base() + table;
    if (!copy.empty() && std::memcmp(copy.data(), now, kPage) == 0) continue;
    copy.assign(now, now + kPage);
    mark_dirty(table, kPage);
  }
}

Result<std::vector<uint64_t>> EmuVcpu::take_dirty_pages() {
  if (dirty_bitmap_.empty()) return make_error("the software CPU was not asked to log writes");
  mark_changed_page_tables();
  std::vector<uint64_t> pages = dirty_pages_from_bitmap(dirty_bitmap_);
  std::fill(dirty_bitmap_.begin(), dirty_bitmap_.end(), 0);
  return pages;
}

Result<void> EmuVcpu::set_guest_debug(const kvm_guest_debug& debug) {
  constexpr uint32_t kKnown =
      KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP;
  if (debug.control & ~kKnown) {
    return make_error(fmt::format(
        "the software CPU offers execution breakpoints and single-step only (control {:#x})",
        debug.control));
  }
  GuestDebug armed;
  if (debug.control & KVM_GUESTDBG_ENABLE) {
    armed.single_step = (debug.control & KVM_GUESTDBG_SINGLESTEP) != 0;
    const uint64_t dr7 = debug.arch.debugreg[7];
    for (size_t i = 0; i < armed.breakpoints.size(); ++i) {
      const bool enabled = (debug.control & KVM_GUESTDBG_USE_HW_BP) && ((dr7 >> (2 * i)) & 3);
      if (!enabled) continue;
      const uint64_t rw_len = (dr7 >> (16 + 4 * i)) & 0xf;
      if (rw_len != 0) {
        return make_error(fmt::format(
            "the software CPU offers execution breakpoints only (DR7 {:#x} asks for a data "
            "breakpoint in DR{})",
            dr7, i));
      }
      armed.breakpoints[i] = debug.arch.debugreg[i];
      armed.armed = true;
    }
    armed.armed = armed.armed || armed.single_step;
  }
  debug_ = armed;
  return {};
}

Result<uint64_t> EmuVcpu::read_u64(uint64_t gva) const {
  auto gpa = translate(gva);
  if (!gpa) return gpa.error();
  uint64_t value = 0;
  if (auto r = memory_.read(*gpa, {reinterpret_cast<uint8_t*>(&value), sizeof(value)}); !r) {
    return r.error();
  }
  return value;
}

// Four-level paging, with 1 GiB and 2 MiB pages.
Result<uint64_t> EmuVcpu::translate(uint64_t gva) const {
  if ((reg(UC_X86_REG_CR0) & (1ull << 31)) == 0) return gva;
  uint64_t table = reg(UC_X86_REG_CR3) & 0x000ffffffffff000ull;
  for (int level = 3; level >= 0; --level) {
    const uint64_t index = (gva >> (12 + 9 * level)) & 0x1ff;
    uint64_t entry = 0;
    if (auto r = memory_.read(table + index * 8, {reinterpret_cast<uint8_t*>(&entry), 8}); !r) {
      return make_error(fmt::format("page table at {:#x} is outside guest RAM", table));
    }
    if ((entry & 1) == 0) {
      return make_error(fmt::format("{:#x} is not mapped in the guest's page tables", gva));
    }
    const uint64_t frame = entry & 0x000ffffffffff000ull;
    if (level == 0 || (level <= 2 && (entry & (1ull << 7)))) {
      const uint64_t offset_bits = 12 + 9 * level;
      const uint64_t mask = (1ull << offset_bits) - 1;
      return (frame & ~mask) | (gva & mask);
    }
    table = frame;
  }
  return make_error("unreachable page walk");
}

Result<void> EmuVcpu::interrupt(uint8_t vector) {
  if (auto r = complete_port_in(); !r) return r;
  if (!(rflags() & kRflagsIf) || interrupt_shadow()) {
    return make_error(fmt::format("vector {:#x} offered while the guest cannot take it", vector));
  }
  return deliver(vector);
}

// A 64-bit IDT gate, as the hardware takes it for an external interrupt or, `software`, for
// INT n (which the gate's DPL must admit).
Result<void> EmuVcpu::deliver(uint8_t vector, bool software) {
  uc_x86_mmr idt{}, gdt{}, tr{};
  uc_reg_read(engine_, UC_X86_REG_IDTR, &idt);
  uc_reg_read(engine_, UC_X86_REG_GDTR, &gdt);
  uc_reg_read(engine_, UC_X86_REG_TR, &tr);
  const uint64_t entry = uint64_t{vector} * 16;
  if (entry + 15 > idt.limit) {
    return make_error(
        fmt::format("vector {:#x} is beyond the guest's IDT (limit {:#x})", vector, idt.limit));
  }
  auto low = read_u64(idt.base + entry);
  auto high = read_u64(idt.base + entry + 8);
  if (!low || !high) return make_error("the guest's IDT is not in its memory");
  const uint64_t gate = *low;
  const uint32_t type = (gate >> 40) & 0xf;
  if (((gate >> 47) & 1) == 0 || (type != 0xe && type != 0xf)) {
    return make_error(
        fmt::format("IDT entry {:#x} is not a present 64-bit interrupt or trap "
                    "gate ({:#018x}): the guest would fault",
                    vector, gate));
  }
  const uint32_t gate_dpl = (gate >> 45) & 3;
  if (software && gate_dpl < (read_hflags(save_state()) & kHfCpl)) {
    return make_error(fmt::format(
        "IDT entry {:#x} has DPL {} below the CPL: the guest would take #GP, whose error code "
        "the software CPU cannot see",
        vector, gate_dpl));
  }
  const uint64_t target = (gate & 0xffff) | ((gate >> 32) & 0xffff0000) | (*high << 32);
  const uint16_t selector = static_cast<uint16_t>(gate >> 16);
  const uint32_t ist = (gate >> 32) & 7;
  auto descriptor = read_u64(gdt.base + (selector & ~7u));
  if (!descriptor || (selector & ~7u) + 7 > gdt.limit) {
    return make_error(
        fmt::format("IDT entry {:#x} names selector {:#x}, outside the GDT", vector, selector));
  }
  const SegmentCache code = cache_from_descriptor(selector & ~3u, *descriptor);
  const uint32_t new_cpl = (code.flags >> 13) & 3;
  if (new_cpl != 0 || ((code.flags >> 21) & 1) == 0) {
    return make_error(fmt::format("IDT entry {:#x} does not lead to 64-bit ring-0 code", vector));
  }
  uint8_t* state = save_state();
  const uint32_t cpl = read_hflags(state) & kHfCpl;
  const uint64_t old_rsp = reg(UC_X86_REG_RSP);
  uint64_t rsp = old_rsp;
  if (ist != 0 || cpl != 0) {
    auto stack = read_u64(tr.base + (ist != 0 ? 0x24 + 8 * (ist - 1) : 4));
    if (!stack) return make_error("the guest's TSS is not in its memory");
    rsp = *stack;
  }
  rsp &= ~0xfull;
  const uint64_t flags = rflags();
  const std::array<uint64_t, 5> frame = {reg(UC_X86_REG_RIP), reg(UC_X86_REG_CS), flags, old_rsp,
                                         reg(UC_X86_REG_SS)};
  rsp -= sizeof(frame);
  auto frame_gpa = translate(rsp);
  if (!frame_gpa) return frame_gpa.error();
  if (uc_err e = uc_mem_write(engine_, *frame_gpa, frame.data(), sizeof(frame)); e != UC_ERR_OK) {
    return make_error(unicorn_error("cannot write the interrupt frame", e));
  }
  mark_dirty(*frame_gpa, sizeof(frame));
  write_segment(state, kSegCs, code);
  if (cpl != 0) write_segment(state, kSegSs, SegmentCache{0, 0, 0, 0});
  write_hflags(state,
               (read_hflags(state) & ~(kHfCpl | kHfInhibitIrq)) | kHfCs32 | kHfSs32 | kHfCs64);
  restore_state();
  uint64_t new_flags = flags & ~(kRflagsTf | kRflagsNt | kRflagsRf | kRflagsVm);
  if (type == 0xe) new_flags &= ~kRflagsIf;
  set_reg(UC_X86_REG_RFLAGS, new_flags);
  set_reg(UC_X86_REG_RSP, rsp);
  set_reg(UC_X86_REG_RIP, target);
  return {};
}

}  // namespace ftvm

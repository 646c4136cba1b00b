#include "page_writer_machine.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include "vmm/periodic_kick.h"

namespace ftvm {
namespace {

constexpr uint16_t kTestPort = 0x600;
constexpr uint64_t kParamsGpa = 0x3ff000;  // page_writer.S's PARAMS
// Turns for the transfer where the guest makes none itself (a long delay between reports).
constexpr auto kKickPeriod = std::chrono::milliseconds(2);

class NullConsole : public ConsoleSink {
 public:
  void write(std::span<const uint8_t>) override {}
};

}  // namespace

// Serves the transfer between exits; stops the loop when asked or at a report count.
class PageWriterMachine::Driver final : public ExecutionDriver {
 public:
  Driver(TransferPort& port, const ReportPort& reports) : port_(port), reports_(reports) {}
  DriverTurn between_exits(VcpuRunner& runner, const BetweenExits& at) override {
    if (stop_.load() || reports_.count() >= stop_at_reports_.load()) {
      return {false, false, RunResult{RunResult::Reason::kStopRequested, 0, "stopped"}};
    }
    port_.serve(runner, at);
    return {};
  }
  std::optional<RunResult> idle(VcpuRunner&, const BetweenExits&) override {
    return RunResult{RunResult::Reason::kFault, 0, "the page writer halted"};
  }
  void stop() { stop_.store(true); }
  void stop_at(size_t reports) {
    stop_.store(false);
    stop_at_reports_.store(reports);
  }

 private:
  TransferPort& port_;
  const ReportPort& reports_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> stop_at_reports_{std::numeric_limits<size_t>::max()};
};

void ReportPort::read(uint64_t, std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = static_cast<uint8_t>(kReadValue >> (8 * (i % sizeof(kReadValue))));
  }
}

void ReportPort::write(uint64_t, std::span<const uint8_t> data) {
  uint32_t value = 0;
  std::memcpy(&value, data.data(), std::min(data.size(), sizeof(value)));
  std::lock_guard lock(mutex_);
  values_.push_back(value);
  count_.store(values_.size());
}

std::vector<uint32_t> ReportPort::values() const {
  std::lock_guard lock(mutex_);
  return values_;
}

Result<std::unique_ptr<PageWriterMachine>> PageWriterMachine::create(Accel accel,
                                                                     uint64_t mem_bytes,
                                                                     uint64_t delay) {
  std::unique_ptr<PageWriterMachine> machine(new PageWriterMachine());
  const std::string path = std::string(FTVM_TINY_GUEST_DIR) + "/page_writer.elf";
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("missing test guest " + path);
  machine->image_.assign(std::istreambuf_iterator<char>(in), {});
  machine->console_ = std::make_unique<NullConsole>();
  VmConfig config;
  config.accel = accel;
  config.mem_bytes = mem_bytes;
  config.image = machine->image_;
  config.image_name = "page_writer.elf";
  config.track_dirty_pages = true;
  auto vm = Vm::create(config, machine->time_, *machine->console_);
  if (!vm) return vm.error();
  machine->vm_ = std::move(*vm);
  if (auto r =
          machine->vm_->platform().pio_bus().insert(kTestPort, 4, machine->reports_, "test-port");
      !r) {
    return r.error();
  }
  if (auto r = machine->vm_->memory().write_object(kParamsGpa, std::max<uint64_t>(delay, 1)); !r) {
    return r.error();
  }
  install_kick_signal_handler();
  auto* self = machine.get();
  machine->port_ = std::make_unique<TransferPort>(*machine->vm_, [self] { self->runner_->kick(); });
  machine->driver_ = std::make_unique<Driver>(*machine->port_, machine->reports_);
  machine->runner_ = std::make_unique<VcpuRunner>(machine->vm_->vcpu(), machine->vm_->platform(),
                                                  *machine->driver_);
  return machine;
}

PageWriterMachine::~PageWriterMachine() {
  if (thread_.joinable()) stop();
}

void PageWriterMachine::fill_random(uint64_t seed) {
  constexpr uint64_t kFirst = 0x1400000;  // page_writer.S's END
  std::mt19937_64 random(seed);
  uint8_t* base = vm_->memory().host_base();
  for (uint64_t at = kFirst; at + 8 <= vm_->memory().size(); at += 8) {
    const uint64_t value = random();
    std::memcpy(base + at, &value, sizeof(value));
  }
}

void PageWriterMachine::start() {
  driver_->stop_at(std::numeric_limits<size_t>::max());
  thread_ = std::thread([this] {
    PeriodicKick kicks(*runner_, kKickPeriod);
    result_ = runner_->run();
    port_->close(result_.detail);
  });
}

RunResult PageWriterMachine::stop() {
  driver_->stop();
  port_->resume();
  if (thread_.joinable()) thread_.join();
  return result_;
}

RunResult PageWriterMachine::run_until(size_t count) {
  driver_->stop_at(count);
  PeriodicKick kicks(*runner_, kKickPeriod);
  return runner_->run();
}

}  // namespace ftvm

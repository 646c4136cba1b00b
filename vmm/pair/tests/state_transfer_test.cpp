// A live state transfer between two VMs in one process, on each backend: the page writer
// guest (vmm/tests/kvm/guests/page_writer.S) keeps writing memory while its state is sent
// through the channel's message codec to a second VM built from the same image. With the
// sender stopped at the end, the copy must hold the same RAM, registers and devices; run on,
// it must report what the original reports.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "kvm_gate.h"
#include "logging_channel/message_codec.h"
#include "pair/state_receiver.h"
#include "pair/state_sender.h"
#include "pair/transfer_port.h"
#include "vmm/devices/time_source.h"
#include "vmm/execution_driver.h"
#include "vmm/periodic_kick.h"
#include "vmm/thread_signals.h"
#include "vmm/vcpu_runner.h"
#include "vmm/vcpu_state.h"
#include "vmm/vm.h"

namespace ftvm {
namespace {

constexpr uint16_t kTestPort = 0x600;
constexpr uint64_t kParamsGpa = 0x3ff000;  // page_writer.S's PARAMS
constexpr uint64_t kMemBytes = 32 << 20;

class NullConsole : public ConsoleSink {
 public:
  void write(std::span<const uint8_t>) override {}
};

// The values the guest writes to the test port, as they come.
class ReportPort : public IoDevice {
 public:
  void read(uint64_t, std::span<uint8_t> data) override { std::fill(data.begin(), data.end(), 0); }
  void write(uint64_t, std::span<const uint8_t> data) override {
    uint32_t value = 0;
    std::memcpy(&value, data.data(), std::min(data.size(), sizeof(value)));
    std::lock_guard lock(mutex_);
    values_.push_back(value);
  }
  std::vector<uint32_t> values() const {
    std::lock_guard lock(mutex_);
    return values_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<uint32_t> values_;
};

// Serves the transfer between exits; stops the loop when asked, or after `max_reports`.
class TransferDriver final : public ExecutionDriver {
 public:
  TransferDriver(TransferPort* port, const ReportPort& reports, size_t max_reports)
      : port_(port), reports_(reports), max_reports_(max_reports) {}
  DriverTurn between_exits(VcpuRunner&, const BetweenExits& at) override {
    if (stop_.load() || reports_.values().size() >= max_reports_) {
      return {false, false, RunResult{RunResult::Reason::kStopRequested, 0, "test done"}};
    }
    if (port_ != nullptr) port_->serve(at.exit_count);
    return {};
  }
  std::optional<RunResult> idle(VcpuRunner&, const BetweenExits&) override {
    return RunResult{RunResult::Reason::kFault, 0, "the page writer halted"};
  }
  void stop() { stop_.store(true); }

 private:
  TransferPort* port_;
  const ReportPort& reports_;
  size_t max_reports_;
  std::atomic<bool> stop_{false};
};

std::vector<uint8_t> read_guest() {
  std::ifstream in(std::string(FTVM_TINY_GUEST_DIR) + "/page_writer.elf", std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing test guest page_writer.elf";
  return {std::istreambuf_iterator<char>(in), {}};
}

// The machine state without pages, encoded: equal blobs, equal registers and devices.
std::vector<uint8_t> state_blob(Vm& vm) {
  auto registers = capture_registers(vm.vcpu());
  EXPECT_TRUE(registers.ok()) << registers.error().message;
  MachineState state;
  if (registers) state.vcpu = std::move(*registers);
  state.devices = capture_devices(vm.platform());
  return encode_state(state);
}

// The first page where two guests' RAM differs, or nothing.
std::optional<uint64_t> first_different_page(const Vm& a, const Vm& b) {
  const uint64_t size = a.memory().size();
  for (uint64_t gpa = 0; gpa < size; gpa += 4096) {
    if (std::memcmp(a.memory().host_base() + gpa, b.memory().host_base() + gpa, 4096) != 0) {
      return gpa;
    }
  }
  return std::nullopt;
}

class StateTransferTest : public ::testing::TestWithParam<Accel> {
 protected:
  void SetUp() override {
    if (GetParam() == Accel::kKvm) FTVM_REQUIRE_KVM();
    image_ = read_guest();
    install_kick_signal_handler();
  }

  std::unique_ptr<Vm> create_vm(ReportPort& port, uint64_t delay) {
    VmConfig config;
    config.accel = GetParam();
    config.mem_bytes = kMemBytes;
    config.image = image_;
    config.image_name = "page_writer.elf";
    config.track_dirty_pages = true;
    auto vm = Vm::create(config, time_, console_);
    EXPECT_TRUE(vm.ok()) << vm.error().message;
    if (!vm) return nullptr;
    EXPECT_TRUE((*vm)->platform().pio_bus().insert(kTestPort, 4, port, "test-port").ok());
    EXPECT_TRUE((*vm)->memory().write_object(kParamsGpa, delay).ok());
    return std::move(*vm);
  }

  // Runs the page writer on a thread of its own and transfers it into a second VM while it
  // runs, `send_delay` per message imitating a slow link. Checks the copy at the stop, then
  // runs the copy on and compares what both report.
  // With `link_share` > 0, each message waits long enough that the link sends pages at that
  // share of the rate the guest writes them (measured first, over 200 ms).
  void transfer_and_compare(uint64_t delay, double link_share, const StateSenderOptions& options) {
    ReportPort sender_reports;
    auto sender = create_vm(sender_reports, delay);
    ReportPort receiver_reports;
    auto receiver = create_vm(receiver_reports, delay);
    ASSERT_TRUE(sender && receiver);

    std::unique_ptr<VcpuRunner> runner;
    TransferPort port(*sender, [&runner] { runner->kick(); });
    TransferDriver driver(&port, sender_reports, SIZE_MAX);
    runner = std::make_unique<VcpuRunner>(sender->vcpu(), sender->platform(), driver);
    std::thread vcpu([&] {
      PeriodicKick kicks(*runner, std::chrono::milliseconds(2));
      result_ = runner->run();
      port.close(result_.detail);
    });
    while (sender_reports.values().size() < 8) std::this_thread::yield();  // running
    std::chrono::microseconds send_delay{0};
    if (link_share > 0) {
      const size_t before = sender_reports.values().size();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      // 16 pages a report.
      const double pages_per_s =
          16.0 * static_cast<double>(sender_reports.values().size() - before) / 0.2;
      guest_pages_per_s_ = pages_per_s;
      send_delay = std::chrono::microseconds(
          static_cast<int64_t>(1e6 * static_cast<double>(channel::kMaxStatePagesPerMessage) /
                               (pages_per_s * link_share)));
    }

    StateReceiver receiver_state(*receiver);
    const SendStateMessage send = [&](const channel::Message& message) -> Result<void> {
      if (send_delay.count() > 0) std::this_thread::sleep_for(send_delay);
      auto decoded = channel::decode_payload(static_cast<uint8_t>(channel::message_type(message)),
                                             channel::encode_payload(message));
      if (!decoded) return decoded.error();
      auto applied = receiver_state.apply(*decoded);
      if (!applied) return applied.error();
      return {};
    };
    size_t reports_at_stop = 0;
    auto report = send_state(sender->memory(), port, send, options, [&](uint64_t) -> Result<void> {
      reports_at_stop = sender_reports.values().size();
      EXPECT_TRUE(receiver_state.complete());
      const auto differs = first_different_page(*sender, *receiver);
      EXPECT_FALSE(differs.has_value()) << fmt::format("RAM differs at {:#x}", *differs);
      EXPECT_EQ(state_blob(*sender), state_blob(*receiver)) << "registers or devices differ";
      return {};
    });
    ASSERT_TRUE(report.ok()) << report.error().message;
    report_ = *report;
    // The original runs on while the copy catches up with it.
    const size_t compare = 40;
    while (sender_reports.values().size() < reports_at_stop + compare) std::this_thread::yield();
    driver.stop();
    vcpu.join();

    TransferDriver copy_driver(nullptr, receiver_reports, compare);
    VcpuRunner copy(receiver->vcpu(), receiver->platform(), copy_driver);
    PeriodicKick copy_kicks(copy, std::chrono::milliseconds(2));
    const RunResult copied = copy.run();
    EXPECT_EQ(copied.reason, RunResult::Reason::kStopRequested) << copied.detail;
    const auto original = sender_reports.values();
    const std::vector<uint32_t> expected(
        original.begin() + static_cast<ptrdiff_t>(reports_at_stop),
        original.begin() + static_cast<ptrdiff_t>(reports_at_stop + compare));
    EXPECT_EQ(receiver_reports.values(), expected) << "the copy went another way";
    EXPECT_GE(report_.rounds.size(), 2u);
    EXPECT_EQ(receiver_state.rounds(), report_.rounds.size());
    EXPECT_EQ(receiver_state.exit_count(), report_.exit_count);
    if (guest_pages_per_s_ > 0) std::printf("guest writes %.0f pages/s\n", guest_pages_per_s_);
    std::printf(
        "transfer: %zu rounds, %llu of %llu pages sent, %llu payload bytes, paused "
        "%.2f ms, took %.1f ms, throttle up to %.2f\n",
        report_.rounds.size(), static_cast<unsigned long long>(report_.pages_sent),
        static_cast<unsigned long long>(report_.guest_pages),
        static_cast<unsigned long long>(report_.payload_bytes),
        std::chrono::duration<double, std::milli>(report_.paused).count(),
        std::chrono::duration<double, std::milli>(report_.took).count(), report_.max_throttle);
  }

  std::vector<uint8_t> image_;
  HostTimeSource time_;
  NullConsole console_;
  RunResult result_{RunResult::Reason::kFault, 0, ""};
  TransferReport report_;
  double guest_pages_per_s_ = 0;
};

TEST_P(StateTransferTest, ACopyMadeWhileTheGuestWritesIsExactAndRunsOnTheSameWay) {
  transfer_and_compare(2000, 0, StateSenderOptions{});
  // Round 0 sent every page; later rounds only what the guest wrote: its 4,096 pages at most,
  // and the page tables the software CPU marks as it walks them.
  EXPECT_EQ(report_.rounds.front().pages_sent, report_.guest_pages);
  for (size_t i = 1; i < report_.rounds.size(); ++i) {
    EXPECT_LE(report_.rounds[i].pages_sent, 4096u + 16) << "round " << i;
  }
}

TEST_P(StateTransferTest, AGuestThatWritesFasterThanTheLinkIsThrottledUntilItConverges) {
  StateSenderOptions options;
  options.precopy.target_pause = std::chrono::milliseconds(5);
  options.precopy.stop_copy_pages = 16;
  // The link sends pages at half the rate the guest writes them: unthrottled, every round
  // would find as many pages dirty as it sent.
  transfer_and_compare(50, 0.5, options);
  EXPECT_GT(report_.max_throttle, 0) << "the guest outran the link and was never throttled";
  EXPECT_LT(report_.rounds.size(), options.precopy.max_rounds)
      << "the rounds stopped shrinking only at the round limit";
}

INSTANTIATE_TEST_SUITE_P(Backends, StateTransferTest, ::testing::Values(Accel::kKvm, Accel::kEmu),
                         [](const auto& info) { return accel_name(info.param); });

}  // namespace
}  // namespace ftvm

// A backup brought up by state transfer in the middle of a recording replays the rest of the
// log exactly. The hard guests of the record/replay tests (timer interrupts landing in tight
// loops, replay/tests/kvm/guests) are recorded while a live state transfer copies the running
// VM; the recording stops for the transfer's last round before the recorder's turn at exit E.
// A fresh VM takes the transferred state, resumes at E (VcpuRunner::resume_at) and replays the
// entries logged from that turn on: it must end where the recording ended, with the same
// registers and RAM (the replayer's final check), having said what the recording said.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "kvm_gate.h"
#include "logging_channel/message_codec.h"
#include "pair/state_receiver.h"
#include "pair/state_sender.h"
#include "pair/transfer_port.h"
#include "record_replay_harness.h"

namespace ftvm {
namespace {

using replay::testing::port_values;
using replay::testing::record_guest;
using replay::testing::RecordSetup;
using replay::testing::replay_recording;
using replay::testing::ReplaySetup;

struct TakeoverCase {
  const char* guest;
  Accel accel;
  // Checkpoints read the dirty log too while the transfer does (Vm::DirtyReader): each must
  // see every page written since its own last read.
  replay::AsyncMode async_mode = replay::AsyncMode::kAuto;
  // Console input fed from the start, more than the guest takes in before the handover: some
  // waits outside the UART then and travels with the state (StateDone::console_input).
  bool console_input = false;
};

std::string case_name(const ::testing::TestParamInfo<TakeoverCase>& info) {
  return std::string(info.param.guest) + "_" + accel_name(info.param.accel) +
         (info.param.async_mode == replay::AsyncMode::kCheckpoint ? "_checkpoint" : "") +
         (info.param.console_input ? "_input" : "");
}

// A recording with a state transfer of its VM part-way through, and what the transfer sent.
struct Handover {
  replay::testing::Recording recording;
  std::vector<channel::Message> messages;
  size_t first_entry = 0;  // the entries logged before the stop
  TransferReport report;
};

Result<Handover> record_with_handover_once(const TakeoverCase& c) {
  RecordSetup setup;
  setup.guest = std::string(c.guest) + ".elf";
  setup.accel = c.accel;
  setup.async_mode = c.async_mode;
  if (c.console_input) {
    // As the record/replay test of this guest: ticks kicked after 1 ms.
    setup.max_delay = std::chrono::milliseconds(1);
    for (int i = 0; i < 300; ++i) setup.console_input += static_cast<char>('!' + i % 90);
  }
  Handover handover;
  std::unique_ptr<TransferPort> port;
  std::thread transfer;
  std::atomic<size_t> logged{0};
  std::atomic<bool> ended{false};
  Result<TransferReport> sent = make_error("the transfer did not run");
  RecordSetup::Tap tap;
  tap.started = [&](Vm& vm, VcpuRunner& runner) {
    port = std::make_unique<TransferPort>(vm, [&runner] { runner.kick(); });
    transfer = std::thread([&, memory = &vm.memory()] {
      // Part-way: once the guest has run, well before it shuts down (round 0 takes a while).
      while (logged.load() < 2 && !ended.load()) std::this_thread::yield();
      StateSenderOptions options;
      options.precopy.stop_copy_pages = uint64_t{1} << 30;  // stop after round 0
      sent = send_state(
          *memory, *port,
          [&](const channel::Message& m) -> Result<void> {
            handover.messages.push_back(m);
            return {};
          },
          options,
          [&](uint64_t) -> Result<void> {
            handover.first_entry = logged.load();
            return {};
          });
    });
  };
  tap.before_turn = [&](VcpuRunner& runner, const BetweenExits& at, size_t entries) {
    logged.store(entries);
    port->serve(runner, at);
  };
  tap.ended = [&] {
    ended.store(true);
    port->close("the recording ended");
    transfer.join();
  };
  setup.tap = tap;
  auto recording = record_guest(setup);
  if (!recording) return recording.error();
  if (!sent) return sent.error();
  handover.recording = std::move(*recording);
  handover.report = *sent;
  return handover;
}

// These guests live for a few tens of milliseconds on the software CPU, a few hundred in the
// KVM test box, where one emulator thread carries the guest and the transfer both: there a
// guest sometimes ends before the transfer gets to stop it (seen for mem_loop and sti_hlt). A
// recording without a handover says nothing either way, so it is made again, five times at
// most (three were not always enough for reg_loop on the software CPU beside a clean-clone CI's
// build); a host where none gets one still fails the test.
Result<Handover> record_with_handover(const TakeoverCase& c) {
  Result<Handover> handover = make_error("not recorded");
  for (int attempt = 0; attempt < 5; ++attempt) {
    handover = record_with_handover_once(c);
    if (handover || handover.error().message.find("the recording ended") == std::string::npos) {
      return handover;
    }
  }
  return handover;
}

// Loads the handed-over state into `vm`; where the recording stood, or why not.
Result<VcpuRunner::ResumePoint> load_handover(Vm& vm, const Handover& handover) {
  StateReceiver receiver(vm);
  for (const channel::Message& message : handover.messages) {
    auto decoded = channel::decode_payload(static_cast<uint8_t>(channel::message_type(message)),
                                           channel::encode_payload(message));
    if (!decoded) return decoded.error();
    if (auto applied = receiver.apply(*decoded); !applied) return applied.error();
  }
  if (!receiver.complete()) return make_error("the transfer did not complete");
  return receiver.resume_point();
}

class TakeoverTest : public ::testing::TestWithParam<TakeoverCase> {
 protected:
  void SetUp() override {
    if (GetParam().accel == Accel::kKvm) FTVM_REQUIRE_KVM();
  }
};

TEST_P(TakeoverTest, ABackupBroughtUpMidRecordingReplaysTheRestExactly) {
  auto handover = record_with_handover(GetParam());
  ASSERT_TRUE(handover.ok()) << handover.error().message;
  const auto& recording = handover->recording;
  ASSERT_EQ(recording.result.reason, RunResult::Reason::kGuestShutdown) << recording.result.detail;
  ASSERT_GT(handover->first_entry, 0u);
  ASSERT_LT(handover->first_entry, recording.entries.size());
  ASSERT_GT(handover->report.exit_count, 0u);
  ASSERT_LT(handover->report.exit_count, recording.exit_count);

  ReplaySetup setup;
  setup.takeover = ReplaySetup::Takeover{[&](Vm& vm) { return load_handover(vm, *handover); },
                                         handover->first_entry};
  auto replay = replay_recording(recording, recording.entries, setup);
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  EXPECT_EQ(replay->result.reason, RunResult::Reason::kReplayComplete)
      << replay::testing::reason_name(replay->result.reason) << ": "
      << replay::testing::report_head(replay->result.detail, 12);
  EXPECT_EQ(replay->exit_count, recording.exit_count);
  // The verdict the guest gave at the end, and whatever it said after the stop before that.
  const auto said = port_values(recording.port_writes);
  const auto copy_said = port_values(replay->port_writes);
  ASSERT_GE(copy_said.size(), 3u);
  ASSERT_LE(copy_said.size(), said.size());
  EXPECT_TRUE(std::equal(copy_said.begin(), copy_said.end(), said.end() - copy_said.size()));
  EXPECT_GT(replay->stats.inputs, 0u) << "no tick was replayed after the handover";
  if (GetParam().console_input) {
    const auto& done = std::get<channel::StateDone>(handover->messages.back());
    EXPECT_FALSE(done.console_input.empty()) << "no input was waiting at the handover";
  }
  std::printf(
      "%s: handed over at exit %llu of %llu, entry %zu of %zu, after a %.1f ms "
      "transfer of the %.0f ms recording; the copy replayed %llu inputs\n",
      GetParam().guest, static_cast<unsigned long long>(handover->report.exit_count),
      static_cast<unsigned long long>(recording.exit_count), handover->first_entry,
      recording.entries.size(),
      std::chrono::duration<double, std::milli>(handover->report.took).count(),
      recording.seconds * 1000, static_cast<unsigned long long>(replay->stats.inputs));
}

// Whether the log goes on, right after the stop, with a checkpoint at the next exit. A copy one
// exit late loads that checkpoint at once, and the checkpoint replaces the vCPU and device
// state that was wrong; where the code it skipped wrote no RAM (the stop came at the end of the
// timer handler, seen in 1 of about 80 runs of reg_loop on kvm_pvm) nothing wrong is left and
// the copy is exact from there: there is no divergence to catch.
bool checkpoint_erases_a_late_resume(const Handover& handover) {
  const auto& entries = handover.recording.entries;
  if (handover.first_entry >= entries.size()) return false;
  const auto* checkpoint = std::get_if<replay::CheckpointEntry>(&entries[handover.first_entry]);
  return checkpoint != nullptr && checkpoint->position.exit_count == handover.report.exit_count + 1;
}

// The same copy resumed one exit late: the check that catches a wrong handover point.
TEST_P(TakeoverTest, ACopyResumedAtTheWrongExitIsCaughtAsADivergence) {
  auto handover = record_with_handover(GetParam());
  for (int attempt = 0; attempt < 5 && handover && checkpoint_erases_a_late_resume(*handover);
       ++attempt) {
    handover = record_with_handover(GetParam());
  }
  ASSERT_TRUE(handover.ok()) << handover.error().message;
  ASSERT_FALSE(checkpoint_erases_a_late_resume(*handover))
      << "every recording went on with a checkpoint right after the stop";
  ReplaySetup setup;
  setup.takeover = ReplaySetup::Takeover{[&](Vm& vm) -> Result<VcpuRunner::ResumePoint> {
                                           auto point = load_handover(vm, *handover);
                                           if (point) ++point->exit_count;
                                           return point;
                                         },
                                         handover->first_entry};
  setup.time_limit = std::chrono::milliseconds(4000);
  auto replay = replay_recording(handover->recording, handover->recording.entries, setup);
  ASSERT_TRUE(replay.ok()) << replay.error().message;
  EXPECT_NE(replay->result.reason, RunResult::Reason::kReplayComplete) << replay->result.detail;
}

constexpr auto kCheckpoint = replay::AsyncMode::kCheckpoint;
const TakeoverCase kCases[] = {
    {"reg_loop", Accel::kEmu},
    {"mem_loop", Accel::kEmu},
    {"stack_loop", Accel::kEmu},
    {"sti_hlt", Accel::kEmu},
    {"mem_loop", Accel::kEmu, kCheckpoint},
    {"stack_loop", Accel::kEmu, kCheckpoint},
    {"uart_input", Accel::kEmu, replay::AsyncMode::kAuto, true},
    {"uart_input", Accel::kEmu, kCheckpoint, true},
    {"reg_loop", Accel::kKvm},
    {"mem_loop", Accel::kKvm},
    {"stack_loop", Accel::kKvm},
    {"sti_hlt", Accel::kKvm},
    // No uart_input on KVM: in the KVM test box its recording (about 300 ms there) ended
    // before the transfer could stop it in three attempts out of three (clean-clone CI at
    // 0e86d5b); the software CPU cases above carry waiting console input.
};

INSTANTIATE_TEST_SUITE_P(HardGuests, TakeoverTest, ::testing::ValuesIn(kCases), case_name);

}  // namespace
}  // namespace ftvm

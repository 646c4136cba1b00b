// Measures live state transfer (docs/protocol.md, "State transfer") over loopback TCP with a
// key, side by side in one run: the page writer guest (16 MiB rewritten pass after pass) is
// sent from a running VM to a fresh one, for each guest size, several times. Prints per trial
// and in summary: the transfer's time, the guest's pause in the stop-and-copy, the guest's
// progress during the transfer against just before it, and the bytes sent per MiB of RAM.
// scripts/bench/state-transfer builds and runs it.
#include <fmt/format.h>
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "logging_channel/tcp.h"
#include "page_writer_machine.h"
#include "pair/state_receiver.h"
#include "pair/state_sender.h"
#include "pair/state_stream.h"

namespace ftvm {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<uint64_t> mem_mib = {64, 512};
  int trials = 5;
  uint64_t delay = 2000;
  std::string accel = "auto";
  std::string fill = "random";
  std::string json_path;
  bool malloc_defaults = false;
};

struct Trial {
  uint64_t mem_mib = 0;
  double took_ms = 0;
  double paused_ms = 0;
  uint32_t rounds = 0;
  double max_throttle = 0;
  double progress_before = 0;  // pages/s
  double progress_during = 0;
  uint64_t payload_bytes = 0;
  uint64_t wire_bytes = 0;
};

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

channel::FrameKey random_key() {
  std::random_device random;
  std::vector<uint8_t> bytes(32);
  for (auto& b : bytes) b = static_cast<uint8_t>(random());
  return *channel::FrameKey::from_bytes(bytes);
}

double pages_per_s(size_t reports, Clock::duration over) {
  return static_cast<double>(PageWriterMachine::kPagesPerReport * reports) / seconds(over);
}

Result<Trial> run_trial(Accel accel, uint64_t mem_mib, uint64_t delay, bool fill_random) {
  auto sender = PageWriterMachine::create(accel, mem_mib << 20, delay);
  if (!sender) return sender.error();
  if (fill_random) (*sender)->fill_random(mem_mib);
  auto receiver = PageWriterMachine::create(accel, mem_mib << 20, delay);
  if (!receiver) return receiver.error();
  (*sender)->start();
  while ((*sender)->reports().count() < 8) std::this_thread::yield();
  Trial trial;
  trial.mem_mib = mem_mib;
  const auto before_start = Clock::now();
  const size_t reports_before = (*sender)->reports().count();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  trial.progress_before =
      pages_per_s((*sender)->reports().count() - reports_before, Clock::now() - before_start);

  const auto key = random_key();
  auto listener = channel::listen_tcp(*channel::Endpoint::parse("127.0.0.1:0"));
  if (!listener) return listener.error();
  auto at = channel::local_endpoint(listener->get());
  if (!at) return at.error();
  StateReceiver state((*receiver)->vm());
  Result<void> received;
  std::thread receiving([&] {
    auto socket = channel::accept_tcp(listener->get(), std::chrono::seconds(10));
    received = socket
                   ? receive_state_stream(std::move(*socket), key, state, std::chrono::seconds(10))
                   : Result<void>(socket.error());
  });
  auto socket = channel::connect_tcp(*at, std::chrono::seconds(10));
  if (!socket) {
    receiving.join();
    return socket.error();
  }
  auto stream = StateStreamSender::open(std::move(*socket), key, std::chrono::seconds(10));
  if (!stream) {
    receiving.join();
    return stream.error();
  }
  const size_t reports_at_start = (*sender)->reports().count();
  size_t reports_at_stop = 0;
  auto report =
      send_state((*sender)->vm().memory(), (*sender)->port(),
                 [&](const channel::Message& m) { return stream->send(m); }, StateSenderOptions{},
                 // The guest goes on once the state is sent: the receiver applies it at its own
                 // pace (a new backup then replays the log from the stop on).
                 [&](uint64_t) -> Result<void> {
                   reports_at_stop = (*sender)->reports().count();
                   return {};
                 });
  receiving.join();
  (*sender)->stop();
  if (!report) return report.error();
  if (!received) return received.error();
  // Over the whole transfer, the pause included: the guest made no progress while stopped.
  trial.progress_during = pages_per_s(reports_at_stop - reports_at_start, report->took);
  trial.took_ms = seconds(report->took) * 1000;
  trial.paused_ms = seconds(report->paused) * 1000;
  trial.rounds = static_cast<uint32_t>(report->rounds.size());
  trial.max_throttle = report->max_throttle;
  trial.payload_bytes = report->payload_bytes;
  trial.wire_bytes = stream->bytes_sent();
  return trial;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// The nearest-rank percentile: with few trials, p99 is the largest.
double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

nlohmann::json summarize(uint64_t mem_mib, const std::vector<Trial>& trials) {
  std::vector<double> took, paused, ratio, per_mib;
  for (const Trial& t : trials) {
    took.push_back(t.took_ms);
    paused.push_back(t.paused_ms);
    ratio.push_back(t.progress_during / t.progress_before);
    per_mib.push_back(static_cast<double>(t.wire_bytes) / static_cast<double>(mem_mib));
  }
  fmt::print(
      "{} MiB: transfer median {:.0f} ms; pause p50 {:.2f} ms, p99 {:.2f} ms (goal < 20); guest "
      "progress during/before median {:.2f} (goal >= 0.9); {:.0f} bytes sent per MiB of RAM\n",
      mem_mib, median(took), median(paused), percentile(paused, 99), median(ratio),
      median(per_mib));
  return {{"mem_mib", mem_mib},
          {"trials", trials.size()},
          {"transfer_ms_p50", median(took)},
          {"pause_ms_p50", median(paused)},
          {"pause_ms_p99", percentile(paused, 99)},
          {"progress_ratio_p50", median(ratio)},
          {"bytes_per_mib_p50", median(per_mib)}};
}

int run(const Options& options) {
  Accel accel = Accel::kEmu;
  if (options.accel == "kvm" || (options.accel == "auto" && Kvm::open("/dev/kvm").ok())) {
    accel = Accel::kKvm;
  }
  fmt::print(
      "state transfer on {}, page writer delay {}, RAM filled with {}, {} trials per "
      "size, loopback TCP with a key\n",
      accel_name(accel), options.delay, options.fill == "random" ? "random bytes" : "zeros",
      options.trials);
  nlohmann::json out = {{"accel", accel_name(accel)},
                        {"delay", options.delay},
                        {"fill", options.fill},
                        {"malloc_defaults", options.malloc_defaults}};
  for (const uint64_t mem : options.mem_mib) {
    std::vector<Trial> trials;
    for (int i = 0; i < options.trials; ++i) {
      auto trial = run_trial(accel, mem, options.delay, options.fill == "random");
      if (!trial) {
        fmt::print(stderr, "state-transfer: {} MiB: {}\n", mem, trial.error().message);
        return 1;
      }
      fmt::print(
          "  {} MiB #{}: {:.0f} ms, {} rounds, paused {:.2f} ms, throttle {:.2f}, "
          "progress {:.0f} -> {:.0f} pages/s ({:.2f}), {:.1f} MB on the wire\n",
          mem, i + 1, trial->took_ms, trial->rounds, trial->paused_ms, trial->max_throttle,
          trial->progress_before, trial->progress_during,
          trial->progress_during / trial->progress_before,
          static_cast<double>(trial->wire_bytes) / 1e6);
      trials.push_back(*trial);
    }
    out["sizes"].push_back(summarize(mem, trials));
  }
  if (!options.json_path.empty()) {
    std::ofstream file(options.json_path);
    file << out.dump(2) << "\n";
    if (!file) {
      fmt::print(stderr, "state-transfer: cannot write {}\n", options.json_path);
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace ftvm

int main(int argc, char** argv) {
  // Keep freed multi-megabyte buffers (each message's frame, payload and compressed pages) in
  // the heap for the next message instead of unmapping them: on this PVM guest every page of a
  // freshly mapped buffer costs a fault, and with glibc's defaults those faults, not
  // compression or the socket, set the pace (64 MiB: a median of 586 ms a transfer with the
  // defaults, 124 ms with these settings, one after the other). --malloc-defaults measures
  // without.
  bool malloc_defaults =
      std::find(argv + 1, argv + argc, std::string("--malloc-defaults")) != argv + argc;
  if (!malloc_defaults) {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_TOP_PAD, 64 << 20);
  }
  ftvm::Options options;
  CLI::App app{"Measures live state transfer of a running guest over loopback TCP"};
  app.add_option("--mem", options.mem_mib, "Guest sizes in MiB")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{32}, uint64_t{3072}));
  app.add_option("--trials", options.trials, "Transfers per size")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--delay", options.delay, "The page writer's spin between two pages")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  app.add_option("--accel", options.accel, "kvm, emu or auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"kvm", "emu", "auto"}));
  app.add_option("--fill", options.fill,
                 "What the RAM the guest does not write holds: random (memory in use) or zero")
      ->capture_default_str()
      ->check(CLI::IsMember({"random", "zero"}));
  app.add_flag("--malloc-defaults", malloc_defaults,
               "Leave glibc's allocator at its defaults (a freed big buffer is unmapped)");
  app.add_option("--json", options.json_path, "Also write the summary as JSON to FILE");
  CLI11_PARSE(app, argc, argv);
  options.malloc_defaults = malloc_defaults;
  return ftvm::run(options);
}

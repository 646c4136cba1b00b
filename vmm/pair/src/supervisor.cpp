#include "pair/supervisor.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "disk/arbiter_client.h"
#include "disk/etcd_arbiter.h"
#include "logging_channel/console_splicer.h"
#include "logging_channel/tcp.h"
#include "machine/child_process.h"
#include "machine/exit_codes.h"
#include "machine/vm_session.h"
#include "pair/control_server.h"
#include "pair/input_router.h"
#include "vmm/file_block_backend.h"

namespace ftvm {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kControlTimeout = std::chrono::milliseconds(300);
// How long a backup may take to finish its log once its primary ended at the pair's stop.
constexpr auto kBackupFinishGrace = std::chrono::seconds(10);
constexpr const char* kVmId = "pair";

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Result<std::string> make_run_dir(const std::string& requested) {
  if (!requested.empty()) {
    if (::mkdir(requested.c_str(), 0700) != 0 && errno != EEXIST) {
      return make_error(fmt::format("cannot create {}: {}", requested, std::strerror(errno)));
    }
    return requested;
  }
  std::string pattern = "/tmp/ftvm-pair-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return make_error(
        fmt::format("cannot create a run directory in /tmp: {}", std::strerror(errno)));
  }
  return pattern;
}

// A listening socket on a free loopback port, handed to a child under the same fd number.
struct Listener {
  UniqueFd fd;
  std::string address;
};

Result<Listener> listen_loopback() {
  auto fd = channel::listen_tcp(*channel::Endpoint::parse("127.0.0.1:0"));
  if (!fd) return fd.error();
  auto at = channel::local_endpoint(fd->get());
  if (!at) return at.error();
  return Listener{std::move(*fd), at->to_string()};
}

std::string self_exe() {
  std::array<char, 4096> path{};
  const ssize_t n = ::readlink("/proc/self/exe", path.data(), path.size() - 1);
  return n > 0 ? std::string(path.data(), static_cast<size_t>(n)) : "ftvm";
}

std::string ms_arg(double ms) {
  return fmt::format("{}", ms);
}

// What one side says about itself through its control socket; empty when it does not answer.
nlohmann::json query_status(const std::string& socket) {
  auto reply = send_control_command(socket, "status", kControlTimeout);
  if (!reply) return nlohmann::json::object();
  auto json = nlohmann::json::parse(*reply, nullptr, false);
  return json.is_object() ? json : nlohmann::json::object();
}

bool is_live_role(const nlohmann::json& status) {
  if (!status.is_object()) return false;
  const std::string role = status.value("role", "");
  return role.rfind("primary", 0) == 0;
}

// Asks both sides for their status on its own thread, so that a slow side never holds up the
// console the pair forwards.
class StatusPoller {
 public:
  StatusPoller() : thread_([this](std::stop_token stop) { poll(stop); }) {}

  nlohmann::json primary() const { return get(0); }
  nlohmann::json backup() const { return get(1); }
  // The sides' control sockets (a backup that went live is the next pair's primary); what
  // was said about the sockets before is forgotten.
  void set_sockets(std::string primary_socket, std::string backup_socket) {
    std::lock_guard lock(mutex_);
    sockets_ = {std::move(primary_socket), std::move(backup_socket)};
    latest_ = {nlohmann::json::object(), nlohmann::json::object()};
  }

 private:
  static constexpr auto kPeriod = std::chrono::milliseconds(20);

  nlohmann::json get(int side) const {
    std::lock_guard lock(mutex_);
    return latest_[side];
  }
  void poll(std::stop_token stop) {
    while (!stop.stop_requested()) {
      for (int side = 0; side < 2; ++side) {
        const std::string socket = [&] {
          std::lock_guard lock(mutex_);
          return sockets_[side];
        }();
        auto status = socket.empty() ? nlohmann::json::object() : query_status(socket);
        std::lock_guard lock(mutex_);
        // A status asked of a socket that was replaced meanwhile is not the side's now.
        if (sockets_[side] == socket) latest_[side] = std::move(status);
      }
      std::this_thread::sleep_for(kPeriod);
    }
  }

  std::array<std::string, 2> sockets_;
  mutable std::mutex mutex_;
  std::array<nlohmann::json, 2> latest_{nlohmann::json::object(), nlohmann::json::object()};
  std::jthread thread_;
};

struct Rates {
  Clock::time_point at;
  uint64_t exits = 0;
  uint64_t log_bytes = 0;
};

std::string format_bytes(double bytes) {
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  if (bytes >= 1e3) return fmt::format("{:.1f} kB", bytes / 1e3);
  return fmt::format("{:.0f} B", bytes);
}

// A nested object of a status, or an empty one: a side's status is outside input.
nlohmann::json field(const nlohmann::json& status, const char* name) {
  auto it = status.find(name);
  return it != status.end() && it->is_object() ? *it : nlohmann::json::object();
}

class Pair {
 public:
  Pair(const PairOptions& options, std::string run_dir)
      : options_(options), run_dir_(std::move(run_dir)), started_(Clock::now()) {}

  Result<void> start();
  // --disk and --disk-read-only, for both sides.
  std::vector<std::string> disk_args() const;
  // --net (and the primary's --mac): each side its own TAP.
  std::vector<std::string> net_args(const char* side) const;
  int run();

 private:
  Result<void> start_arbiter();
  Result<void> pick_generation();
  Result<void> start_sides();
  // A backup for the primary: started with it (--connect), or joining it running (--join).
  Result<void> start_backup(bool join);
  void maybe_reprotect();
  // The backup that went live becomes the primary once the old one is gone.
  void maybe_promote();
  void notice_joins(const nlohmann::json& primary_status);
  void notice_backup_resyncs(const nlohmann::json& backup_status);
  void fold_backup_counts();
  int divergences() const { return divergences_ + backup_divergences_; }
  int resyncs() const { return resyncs_ + backup_resyncs_; }
  std::string protection() const;
  std::vector<std::string> side_args(const char* side, const std::string& control,
                                     bool with_generation = true) const;
  // Returns false at the end of the primary's output.
  bool forward_primary();
  void drain_primary();
  void forward_backup();
  void mark_backup_live();
  void learn_where_backup_resumes();
  void forward_input();
  PairView view() const;
  void hand_input_to_backup();
  void inject_faults();
  void kill_primary();
  // The first new output after a failover the pair caused: measured.
  void note_failover_output();
  void print_status();
  void print_side_exits();
  void watch_for_takeover();
  void deliver_input();
  void write(std::span<const uint8_t> bytes);
  bool finished();
  void stop_everything();
  void write_stats_json() const;
  int exit_code();
  void point_at(const char* name, const std::string& socket) const;
  std::string divergence_report_of(int backup) const {
    return fmt::format("{}/divergence-backup-{}.txt", run_dir_, backup);
  }

  const PairOptions& options_;
  std::string run_dir_;
  Clock::time_point started_;
  std::string arbiter_address_;
  // The disk as the sides open it: through the pair's own disk server (which fences a side
  // that lost), or as given when etcd decides or the disk is already an NBD URI.
  std::string disk_uri_;
  uint64_t generation_ = 1;
  std::optional<ChildProcess> arbiter_;
  std::optional<ChildProcess> primary_;
  std::optional<ChildProcess> backup_;
  Listener channel_listener_;
  // The current sides' control sockets, and where the backup takes joiners once it is live.
  std::string primary_socket_;
  std::string backup_socket_;
  std::string backup_channel_;
  UniqueFd input_;
  UniqueFd signals_;
  channel::ConsoleSplicer splicer_;
  InputRouter router_;
  bool input_handed_over_ = false;
  std::optional<StatusPoller> status_;
  bool backup_live_ = false;
  bool backup_spliced_ = false;  // the live backup's resume offset is known
  int cutovers_ = 0;
  // The primary the pair killed last, while its backup has not replaced it yet.
  std::optional<Clock::time_point> killed_primary_at_;
  int primaries_killed_ = 0;
  // Since when the primary has had a backup replaying behind it (--kill-primary-every).
  std::optional<Clock::time_point> protected_since_;
  // Per failover the pair caused: from the kill to the backup's first new output.
  std::vector<double> failovers_ms_;
  struct PendingFailover {
    Clock::time_point killed_at;
    bool promoted = false;  // the live backup is the primary already
  };
  std::optional<PendingFailover> failover_;
  // Backups that went live and became the primary of the next pair.
  int promotions_ = 0;
  // What the current primary says it was joined by (each primary counts its own).
  uint64_t joins_of_primary_ = 0;
  bool killed_backup_ = false;
  // Re-protection: backups started after the first, how many joined (the primary counts
  // them), joins that failed in a row, and when the next may start.
  int backups_started_ = 0;
  uint64_t backups_joined_ = 0;
  bool joining_ = false;
  int failed_joins_ = 0;
  Clock::time_point backup_started_at_;
  std::optional<Clock::time_point> next_join_at_;
  bool said_cannot_reprotect_ = false;
  // Divergences and resyncs of the backups that ended, and of the current one (its status
  // counts those it resynced itself).
  int divergences_ = 0;
  int resyncs_ = 0;
  int backup_divergences_ = 0;
  int backup_resyncs_ = 0;
  bool resyncing_ = false;
  bool corrupted_ = false;
  // The channel between the sides is cut (--cut-channel-after): input is held while it is, up
  // to the arbiter's decision; a backup that joins the winner has a channel of its own.
  bool cut_ = false;
  bool cut_injected_ = false;  // once per run
  bool stopping_ = false;
  std::optional<int> primary_exit_;
  std::optional<Clock::time_point> primary_ended_at_;
  std::optional<int> backup_exit_;
  Clock::time_point next_status_;
  Rates primary_rates_;
  Rates backup_rates_;
};

Result<void> Pair::start_arbiter() {
  if (!options_.arbiter.empty()) {
    if (auto members = disk::parse_etcd_members(options_.arbiter); !members) {
      return make_error("--arbiter: " + members.error().message);
    }
    arbiter_address_ = options_.arbiter;
    return {};
  }
  auto listener = listen_loopback();
  if (!listener) return listener.error();
  arbiter_address_ = listener->address;
  std::vector<std::string> args = {self_exe(),    "disk-server",
                                   "--listen-fd", std::to_string(listener->fd.get()),
                                   "--state-dir", run_dir_ + "/arbiter"};
  std::vector<int> inherited = {listener->fd.get()};
  std::optional<Listener> nbd;
  const DiskOptions& disk = options_.guest.disk;
  if (!disk.source.empty() && !disk.source.starts_with("nbd://") &&
      !disk.source.starts_with("nbd+unix://")) {
    // Said here, not as a disk server that died at start.
    if (auto r = FileBlockBackend::check(disk.source, disk.read_only); !r) {
      return make_error("--disk: " + r.error().message);
    }
    auto nbd_listener = listen_loopback();
    if (!nbd_listener) return nbd_listener.error();
    nbd.emplace(std::move(*nbd_listener));
    args.insert(args.end(),
                {"--export",
                 fmt::format("disk={}{}", std::filesystem::absolute(disk.source).string(),
                             disk.read_only ? ":ro" : ""),
                 "--nbd-listen-fd", std::to_string(nbd->fd.get())});
    inherited.push_back(nbd->fd.get());
    disk_uri_ = fmt::format("nbd://{}/disk", nbd->address);
  }
  auto child = ChildProcess::spawn("arbiter", args, ChildOptions{false, false, inherited});
  if (!child) return child.error();
  arbiter_.emplace(std::move(*child));
  return {};
}

// A run directory used before holds the arbiter's decisions of that run: this run's pair is a
// new incarnation of the VM, so it takes the next generation (a decided one could never fail
// over again).
Result<void> Pair::pick_generation() {
  auto winner = [this]() -> Result<std::optional<disk::Winner>> {
    if (!disk::is_etcd_arbiter(arbiter_address_)) {
      return disk::query(arbiter_address_, {}, kVmId, std::chrono::seconds(5));
    }
    auto members = disk::parse_etcd_members(arbiter_address_);
    if (!members) return members.error();
    return disk::etcd_query(*members, kVmId, std::chrono::seconds(2));
  }();
  if (!winner) return make_error("the pair's arbiter does not answer: " + winner.error().message);
  if (*winner) {
    generation_ = (*winner)->generation + 1;
    fmt::print(stderr,
               "pair: the run directory holds a decided generation {} of VM {} ({} won): this run "
               "is generation {}\n",
               (*winner)->generation, kVmId, (*winner)->side, generation_);
  }
  return {};
}

std::vector<std::string> Pair::side_args(const char* side, const std::string& control,
                                         bool with_generation) const {
  std::vector<std::string> args = {self_exe(),     side,
                                   "--vm-id",      kVmId,
                                   "--arbiter",    arbiter_address_,
                                   "--control",    control,
                                   "--suspect-ms", ms_arg(options_.suspect_ms),
                                   "--declare-ms", ms_arg(options_.declare_ms)};
  // A joining backup takes the generation its primary gives it.
  if (with_generation) args.insert(args.end(), {"--generation", std::to_string(generation_)});
  return args;
}

std::vector<std::string> Pair::net_args(const char* side) const {
  if (options_.net.empty()) return {};
  const auto nets = parse_side_nets(options_.net);  // checked when parsed
  // A promoted backup keeps its TAP: new backups take the one the dead primary had.
  const bool first = (std::string_view(side) == "primary") != (promotions_ % 2 == 1);
  const std::string& net = first ? nets->first : nets->second;
  std::vector<std::string> args = {"--net", net};
  if (std::string_view(side) == "primary") args.insert(args.end(), {"--mac", options_.mac});
  return args;
}

std::vector<std::string> Pair::disk_args() const {
  if (options_.guest.disk.source.empty()) return {};
  if (!disk_uri_.empty()) {
    std::vector<std::string> args = {"--disk", disk_uri_, "--fence-disk"};
    if (options_.guest.disk.read_only) args.push_back("--disk-read-only");
    return args;
  }
  std::vector<std::string> args = {"--disk", options_.guest.disk.source};
  if (options_.guest.disk.read_only) args.push_back("--disk-read-only");
  return args;
}

// RUN_DIR/primary.sock and backup.sock lead to whichever side is that now: a symbolic link to
// the side's own socket, replaced in one rename, so that `ftvm status --control
// RUN_DIR/primary.sock` reaches the side running the guest after any number of failovers.
void Pair::point_at(const char* name, const std::string& socket) const {
  const std::string link = run_dir_ + "/" + name;
  const std::string temporary = link + ".new";
  ::unlink(temporary.c_str());
  // Relative: the run directory may be reached by another path.
  const std::string target = socket.substr(socket.rfind('/') + 1);
  if (::symlink(target.c_str(), temporary.c_str()) != 0 ||
      ::rename(temporary.c_str(), link.c_str()) != 0) {
    fmt::print(stderr, "pair: cannot point {} at {}: {}\n", link, socket, std::strerror(errno));
  }
}

Result<void> Pair::start_sides() {
  auto listener = listen_loopback();
  if (!listener) return listener.error();
  channel_listener_ = std::move(*listener);
  primary_socket_ = run_dir_ + "/primary-1.sock";
  point_at("primary.sock", primary_socket_);
  auto primary_args = side_args("primary", primary_socket_);
  primary_args.insert(primary_args.end(),
                      {"--listen-fd", std::to_string(channel_listener_.fd.get()), "--mem",
                       std::to_string(options_.guest.mem_mib), "--kvm-device",
                       options_.guest.kvm_device, "--accel", options_.guest.accel, "--max-lag",
                       ms_arg(options_.max_lag_ms), "--async", options_.async_mode});
  const std::vector<std::string> disk_args = this->disk_args();
  primary_args.insert(primary_args.end(), disk_args.begin(), disk_args.end());
  const std::vector<std::string> primary_net = net_args("primary");
  primary_args.insert(primary_args.end(), primary_net.begin(), primary_net.end());
  if (!options_.guest.guest.empty()) primary_args.push_back(options_.guest.guest);
  auto primary = ChildProcess::spawn("primary", primary_args,
                                     ChildOptions{true, true, {channel_listener_.fd.get()}});
  if (!primary) return primary.error();
  primary_.emplace(std::move(*primary));
  channel_listener_.fd.reset();  // the primary has it now

  return start_backup(/*join=*/false);
}

Result<void> Pair::start_backup(bool join) {
  // Each backup its own socket: the one that went live keeps its own as the next primary.
  const std::string control = fmt::format("{}/backup-{}.sock", run_dir_, backups_started_ + 1);
  // Where it takes joiners once live.
  auto listener = listen_loopback();
  if (!listener) return listener.error();
  auto args = side_args("backup", control, !join);
  args.insert(args.end(),
              {join ? "--join" : "--connect", channel_listener_.address, "--kvm-device",
               options_.guest.kvm_device, "--listen-fd", std::to_string(listener->fd.get()),
               "--max-lag", ms_arg(options_.max_lag_ms)});
  // The same disk: the backup opens it only when it goes live.
  const std::vector<std::string> disk = disk_args();
  args.insert(args.end(), disk.begin(), disk.end());
  const std::vector<std::string> net = net_args("backup");
  args.insert(args.end(), net.begin(), net.end());
  args.insert(args.end(), {"--divergence-report", divergence_report_of(backups_started_ + 1)});
  auto backup = ChildProcess::spawn("backup", args, ChildOptions{true, true, {listener->fd.get()}});
  if (!backup) return backup.error();
  backup_.emplace(std::move(*backup));
  backup_socket_ = control;
  point_at("backup.sock", backup_socket_);
  backup_channel_ = listener->address;
  status_->set_sockets(primary_socket_, backup_socket_);
  // A side that stops reading its console must not block the pair.
  ::fcntl(backup_->stdin_fd(), F_SETFL, ::fcntl(backup_->stdin_fd(), F_GETFL) | O_NONBLOCK);
  fold_backup_counts();
  ++backups_started_;
  backup_started_at_ = Clock::now();
  backup_exit_.reset();
  backup_rates_ = {};
  joining_ = join;
  return {};
}

// A backup that diverged while its primary ran on joins it again by itself (a resync): its
// status counts both.
void Pair::notice_backup_resyncs(const nlohmann::json& backup_status) {
  const int diverged = backup_status.value("divergences", 0);
  if (diverged > backup_divergences_) {
    fmt::print(stderr,
               "pair: backup {} diverged from the primary (report: {}); the primary keeps "
               "serving, and the backup asks it for a fresh copy of the guest (resync)\n",
               backups_started_, divergence_report_of(backups_started_));
    backup_divergences_ = diverged;
  }
  backup_resyncs_ = std::max(backup_resyncs_, backup_status.value("resyncs", 0));
}

// The backup process ends or becomes the primary: its counts are history.
void Pair::fold_backup_counts() {
  divergences_ += backup_divergences_;
  resyncs_ += backup_resyncs_;
  backup_divergences_ = 0;
  backup_resyncs_ = 0;
}

// The primary counts the backups that joined it: a join under way ends there.
void Pair::notice_joins(const nlohmann::json& primary_status) {
  const uint64_t joined = primary_status.value("backups_joined", uint64_t{0});
  if (joined <= joins_of_primary_) return;
  backups_joined_ += joined - joins_of_primary_;
  joins_of_primary_ = joined;
  joining_ = false;
  failed_joins_ = 0;
  if (resyncing_) ++resyncs_;
  resyncing_ = false;
  cut_ = false;  // held for good otherwise: the joined pair is protected, not unprotected
  backup_started_at_ = Clock::now();  // --kill-backup-every counts the time it protected
  fmt::print(stderr, "pair: {:.1f} s: protected again: backup {} joined the primary\n",
             seconds_since(started_), backups_started_);
}

// The backup that went live is the primary of the next pair once the old primary is gone and
// everything it wrote was shown: the sides swap places (the dead primary stays as the ended
// backup), and maybe_reprotect() brings the new primary a backup, as after a backup loss.
void Pair::maybe_promote() {
  if (stopping_ || !backup_live_ || !primary_exit_ || backup_exit_ || primary_->stdout_fd() >= 0) {
    return;
  }
  // The input the old primary took with it goes to the live backup before it is the primary
  // (deliver_input may not have seen it live yet: it went live and the old primary ended
  // within one turn).
  if (!input_handed_over_) hand_input_to_backup();
  // Likewise where its output resumes, if it has written nothing yet.
  learn_where_backup_resumes();
  ChildProcess old_primary(std::move(*primary_));
  primary_.reset();
  primary_.emplace(std::move(*backup_));
  backup_.reset();
  backup_.emplace(std::move(old_primary));
  backup_exit_ = primary_exit_;
  primary_exit_.reset();
  primary_ended_at_.reset();
  std::swap(primary_socket_, backup_socket_);
  point_at("primary.sock", primary_socket_);
  point_at("backup.sock", backup_socket_);
  std::swap(primary_rates_, backup_rates_);
  channel_listener_.address = backup_channel_;
  status_->set_sockets(primary_socket_, backup_socket_);
  splicer_.promote_backup();
  backup_live_ = false;
  backup_spliced_ = false;
  input_handed_over_ = false;
  killed_primary_at_.reset();
  if (failover_) failover_->promoted = true;
  joins_of_primary_ = 0;
  joining_ = false;
  failed_joins_ = 0;
  ++promotions_;
  fold_backup_counts();
  fmt::print(stderr,
             "pair: {:.1f} s: backup {} is the primary now (taking joiners on {}); the old "
             "primary is gone\n",
             seconds_since(started_), backups_started_, channel_listener_.address);
}

// The backup ended while the primary runs on alone: a new one joins it. A join that fails is
// tried again after a pause that grows, five times in a row at most.
void Pair::maybe_reprotect() {
  if (stopping_ || !backup_exit_ || backup_live_ || primary_exit_ || killed_primary_at_) return;
  if (status_->primary().value("role", "") != "primary (unprotected)") return;
  const auto now = Clock::now();
  if (joining_) {  // the last joiner ended before it joined
    joining_ = false;
    if (++failed_joins_ >= 5) {
      fmt::print(stderr, "pair: {} backups in a row failed to join: running unprotected\n",
                 failed_joins_);
      said_cannot_reprotect_ = true;
    }
    next_join_at_ = now + std::chrono::seconds(failed_joins_);
  }
  if (said_cannot_reprotect_ || (next_join_at_ && now < *next_join_at_)) return;
  if (auto r = start_backup(/*join=*/true); !r) {
    fmt::print(stderr, "pair: cannot start a new backup: {}\n", r.error().message);
    said_cannot_reprotect_ = true;
    return;
  }
  fmt::print(stderr, "pair: {:.1f} s: re-protecting: backup {} joins the running primary\n",
             seconds_since(started_), backups_started_);
}

std::string Pair::protection() const {
  if (backup_live_) return "unprotected";
  if (joining_) {
    const auto transfer = field(status_->primary(), "transfer");
    const double guest_pages = transfer.value("guest_pages", 0.0);
    if (guest_pages <= 0) return "re-protecting";
    return fmt::format("re-protecting (round {}, {:.0f}% of RAM sent)", transfer.value("round", 0),
                       100.0 * transfer.value("pages_sent", 0.0) / guest_pages);
  }
  if (backup_exit_ || primary_exit_) return "unprotected";
  return status_->primary().value("role", "") == "primary" ? "protected" : "unprotected";
}

Result<void> Pair::start() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a side that died must not take the pair with it
  signals_.reset(::signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (options_.input_path.empty()) {
    input_.reset(::dup(STDIN_FILENO));
  } else {
    input_.reset(::open(options_.input_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!input_.valid()) {
      return make_error(
          fmt::format("cannot read input file {}: {}", options_.input_path, std::strerror(errno)));
    }
  }
  status_.emplace();
  if (auto r = start_arbiter(); !r) return r;
  if (auto r = pick_generation(); !r) return r;
  if (auto r = start_sides(); !r) return r;
  // A side that stops reading its console must not block the pair (start_backup does the same
  // for every backup).
  ::fcntl(primary_->stdin_fd(), F_SETFL, ::fcntl(primary_->stdin_fd(), F_GETFL) | O_NONBLOCK);

  fmt::print(stderr, "pair: arbiter on {}, primary accepting its backup on {}, run directory {}\n",
             arbiter_address_, channel_listener_.address, run_dir_);
  next_status_ = Clock::now() +
                 std::chrono::milliseconds(static_cast<int64_t>(options_.status_every_s * 1000));
  return {};
}

void Pair::write(std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nobody is reading: nothing to do about it
    done += static_cast<size_t>(n);
  }
}

bool Pair::forward_primary() {
  std::array<uint8_t, 65536> buffer;
  const ssize_t n = ::read(primary_->stdout_fd(), buffer.data(), buffer.size());
  if (n <= 0) {
    primary_->close_stdout();
    return false;
  }
  const auto shown =
      splicer_.from_primary(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
  // A backup promoted right after it went live may say its first new bytes as the primary.
  if (!shown.empty() && failover_ && failover_->promoted) note_failover_output();
  write(shown);
  return true;
}

void Pair::note_failover_output() {
  if (!failover_) return;
  failovers_ms_.push_back(
      std::chrono::duration<double, std::milli>(Clock::now() - failover_->killed_at).count());
  failover_.reset();
  fmt::print(stderr,
             "pair: failover: the first new output from the backup came {:.0f} ms after "
             "the primary was killed\n",
             failovers_ms_.back());
}

// What the primary wrote before the backup went live: everything up to the offset where the
// backup resumes is in the pipe by now, since the primary reports bytes as released only
// after writing them. Bounded, in case a resumed primary keeps writing.
void Pair::drain_primary() {
  constexpr int kMaxReads = 256;  // 16 MiB, the most a pipe and a writer's backlog can hold
  for (int reads = 0; reads < kMaxReads && primary_->stdout_fd() >= 0; ++reads) {
    pollfd fd{primary_->stdout_fd(), POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0 || !forward_primary()) return;
  }
}

// From here on the backup speaks for the guest: the primary is never shown again (a primary
// that was stalled and resumes may still write), once what it wrote before is shown.
void Pair::mark_backup_live() {
  if (backup_live_) return;
  backup_live_ = true;
  drain_primary();
  splicer_.primary_cut_off();
  fmt::print(stderr, "pair: backup {} is live; a new backup will join it\n", backups_started_);
}

// The backup publishes where its output resumes before it writes any. One failed query must
// not turn into an unchecked cutover, so ask until the answer comes or the time is up.
void Pair::learn_where_backup_resumes() {
  if (backup_spliced_) return;  // once per backup that went live
  backup_spliced_ = true;
  ++cutovers_;
  const auto give_up = Clock::now() + std::chrono::seconds(3);
  for (;;) {
    const auto status = query_status(backup_socket_);
    if (status.contains("output_resumed_at") && status["output_resumed_at"].is_number()) {
      splicer_.backup_resumes_at(status["output_resumed_at"].get<uint64_t>());
      return;
    }
    if (Clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  splicer_.backup_resumes_unknown();
  fmt::print(stderr,
             "pair: the backup did not say where its output resumes (its status query failed "
             "for 3 s): the cutover is NOT checked, and bytes it re-emits may show twice\n");
}

void Pair::forward_backup() {
  std::array<uint8_t, 65536> buffer;
  const ssize_t n = ::read(backup_->stdout_fd(), buffer.data(), buffer.size());
  if (n <= 0) {
    backup_->close_stdout();
    return;
  }
  mark_backup_live();  // a backup writes only once live
  learn_where_backup_resumes();
  const auto fresh =
      splicer_.from_backup(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
  if (!fresh.empty()) note_failover_output();
  write(fresh);
}

void Pair::forward_input() {
  std::array<uint8_t, 4096> buffer;
  const ssize_t n = ::read(input_.get(), buffer.data(), buffer.size());
  if (n <= 0) {
    input_.reset();
    return;
  }
  router_.typed(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)));
}

void Pair::kill_primary() {
  primary_->signal(SIGKILL);
  killed_primary_at_ = Clock::now();
  failover_ = PendingFailover{*killed_primary_at_};
  ++primaries_killed_;
  fmt::print(stderr, "pair: {:.1f} s: killed the primary (SIGKILL)\n", seconds_since(started_));
}

void Pair::inject_faults() {
  const double now = seconds_since(started_);
  if (options_.kill_primary_after && primaries_killed_ == 0 &&
      now >= *options_.kill_primary_after) {
    kill_primary();
  }
  // Only a primary that has been protected for the period (its backup replaying; never one
  // still starting or joining), so that every kill is a failover.
  const bool is_protected = !primary_exit_ && !killed_primary_at_ && !backup_exit_ &&
                            !backup_live_ && !joining_ &&
                            status_->primary().value("role", "") == "primary";
  if (!is_protected) {
    protected_since_.reset();
  } else if (!protected_since_) {
    protected_since_ = Clock::now();
  }
  if (options_.kill_primary_every && protected_since_ &&
      std::chrono::duration<double>(Clock::now() - *protected_since_).count() >=
          *options_.kill_primary_every) {
    kill_primary();
    protected_since_.reset();
  }
  if (options_.kill_backup_after && !killed_backup_ && now >= *options_.kill_backup_after) {
    backup_->signal(SIGKILL);
    killed_backup_ = true;
    fmt::print(stderr, "pair: {:.1f} s: killed the backup (SIGKILL)\n", now);
  }
  // Never mid-join: on a slow host (the KVM test box) a join took longer than the period, and
  // every joiner was killed before it protected anything.
  if (options_.kill_backup_every && !backup_exit_ && !backup_live_ && !killed_primary_at_ &&
      !joining_ &&
      std::chrono::duration<double>(Clock::now() - backup_started_at_).count() >=
          *options_.kill_backup_every) {
    backup_->signal(SIGKILL);
    fmt::print(stderr, "pair: {:.1f} s: killed backup {} (SIGKILL)\n", now, backups_started_);
    backup_started_at_ = Clock::now();  // not again before it ended
  }
  // Sent once the primary answers its control socket (on a slow host it may not be up yet),
  // and once only: a retry after a reply that timed out could alter a second digest.
  if (options_.corrupt_log_after && !corrupted_ && now >= *options_.corrupt_log_after &&
      !status_->primary().empty()) {
    corrupted_ = true;
    auto reply = send_control_command(primary_socket_, "corrupt-log", kControlTimeout);
    fmt::print(stderr, "pair: {:.1f} s: altered the next output digest in the backup's log{}\n",
               now, reply ? "" : " (the primary did not answer: " + reply.error().message + ")");
  }
  if (options_.cut_channel_after && !cut_injected_ && now >= *options_.cut_channel_after) {
    cut_injected_ = cut_ = true;
    auto reply = send_control_command(primary_socket_, "cut-channel", kControlTimeout);
    fmt::print(stderr, "pair: {:.1f} s: cut the logging channel between the sides{}\n", now,
               reply ? "" : " (the primary did not answer: " + reply.error().message + ")");
  }
}

std::string describe_side(const nlohmann::json& s, Rates& rates) {
  if (s.empty()) return "not answering";
  const auto now = Clock::now();
  const double dt = std::chrono::duration<double>(now - rates.at).count();
  const uint64_t exits = s.value("exit_count", uint64_t{0});
  const uint64_t log_bytes = field(s, "log").value("bytes_sent", uint64_t{0});
  // A count below the last one is a new process or link (a joined backup): no rate this time.
  const double exits_per_s =
      dt > 0 && rates.exits > 0 && exits >= rates.exits ? (exits - rates.exits) / dt : 0;
  const double log_per_s = dt > 0 && rates.log_bytes > 0 && log_bytes >= rates.log_bytes
                               ? (log_bytes - rates.log_bytes) / dt
                               : 0;
  rates = {now, exits, log_bytes};
  std::string line = fmt::format("{}", s.value("role", "?"));
  // By role, not side: a backup that went live is the next pair's primary.
  if (s.value("role", "") == "primary") {
    line += fmt::format(", lag {:.1f} ms ({} exits), log {}/s, held {}",
                        field(s, "lag").value("ms", 0.0),
                        field(s, "lag").value("exits", uint64_t{0}), format_bytes(log_per_s),
                        format_bytes(field(s, "outputs").value("held_bytes", 0.0)));
  } else if (!is_live_role(s)) {
    line +=
        fmt::format(", replayed {}/{} entries", field(s, "log").value("replayed_lsn", uint64_t{0}),
                    field(s, "log").value("received_lsn", uint64_t{0}));
  }
  line += fmt::format(", {:.0f} exits/s, peer {}", exits_per_s, s.value("peer", "?"));
  return line;
}

void Pair::print_status() {
  const auto primary = status_->primary();
  const auto backup = status_->backup();
  if (is_live_role(backup)) mark_backup_live();
  const std::string p =
      primary_exit_ ? describe_exit(*primary_exit_) : describe_side(primary, primary_rates_);
  const std::string b =
      backup_exit_ ? describe_exit(*backup_exit_) : describe_side(backup, backup_rates_);
  const std::string resync_counts =
      divergences() > 0 ? fmt::format(" ({} diverged, {} resynced)", divergences(), resyncs()) : "";
  fmt::print(stderr, "pair {:5.1f}s {}{} | primary: {} | backup: {}\n", seconds_since(started_),
             protection(), resync_counts, p, b);
}

// Once the primary is gone, input waits for the new primary: look for it often, not only at
// status time, so a client's input is delayed by the failover and no more.
void Pair::watch_for_takeover() {
  if (!backup_live_ && is_live_role(status_->backup())) mark_backup_live();
}

bool peer_in_doubt(const nlohmann::json& status) {
  // No answer (not started yet, or stopped) is doubt too.
  return !status.contains("peer") || status.value("peer", "") != "alive";
}

PairView Pair::view() const {
  const auto primary = status_->primary();
  PairView v;
  v.primary_gone = primary_exit_.has_value() || killed_primary_at_.has_value();
  // Unprotected, with or without a backup joining: input it is given reaches a joiner through
  // the state or the log.
  v.primary_runs_on = primary.value("role", "").starts_with("primary (unprotected");
  v.backup_live = backup_live_;
  v.suspicion =
      cut_ || peer_in_doubt(primary) || (!backup_exit_ && peer_in_doubt(status_->backup()));
  return v;
}

// The live backup gets what the primary was given beyond the input its replay applied from
// the log, before anything typed since.
void Pair::hand_input_to_backup() {
  input_handed_over_ = true;
  const auto give_up = Clock::now() + std::chrono::seconds(3);
  for (;;) {
    const auto status = query_status(backup_socket_);
    const auto input = status.find("input");
    if (input != status.end() && input->is_object() && input->value("from_log_bytes", -1.0) >= 0) {
      const uint64_t given_again_before = router_.given_again();
      if (auto r = router_.backup_took_over(input->value("from_log_bytes", uint64_t{0})); !r) {
        fmt::print(stderr, "pair: {}\n", r.error().message);
      } else if (router_.given_again() > given_again_before) {
        fmt::print(stderr,
                   "pair: {} bytes of input the primary was given never reached the backup's "
                   "log; giving them to the backup\n",
                   router_.given_again() - given_again_before);
      }
      return;
    }
    if (Clock::now() >= give_up) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fmt::print(stderr,
             "pair: the backup did not say how much input its log held (its status query failed "
             "for 3 s): input typed just before the failover may be lost\n");
}

// Console input goes to the side that runs the guest for the world; while that is unclear it
// waits here (InputRouter).
void Pair::deliver_input() {
  if (!backup_exit_) {
    const auto backup = status_->backup();
    if (const auto input = backup.find("input"); input != backup.end() && input->is_object()) {
      router_.backup_logged(input->value("from_log_bytes", uint64_t{0}));
    }
  }
  const InputTarget target = choose_input_target(view());
  if (target == InputTarget::kHold) return;
  if (target == InputTarget::kBackup && !input_handed_over_) hand_input_to_backup();
  ChildProcess& side = target == InputTarget::kBackup ? *backup_ : *primary_;
  const std::vector<uint8_t> bytes = router_.waiting();
  if (bytes.empty() || side.stdin_fd() < 0) return;
  const ssize_t n = ::write(side.stdin_fd(), bytes.data(), bytes.size());
  if (n <= 0) return;  // full (the side is not reading) or gone: try again later
  if (target == InputTarget::kBackup) {
    router_.gave_backup(static_cast<size_t>(n));
  } else {
    router_.gave_primary(static_cast<size_t>(n));
  }
}

void Pair::print_side_exits() {
  if (!primary_exit_) {
    if (auto status = primary_->poll_exit()) {
      primary_exit_ = status;
      primary_ended_at_ = Clock::now();
      fmt::print(stderr, "pair: the primary ended ({})\n", describe_exit(*status));
    }
  }
  if (!backup_exit_) {
    if (auto status = backup_->poll_exit()) {
      backup_exit_ = status;
      fmt::print(stderr, "pair: the backup ended ({})\n", describe_exit(*status));
      if (*status == kExitDivergence) {
        ++divergences_;
        resyncing_ = true;
        fmt::print(stderr,
                   "pair: backup {} diverged from the primary and could not resync (report: "
                   "{}); the primary keeps serving, and a new backup will join it\n",
                   backups_started_, divergence_report_of(backups_started_));
      }
    }
  }
}

bool Pair::finished() {
  return primary_exit_ && backup_exit_ && primary_->stdout_fd() < 0 && backup_->stdout_fd() < 0;
}

void Pair::stop_everything() {
  if (stopping_) return;
  stopping_ = true;
  fmt::print(stderr, "pair: stopping\n");
  // The primary first: it ends the log in order, and the backup then finishes and verifies it.
  if (!primary_exit_) primary_->signal(SIGINT);
  if (primary_exit_ || backup_live_) backup_->signal(SIGINT);
}

int Pair::run() {
  std::optional<Clock::time_point> stop_at;
  if (options_.seconds) {
    stop_at = started_ + std::chrono::milliseconds(static_cast<int64_t>(*options_.seconds * 1000));
  }
  std::optional<Clock::time_point> give_up_at;
  while (!finished()) {
    std::array<pollfd, 4> fds{{{primary_->stdout_fd(), POLLIN, 0},
                               {backup_->stdout_fd(), POLLIN, 0},
                               {input_.valid() ? input_.get() : -1, POLLIN, 0},
                               {signals_.get(), POLLIN, 0}}};
    ::poll(fds.data(), fds.size(), 50);
    if (fds[0].revents) forward_primary();
    if (fds[1].revents) forward_backup();
    if (fds[2].revents) forward_input();
    if (fds[3].revents) {
      signalfd_siginfo info;
      [[maybe_unused]] auto n = ::read(signals_.get(), &info, sizeof(info));
      stop_everything();
      if (primary_exit_ || backup_live_) backup_->signal(SIGINT);
    }
    print_side_exits();
    notice_joins(status_->primary());
    if (!backup_exit_) notice_backup_resyncs(status_->backup());
    maybe_promote();
    maybe_reprotect();
    watch_for_takeover();
    deliver_input();
    if (!stopping_) inject_faults();
    if (Clock::now() >= next_status_) {
      print_status();
      next_status_ +=
          std::chrono::milliseconds(static_cast<int64_t>(options_.status_every_s * 1000));
    }
    if (stop_at && Clock::now() >= *stop_at && !stopping_) stop_everything();
    // A backup whose primary ended well finishes the log and verifies the end on its own;
    // one that went live, or that is still replaying long after, is stopped.
    if (stopping_ && primary_exit_ && !backup_exit_ &&
        (backup_live_ || Clock::now() >= *primary_ended_at_ + kBackupFinishGrace)) {
      backup_->signal(SIGINT);
    }
    if (primary_exit_ && backup_exit_ && !give_up_at)
      give_up_at = Clock::now() + std::chrono::seconds(2);
    if (give_up_at && Clock::now() >= *give_up_at) break;  // a grandchild holds a pipe open
  }
  if (arbiter_) {
    arbiter_->signal(SIGTERM);
    arbiter_->wait_exit(std::chrono::seconds(5));
  }
  if (splicer_.mismatch())
    fmt::print(stderr, "pair: DIVERGENCE at cutover: {}\n", *splicer_.mismatch());
  if (splicer_.gap() > 0) {
    fmt::print(stderr, "pair: {} bytes of console output were lost at cutover\n", splicer_.gap());
  }
  if (cutovers_ > 0) {
    fmt::print(stderr,
               "pair: {}: {} bytes the backups re-emitted matched what the primary "
               "had shown{}\n",
               cutovers_ == 1 ? std::string("cutover") : fmt::format("{} cutovers", cutovers_),
               splicer_.overlap(), splicer_.mismatch() ? " (NOT all)" : "");
  }
  if (splicer_.withheld_from_primary() > 0) {
    fmt::print(stderr,
               "pair: {} bytes the primary wrote after the backup went live were not shown\n",
               splicer_.withheld_from_primary());
  }
  write_stats_json();
  return exit_code();
}

int Pair::exit_code() {
  if (splicer_.mismatch()) return kExitDivergence;
  // The pair did its job if the side that ran the guest for the world ended well.
  if (backup_live_ || (primary_exit_ && *primary_exit_ >= 128))
    return backup_exit_.value_or(kExitOk);
  return primary_exit_.value_or(kExitOk);
}

void Pair::write_stats_json() const {
  if (options_.stats_json_path.empty()) return;
  nlohmann::json j;
  j["seconds"] = seconds_since(started_);
  j["primary_exit"] = primary_exit_ ? nlohmann::json(*primary_exit_) : nlohmann::json(nullptr);
  j["backup_exit"] = backup_exit_ ? nlohmann::json(*backup_exit_) : nlohmann::json(nullptr);
  j["backup_went_live"] = backup_live_ || promotions_ > 0;
  j["backups_started"] = backups_started_;
  j["backups_joined"] = backups_joined_;
  j["divergences"] = divergences();
  j["resyncs"] = resyncs();
  j["failover_ms"] =
      failovers_ms_.empty() ? nlohmann::json(nullptr) : nlohmann::json(failovers_ms_.front());
  j["failovers_ms"] = failovers_ms_;
  j["primaries_killed"] = primaries_killed_;
  j["backups_promoted"] = promotions_;
  j["console_bytes"] = splicer_.shown();
  j["cutover_overlap_bytes"] = splicer_.overlap();
  j["cutover_gap_bytes"] = splicer_.gap();
  j["cutover_checked"] = splicer_.overlap_checked();
  j["primary_bytes_withheld_after_takeover"] = splicer_.withheld_from_primary();
  j["cutover_mismatch"] =
      splicer_.mismatch() ? nlohmann::json(*splicer_.mismatch()) : nlohmann::json(nullptr);
  if (auto r = write_json(options_.stats_json_path, j); !r) {
    fmt::print(stderr, "pair: {}\n", r.error().message);
  }
}

}  // namespace

Result<std::pair<std::string, std::string>> parse_side_nets(const std::string& value) {
  if (value.starts_with("libvirt:")) return std::pair{value, value};
  const size_t comma = value.find(',');
  if (!value.starts_with("tap:") || comma == std::string::npos || comma == 4 ||
      comma + 1 == value.size() || value.find(',', comma + 1) != std::string::npos) {
    return make_error(fmt::format(
        "--net {}: a pair needs one TAP per side, tap:PRIMARY_TAP,BACKUP_TAP (e.g. tap:tap0,tap1), "
        "or a libvirt network, libvirt:NETWORK[,filter=NAME][,uri=URI]",
        value));
  }
  return std::pair{"tap:" + value.substr(4, comma - 4), "tap:" + value.substr(comma + 1)};
}

int run_pair(const PairOptions& options) {
  auto accel = choose_accel(options.guest, "pair", /*emu_ready=*/true);
  if (!accel) return fail(accel.error());
  // Decided once here, so that auto's one line is printed once and both sides agree.
  PairOptions resolved = options;
  resolved.guest.accel = accel_name(*accel);
  auto run_dir = make_run_dir(options.run_dir);
  if (!run_dir) return fail(run_dir.error());
  Pair pair(resolved, *run_dir);
  if (auto r = pair.start(); !r) return fail(r.error());
  return pair.run();
}

}  // namespace ftvm

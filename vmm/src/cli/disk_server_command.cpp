#include "disk_server_command.h"

#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <thread>

#include "disk/arbiter_server.h"
#include "disk/nbd_server.h"
#include "disk/tcp_listener.h"
#include "logging_channel/frame_key.h"
#include "machine/exit_codes.h"
#include "machine/vm_session.h"
#include "option_checks.h"

namespace ftvm {
namespace {

// The signal handler can reach the server only through a global; stop() is async-signal-safe.
std::atomic<disk::ArbiterServer*> g_serving{nullptr};
std::atomic<disk::NbdServer*> g_serving_nbd{nullptr};

void stop_serving(int) {
  if (auto* server = g_serving.load()) server->stop();
  if (auto* nbd = g_serving_nbd.load()) nbd->stop();
}

// SA_RESTART is left out so the server's poll() wakes up at once.
void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = stop_serving;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

// UTC with milliseconds: decisions from both sides' logs and this one line up by it.
std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", text, ms.count());
}

void log_line(const std::string& line) {
  fmt::print(stderr, "{} {}\n", timestamp(), line);
}

Result<void> create_state_dir(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return make_error(fmt::format("cannot create --state-dir {}: {}", path, error.message()));
  }
  if (!std::filesystem::is_directory(path, error)) {
    return make_error(fmt::format("--state-dir {} is not a directory", path));
  }
  return {};
}

Result<UniqueFd> open_listener(const DiskServerOptions& options) {
  if (!options.listen_fd) return disk::listen_tcp(options.listen);
  if (auto r = disk::adopt_listener(*options.listen_fd); !r) return r.error();
  return UniqueFd(*options.listen_fd);
}

// Anyone who can reach the port can take a VM's generation, so the arbiter stays on the
// loopback interface unless told otherwise.
Result<void> check_reach(const std::string& address, bool keyed, bool allow_remote) {
  auto loopback = disk::is_loopback(address);
  if (!loopback) return loopback.error();
  if (*loopback || keyed || allow_remote) return {};
  return make_error(fmt::format(
      "refusing to serve on {} without a --key-file: unsigned requests would let anyone who "
      "reaches the port decide which side of a pair runs. Give the disk server and the sides the "
      "same --key-file, listen on 127.0.0.1, or pass --allow-remote on a network you trust",
      address));
}

}  // namespace

CLI::App* add_disk_server_command(CLI::App& app, DiskServerOptions& options) {
  auto* command = app.add_subcommand(
      "disk-server", "Run the arbiter: the test-and-set that decides which side of a pair runs");
  auto* listen =
      command
          ->add_option("--listen", options.listen, "Listen on HOST:PORT (port 0 picks a free one)")
          ->capture_default_str();
  command
      ->add_option("--listen-fd", options.listen_fd,
                   "Serve a listening socket inherited as file descriptor N")
      ->excludes(listen)
      ->check(non_negative_integer());
  command
      ->add_option("--state-dir", options.state_dir,
                   "Keep the decisions in DIR (created if missing); they survive restarts")
      ->required();
  command->add_option("--key-file", options.key_file,
                      "Take only requests signed with this key (the sides' --key-file); replies "
                      "are signed too");
  command
      ->add_option("--export", options.exports,
                   "Serve FILE over NBD as export NAME (NAME=FILE, or NAME=FILE:ro read-only); "
                   "repeatable, the first is the default export")
      ->type_name("NAME=FILE");
  auto* nbd_listen =
      command->add_option("--nbd-listen", options.nbd_listen, "Serve NBD on HOST:PORT")
          ->capture_default_str();
  command
      ->add_option("--nbd-listen-fd", options.nbd_listen_fd,
                   "Serve NBD on a listening socket inherited as file descriptor N")
      ->excludes(nbd_listen)
      ->check(non_negative_integer());
  command->add_flag("--allow-remote", options.allow_remote,
                    "Allow a non-loopback --listen without a --key-file, and a non-loopback "
                    "--nbd-listen (NBD has no authentication)");
  return command;
}

// The NBD service, when any export is given: started before the arbiter serves, so a bad
// export or a port in use is a setup error.
Result<std::unique_ptr<disk::NbdServer>> start_nbd(const DiskServerOptions& options,
                                                   const disk::WriterFence& fence) {
  if (options.exports.empty()) return std::unique_ptr<disk::NbdServer>();
  std::vector<disk::NbdExportSpec> specs;
  for (const auto& text : options.exports) {
    auto spec = disk::parse_export_spec(text);
    if (!spec) return make_error("--export: " + spec.error().message);
    specs.push_back(std::move(*spec));
  }
  auto listener = [&]() -> Result<UniqueFd> {
    if (!options.nbd_listen_fd) return disk::listen_tcp(options.nbd_listen);
    if (auto r = disk::adopt_listener(*options.nbd_listen_fd); !r) return r.error();
    return UniqueFd(*options.nbd_listen_fd);
  }();
  if (!listener) return make_error("--nbd-listen: " + listener.error().message);
  auto address = disk::local_address(listener->get());
  if (!address) return address.error();
  auto loopback = disk::is_loopback(*address);
  if (!loopback) return loopback.error();
  if (!*loopback && !options.allow_remote) {
    return make_error(fmt::format(
        "refusing to serve NBD on {}: NBD has no authentication, so anyone who reaches the port "
        "could read and write the disks. Listen on 127.0.0.1, or pass --allow-remote on a "
        "network you trust",
        *address));
  }
  disk::NbdServer::Options nbd_options;
  nbd_options.log = log_line;
  nbd_options.fence = &fence;
  auto server = disk::NbdServer::create(std::move(*listener), specs, nbd_options);
  if (!server) return server.error();
  for (const auto& spec : specs) {
    log_line(fmt::format("nbd: export '{}' is {}{}", spec.name, spec.path,
                         spec.read_only ? " (read-only)" : ""));
  }
  log_line(fmt::format("nbd: listening on {}", *address));
  return server;
}

int disk_server_command(const DiskServerOptions& options) {
  if (auto r = create_state_dir(options.state_dir); !r) return fail(r.error());
  auto store = disk::ArbiterStore::open(options.state_dir);
  if (!store) return fail(store.error());
  auto listener = open_listener(options);
  if (!listener) return fail(listener.error());
  auto address = disk::local_address(listener->get());
  if (!address) return fail(address.error());
  auto key = channel::FrameKey::from_file_or_none(options.key_file);
  if (!key) return fail(key.error());
  if (auto r = check_reach(*address, key->authenticated(), options.allow_remote); !r) {
    fmt::print(stderr, "ftvm: {}\n", r.error().message);
    return kExitUsage;
  }
  disk::ArbiterServer::Options server_options;
  server_options.key.assign(key->bytes().begin(), key->bytes().end());
  // Every decision reaches the fence before its reply leaves: a winner's first write finds the
  // loser already fenced.
  disk::WriterFence fence;
  for (const auto& [vm_id, winner] : (*store)->decisions()) fence.record(vm_id, winner);
  server_options.on_decision = [&fence, &store](const disk::Decision& d) {
    log_line(disk::describe(d));
    if (auto winner = (*store)->query(d.vm_id)) fence.record(d.vm_id, *winner);
  };
  auto server = disk::ArbiterServer::create(std::move(*listener), **store, server_options);
  if (!server) return fail(server.error());

  auto nbd = start_nbd(options, fence);
  if (!nbd) return fail(nbd.error());

  g_serving = server->get();
  g_serving_nbd = nbd->get();
  install_stop_handlers();
  std::thread nbd_thread;
  if (*nbd) {
    nbd_thread = std::thread([&] {
      if (auto r = (*nbd)->run(); !r) {
        log_line("nbd: stopped: " + r.error().message);
        (*server)->stop();
      }
    });
  }
  log_line(fmt::format(
      "arbiter: listening on {} (state in {}; {})", *address, options.state_dir,
      key->authenticated() ? "requests must be signed with the --key-file" : "unsigned requests"));
  auto served = (*server)->run();
  if (*nbd) {
    (*nbd)->stop();
    nbd_thread.join();
  }
  g_serving = nullptr;
  g_serving_nbd = nullptr;
  if (!served) return fail(served.error());
  log_line("arbiter: stopped");
  return kExitOk;
}

}  // namespace ftvm

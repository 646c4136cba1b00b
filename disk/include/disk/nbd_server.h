// The disk server's NBD service (docs/disk-server.md): raw image files served to NBD clients,
// the VMM's virtio-blk backend among them. One thread runs an io_uring: accepting, socket
// reads and writes, and file reads, writes, syncs and hole punches all go through it, many
// requests in flight at once, each connection a state machine around an NbdSession.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "disk/writer_fence.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::disk {

// One served file. The name is what clients ask for; it never reaches the file system.
struct NbdExportSpec {
  std::string name;
  std::string path;
  bool read_only = false;
};

// "NAME=FILE" (add ":ro" after FILE for a read-only export). Names are 1 to 64 characters of
// letters, digits, '.', '_' and '-', not starting with '.'.
Result<NbdExportSpec> parse_export_spec(std::string_view spec);

class NbdServer {
 public:
  struct Options {
    // More connections are refused (logged), so a flood cannot exhaust descriptors.
    size_t max_connections = 64;
    // Per connection: requests being served, and bytes held for them (read buffers, write
    // payloads, replies not yet sent). Beyond either, the connection is not read from.
    size_t max_requests_in_flight = 64;
    size_t max_bytes_in_flight = size_t{96} << 20;
    // A connection still in the handshake this long after it was accepted is closed, so idle
    // connections cannot hold every slot.
    std::chrono::milliseconds handshake_timeout{10000};
    // One line per connection opened and closed, and per refused request stream.
    std::function<void(const std::string&)> log;
    // The arbiter's decisions, when it runs beside this service: a connection that names its
    // writer may change the disk only while the fence lets it, and a winner's changes wait
    // until those of the processes it fenced have left the file (they could otherwise land
    // after its own). Null: no fencing.
    const WriterFence* fence = nullptr;
  };

  // Opens every export (read-write unless read-only) and sets up the ring. Errors name the
  // export and file.
  static Result<std::unique_ptr<NbdServer>> create(UniqueFd listener,
                                                   const std::vector<NbdExportSpec>& exports,
                                                   Options options);
  ~NbdServer();
  NbdServer(const NbdServer&) = delete;
  NbdServer& operator=(const NbdServer&) = delete;

  // Serves until stop(). Open connections are closed then.
  Result<void> run();
  // Any thread, and from a signal handler (an eventfd write).
  void stop();

  struct Impl;

 private:
  explicit NbdServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftvm::disk

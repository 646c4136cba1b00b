// --disk: the VM's virtio-blk disk, for the commands that feed a VM from the host (run,
// record). A raw image file, an NBD URI such as one `ftvm disk-server --export` serves, or a
// libvirt storage volume (libvirt:POOL/VOLUME).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "vmm/devices/block_request.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/event_queue.h"
#include "vmm/result.h"
#include "vmm/vm.h"

namespace ftvm {

struct DiskOptions {
  std::string source;  // empty: no disk
  bool read_only = false;
  // With an NBD source, appended to the export name ("EXPORT@TOKEN"): who writes, for the disk
  // server's fence (disk/writer_fence.h). Not part of the disk's identity (its serial).
  std::string writer_token;
};

// The disk on the live side: where its requests go, and what the guest's device reports.
struct LiveDisk {
  std::unique_ptr<BlockBackend> backend;
  VirtioBlk::Options device;
};

// std::nullopt without --disk. Completions go to `events`, which must outlive the disk.
Result<std::optional<LiveDisk>> open_live_disk(const DiskOptions& options, EventQueue& events);

// The file a local --disk names: FILE itself, or the path libvirt gives libvirt:POOL/VOLUME.
Result<std::string> local_disk_path(const std::string& source);

// What GET_ID answers: "ftvm:" and the file or export name, cut to 20 bytes.
std::string disk_serial(const std::string& source);

}  // namespace ftvm

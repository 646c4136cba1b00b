// Fencing at the disk (docs/disk-server.md, "Fencing"): the disk server holds both the
// arbiter's decisions and the shared disk, so it can refuse the writes of a side that lost.
// A side names itself in the export name it asks for ("disk@VM/GENERATION/INCARNATION"); once
// the arbiter has decided a generation of that VM for another process, or a later generation,
// that connection may no longer change the disk. The lease keeps a stalled primary from
// releasing more; this stops what it had already released and sent late.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "disk/arbiter_state.h"
#include "vmm/result.h"

namespace ftvm::disk {

// Who writes through one NBD connection: one process (incarnation) of a side of a VM's
// generation.
struct WriterToken {
  std::string vm_id;
  uint64_t generation = 0;
  std::string incarnation;
  bool operator==(const WriterToken&) const = default;
};

// The export name's separator: export names never contain it.
inline constexpr char kWriterTokenSeparator = '@';

// "VM/GENERATION/INCARNATION", each part checked as the arbiter checks it.
Result<WriterToken> parse_writer_token(std::string_view text);
std::string format_writer_token(const WriterToken& token);

// The arbiter's latest winner per VM, shared between the arbiter's thread (which records each
// decision before its reply leaves) and the NBD service's (which asks before every write).
class WriterFence {
 public:
  void record(const std::string& vm_id, const Winner& winner);
  // Why `token` may not write, or std::nullopt when it may: nothing is decided for its VM at
  // its generation or above, or its own process won that generation.
  std::optional<std::string> refusal(const WriterToken& token) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, Winner, std::less<>> winners_;
};

}  // namespace ftvm::disk

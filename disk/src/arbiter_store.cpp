#include "disk/arbiter_store.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

#include "disk/names.h"
#include "durable_file.h"

namespace ftvm::disk {
namespace {

Result<UniqueFd> lock_state_dir(const std::filesystem::path& state_dir) {
  const auto path = state_dir / ArbiterStore::kLockFileName;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    return make_error(fmt::format("cannot open {}: {} (is --state-dir a writable directory?)",
                                  path.string(), std::strerror(errno)));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return make_error(fmt::format(
          "another arbiter is already using state dir {}; stop it, or give this one its own "
          "--state-dir",
          state_dir.string()));
    }
    return make_error(fmt::format("cannot lock {}: {}", path.string(), std::strerror(errno)));
  }
  return fd;
}

Result<ArbiterState> load_state(const std::filesystem::path& path) {
  auto text = read_whole_file(path);
  if (!text) return text.error();
  auto state = decode_state(*text);
  if (!state) {
    return make_error(fmt::format(
        "arbiter state file {} is corrupt ({}). It records which side of each pair may run, so "
        "it is not reset automatically: restore it from a copy, or remove the whole directory "
        "only once every protected pair is stopped",
        path.string(), state.error().message));
  }
  return state;
}

// A directory no arbiter has used gets an empty state file at once, durably, its own entry in
// its parent included: from then on the file always exists, so a missing one is a lost one
// (a crash during the very first decision must not forget it), never a fresh start.
Result<void> initialize_state_dir(const std::filesystem::path& state_dir, bool used_before) {
  const auto path = state_dir / ArbiterStore::kStateFileName;
  std::error_code error;
  if (std::filesystem::exists(path, error) || error) return {};
  if (used_before) {
    return make_error(fmt::format(
        "arbiter state file {} is missing, but an arbiter used this directory before ({} "
        "exists): the decisions it held are lost. Restore the file from a copy; to start afresh, "
        "remove the whole directory once every protected pair is stopped",
        path.string(), ArbiterStore::kLockFileName));
  }
  if (auto r = replace_file_durably(state_dir, ArbiterStore::kStateFileName, encode_state({}));
      !r) {
    return r;
  }
  return fsync_directory(std::filesystem::absolute(state_dir).parent_path());
}

}  // namespace

Result<std::unique_ptr<ArbiterStore>> ArbiterStore::open(const std::filesystem::path& state_dir) {
  std::error_code error;
  const bool used_before = std::filesystem::exists(state_dir / kLockFileName, error);
  auto lock = lock_state_dir(state_dir);
  if (!lock) return lock.error();
  if (auto r = initialize_state_dir(state_dir, used_before); !r) return r.error();
  auto state = load_state(state_dir / kStateFileName);
  if (!state) return state.error();
  return std::unique_ptr<ArbiterStore>(
      new ArbiterStore(state_dir, std::move(*lock), std::move(*state)));
}

Result<TasResult> ArbiterStore::test_and_set(const std::string& vm_id, uint64_t generation,
                                             const std::string& side,
                                             const std::string& incarnation) {
  if (auto r = check_vm_id(vm_id); !r) return r.error();
  if (auto r = check_side(side); !r) return r.error();
  if (auto r = check_incarnation(incarnation); !r) return r.error();
  const auto found = state_.find(vm_id);
  if (found != state_.end()) {
    const Winner& recorded = found->second;
    if (generation < recorded.generation) {
      return TasResult{false, recorded.side, recorded.generation,
                       fmt::format("winner {}; generation {} has superseded {}", recorded.side,
                                   recorded.generation, generation)};
    }
    if (generation == recorded.generation) {
      // Only the process that won may win again (a retry after a lost reply): another process
      // of the same side, a restarted one or a second pair reusing the VM id and generation,
      // would be a second live copy.
      if (recorded.side != side) {
        return TasResult{false, recorded.side, generation, fmt::format("winner {}", recorded.side)};
      }
      if (recorded.incarnation != incarnation) {
        return TasResult{
            false, recorded.side, generation,
            fmt::format("winner {}, another process of that side (incarnation {})", recorded.side,
                        recorded.incarnation.empty() ? "none" : recorded.incarnation)};
      }
      return TasResult{true, recorded.side, generation, ""};
    }
  }
  ArbiterState next = state_;
  next[vm_id] = Winner{side, generation, incarnation};
  if (auto r = replace_file_durably(state_dir_, kStateFileName, encode_state(next)); !r) {
    return make_error(
        fmt::format("could not record the decision durably, so nobody won: {}", r.error().message));
  }
  state_ = std::move(next);
  return TasResult{true, side, generation, ""};
}

std::optional<Winner> ArbiterStore::query(const std::string& vm_id) const {
  const auto found = state_.find(vm_id);
  if (found == state_.end()) return std::nullopt;
  return found->second;
}

}  // namespace ftvm::disk

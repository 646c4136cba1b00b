// Whole-file reads and writes with errors that name the file. Private to ftvm_replay_format.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "vmm/result.h"

namespace ftvm::replay {

Result<std::vector<uint8_t>> read_whole_file(const std::filesystem::path& path);

// write(2) until every byte is written, retrying on EINTR and short writes.
Result<void> write_all(int fd, std::span<const uint8_t> bytes, const std::filesystem::path& path);

// Writes `path.tmp` and renames it over `path`, so a reader sees the old file or the new one,
// never half of one.
Result<void> replace_file(const std::filesystem::path& path, std::span<const uint8_t> bytes);

// fsync(2)s a file or directory.
Result<void> sync_path(const std::filesystem::path& path);

}  // namespace ftvm::replay

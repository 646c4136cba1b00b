// Replacing a file so that, once the call returns, a crash or power loss leaves either the old
// or the new contents, and the new ones if the call succeeded.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "vmm/result.h"

namespace ftvm::disk {

// Writes `contents` to `<name>.tmp` in `dir`, fsyncs it, renames it over `<name>` and fsyncs
// `dir` so the rename itself is on disk.
Result<void> replace_file_durably(const std::filesystem::path& dir, const std::string& name,
                                  std::string_view contents);

// Makes the entries of `dir` (a file created or renamed in it) durable.
Result<void> fsync_directory(const std::filesystem::path& dir);
// The whole file; an error names the file and the reason.
Result<std::string> read_whole_file(const std::filesystem::path& path);

}  // namespace ftvm::disk

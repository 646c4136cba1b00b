// Small host files read whole (/proc, /sys, ftvm's own caches), where a file that cannot be read
// means the same to the caller as an empty one.
#pragma once

#include <filesystem>
#include <string>

namespace ftvm {

// The file's bytes; empty when it is missing or unreadable.
std::string read_text_file(const std::filesystem::path& path);

}  // namespace ftvm

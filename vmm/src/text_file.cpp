#include "vmm/text_file.h"

#include <fstream>
#include <iterator>

namespace ftvm {

std::string read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace ftvm

// Writes the fuzz seed corpora: write_seeds CHUNK_DIR HEADER_DIR (directories must exist).
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_bodies.h"

namespace {

void write_all(const std::string& dir, const std::vector<std::vector<uint8_t>>& seeds) {
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(dir + "/seed-" + std::to_string(i), std::ios::binary);
    out.write(reinterpret_cast<const char*>(seeds[i].data()),
              static_cast<std::streamsize>(seeds[i].size()));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CHUNK_CORPUS_DIR HEADER_CORPUS_DIR\n", argv[0]);
    return 2;
  }
  write_all(argv[1], ftvm::replay::chunk_fuzz_seeds());
  write_all(argv[2], ftvm::replay::header_fuzz_seeds());
  return 0;
}

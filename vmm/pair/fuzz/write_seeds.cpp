// Writes the state-pages fuzzer's seed corpus: write_seeds CORPUS_DIR (the directory must exist).
#include <cstdio>
#include <fstream>
#include <string>

#include "fuzz_state_pages.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const auto seeds = ftvm::state_pages_fuzz_seeds();
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(std::string(argv[1]) + "/seed-" + std::to_string(i), std::ios::binary);
    out.write(reinterpret_cast<const char*>(seeds[i].data()),
              static_cast<std::streamsize>(seeds[i].size()));
  }
  return 0;
}

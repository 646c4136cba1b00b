// The body of the state-pages libFuzzer target as a plain function: state_pages_fuzzer.cpp
// calls it under libFuzzer, and a unit test runs it over its seeds so builds without clang
// exercise it too. The bytes are a StatePages payload from a peer; they are decoded and
// unpacked into a 1 MiB guest. Properties: a refused message writes nothing; an accepted one
// writes exactly its runs' pages and nothing else. It returns 0 and aborts on a broken property.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftvm {

int fuzz_state_pages(const uint8_t* data, size_t size);

// Valid payloads (zero, patterned and random pages, several runs) and damaged ones.
std::vector<std::vector<uint8_t>> state_pages_fuzz_seeds();

}  // namespace ftvm

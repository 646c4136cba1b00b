// Checks for command-line numbers whose messages say what is wanted. CLI11's PositiveNumber
// and NonNegativeNumber answer "-1" and "abc" alike with "not in range 0.000000 to " and the
// 309 digits of the largest double.
#pragma once

#include <CLI/CLI.hpp>

namespace ftvm {

// A duration in seconds, greater than zero (fractions allowed).
CLI::Validator positive_seconds();
// A whole number >= 0 (a file descriptor, a count).
CLI::Validator non_negative_integer();

}  // namespace ftvm

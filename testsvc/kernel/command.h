// Parses one console command line. Pure and header-only.
//
// The command is the first space-separated word (leading spaces skipped, case-sensitive).
// `echo` takes the rest of the line verbatim after the single space that ends the word.
// `compute` takes a second word, `on` or `off` (without one it asks for the current state;
// any other is kComputeUsage); words after it are ignored. `disk` likewise takes `on`, `off`
// or `verify` (none: the state; any other: kDiskUsage). The other commands ignore anything
// after their name.
#pragma once

#include <stddef.h>

namespace testsvc::kernel {

enum class CommandKind {
  kEmpty,
  kHelp,
  kStats,
  kDigest,
  kEcho,
  kComputeOn,
  kComputeOff,
  kComputeQuery,
  kComputeUsage,
  kDiskQuery,
  kDiskOn,
  kDiskOff,
  kDiskVerify,
  kDiskUsage,
  kShutdown,
  kUnknown,
};

struct Command {
  CommandKind kind = CommandKind::kEmpty;
  // kEcho: the text to echo. kUnknown: the unrecognized command word. kComputeUsage,
  // kDiskUsage: the unrecognized argument. Otherwise empty.
  // Points into the parsed line.
  const char* arg = nullptr;
  size_t arg_size = 0;
};

constexpr bool WordEquals(const char* word, size_t size, const char* literal) {
  size_t i = 0;
  for (; i < size; ++i) {
    if (literal[i] == '\0' || literal[i] != word[i]) return false;
  }
  return literal[i] == '\0';
}

// The space-separated word of `line` starting at or after `from`: [*start, *end).
constexpr void FindWord(const char* line, size_t size, size_t from, size_t* start, size_t* end) {
  while (from < size && line[from] == ' ') ++from;
  size_t to = from;
  while (to < size && line[to] != ' ') ++to;
  *start = from;
  *end = to;
}

constexpr Command ParseCommand(const char* line, size_t size) {
  size_t start = 0;
  size_t end = 0;
  FindWord(line, size, 0, &start, &end);

  const char* word = line + start;
  const size_t word_size = end - start;
  Command command;
  if (word_size == 0) {
    command.kind = CommandKind::kEmpty;
  } else if (WordEquals(word, word_size, "help")) {
    command.kind = CommandKind::kHelp;
  } else if (WordEquals(word, word_size, "stats")) {
    command.kind = CommandKind::kStats;
  } else if (WordEquals(word, word_size, "digest")) {
    command.kind = CommandKind::kDigest;
  } else if (WordEquals(word, word_size, "shutdown")) {
    command.kind = CommandKind::kShutdown;
  } else if (WordEquals(word, word_size, "compute")) {
    size_t arg_start = 0;
    size_t arg_end = 0;
    FindWord(line, size, end, &arg_start, &arg_end);
    const char* arg = line + arg_start;
    const size_t arg_size = arg_end - arg_start;
    if (arg_size == 0) {
      command.kind = CommandKind::kComputeQuery;
    } else if (WordEquals(arg, arg_size, "on")) {
      command.kind = CommandKind::kComputeOn;
    } else if (WordEquals(arg, arg_size, "off")) {
      command.kind = CommandKind::kComputeOff;
    } else {
      command.kind = CommandKind::kComputeUsage;
      command.arg = arg;
      command.arg_size = arg_size;
    }
  } else if (WordEquals(word, word_size, "disk")) {
    size_t arg_start = 0;
    size_t arg_end = 0;
    FindWord(line, size, end, &arg_start, &arg_end);
    const char* arg = line + arg_start;
    const size_t arg_size = arg_end - arg_start;
    if (arg_size == 0) {
      command.kind = CommandKind::kDiskQuery;
    } else if (WordEquals(arg, arg_size, "on")) {
      command.kind = CommandKind::kDiskOn;
    } else if (WordEquals(arg, arg_size, "off")) {
      command.kind = CommandKind::kDiskOff;
    } else if (WordEquals(arg, arg_size, "verify")) {
      command.kind = CommandKind::kDiskVerify;
    } else {
      command.kind = CommandKind::kDiskUsage;
      command.arg = arg;
      command.arg_size = arg_size;
    }
  } else if (WordEquals(word, word_size, "echo")) {
    command.kind = CommandKind::kEcho;
    const size_t text = end < size ? end + 1 : end;
    command.arg = line + text;
    command.arg_size = size - text;
  } else {
    command.kind = CommandKind::kUnknown;
    command.arg = word;
    command.arg_size = word_size;
  }
  return command;
}

}  // namespace testsvc::kernel

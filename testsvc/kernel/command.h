// Parses one console command line. Pure and header-only.
//
// The command is the first space-separated word (leading spaces skipped, case-sensitive).
// `echo` takes the rest of the line verbatim after the single space that ends the word.
// `compute` takes a second word, `on` or `off` (without one it asks for the current state;
// any other is kComputeUsage); words after it are ignored. `disk` likewise takes `on`, `off`
// or `verify` (none: the state; any other: kDiskUsage), or `burst` and a count (the count's
// word is the argument; the service checks it). The other commands (`net` among them) ignore
// anything after their name.
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
  kDiskBurst,
  kDiskUsage,
  kNet,
  kShutdown,
  kUnknown,
};

struct Command {
  CommandKind kind = CommandKind::kEmpty;
  // kEcho: the text to echo. kUnknown: the unrecognized command word. kComputeUsage,
  // kDiskUsage: the unrecognized argument. kDiskBurst: the count's word (maybe empty).
  // Otherwise empty.
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

// The second word of a command that takes one: it names the command's kind (`choices`),
// `none` without one, `usage` with the word as the argument for any other.
struct Argument {
  const char* word;
  CommandKind kind;
};
inline constexpr Argument kComputeArguments[] = {{"on", CommandKind::kComputeOn},
                                                 {"off", CommandKind::kComputeOff}};
inline constexpr Argument kDiskArguments[] = {{"on", CommandKind::kDiskOn},
                                              {"off", CommandKind::kDiskOff},
                                              {"verify", CommandKind::kDiskVerify},
                                              {"burst", CommandKind::kDiskBurst}};

template <size_t N>
constexpr Command ParseArgument(const char* line, size_t size, size_t from, CommandKind none,
                                const Argument (&choices)[N], CommandKind usage) {
  size_t start = 0;
  size_t end = 0;
  FindWord(line, size, from, &start, &end);
  const char* arg = line + start;
  const size_t arg_size = end - start;
  Command command;
  command.kind = none;
  if (arg_size == 0) return command;
  for (const Argument& choice : choices) {
    if (WordEquals(arg, arg_size, choice.word)) {
      command.kind = choice.kind;
      return command;
    }
  }
  command.kind = usage;
  command.arg = arg;
  command.arg_size = arg_size;
  return command;
}

// `disk burst N`: at most this many records in one burst.
inline constexpr unsigned long long kMaxBurstRecords = 100000;

// The burst's count: 1 to kMaxBurstRecords in decimal digits; 0 for anything else.
constexpr unsigned long long ParseBurstCount(const char* word, size_t size) {
  if (size == 0 || size > 6) return 0;
  unsigned long long count = 0;
  for (size_t i = 0; i < size; ++i) {
    if (word[i] < '0' || word[i] > '9') return 0;
    count = count * 10 + static_cast<unsigned long long>(word[i] - '0');
  }
  return count <= kMaxBurstRecords ? count : 0;
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
  } else if (WordEquals(word, word_size, "net")) {
    command.kind = CommandKind::kNet;
  } else if (WordEquals(word, word_size, "shutdown")) {
    command.kind = CommandKind::kShutdown;
  } else if (WordEquals(word, word_size, "compute")) {
    command = ParseArgument(line, size, end, CommandKind::kComputeQuery, kComputeArguments,
                            CommandKind::kComputeUsage);
  } else if (WordEquals(word, word_size, "disk")) {
    command = ParseArgument(line, size, end, CommandKind::kDiskQuery, kDiskArguments,
                            CommandKind::kDiskUsage);
    if (command.kind == CommandKind::kDiskBurst) {
      size_t burst_start = 0;
      size_t burst_end = 0;
      FindWord(line, size, end, &burst_start, &burst_end);
      size_t count_start = 0;
      size_t count_end = 0;
      FindWord(line, size, burst_end, &count_start, &count_end);
      command.arg = line + count_start;
      command.arg_size = count_end - count_start;
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

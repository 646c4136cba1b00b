// Parses one console command line. Pure and header-only.
//
// The command is the first space-separated word (leading spaces skipped, case-sensitive).
// `echo` takes the rest of the line verbatim after the single space that ends the word; the
// other commands ignore anything after their name.
#pragma once

#include <stddef.h>

namespace testsvc::kernel {

enum class CommandKind { kEmpty, kHelp, kStats, kDigest, kEcho, kShutdown, kUnknown };

struct Command {
  CommandKind kind = CommandKind::kEmpty;
  // kEcho: the text to echo. kUnknown: the unrecognized command word. Otherwise empty.
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

constexpr Command ParseCommand(const char* line, size_t size) {
  size_t start = 0;
  while (start < size && line[start] == ' ') ++start;
  size_t end = start;
  while (end < size && line[end] != ' ') ++end;

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

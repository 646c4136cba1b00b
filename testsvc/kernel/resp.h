// A small Redis: the RESP2 protocol on one connection's input, commands run against a
// key-value table in guest memory. Pure and header-only: the net thread serves each TCP
// connection (tcp.h) with it, host unit tests feed it bytes.
//
// Requests are RESP arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\na\r\n`) or inline
// commands (`PING\r\n`: words split on spaces and tabs, no quoting). Several may come at once
// (pipelining) and one may be split anywhere: an incomplete request stays unconsumed until the
// rest arrives; the parser starts over on it then (requests are small and bounded, so that costs
// less than keeping parser state per connection). Bulk data is skipped by its length, never
// scanned.
//
// Commands (names in any case): PING [msg], ECHO msg, SET key value, GET key, INCR key,
// INCRBY key n, DEL key..., EXISTS key..., DBSIZE, FLUSHALL [ASYNC|SYNC], CONFIG GET name...
// (`save` and `appendonly` exist, with empty values: redis-benchmark asks), COMMAND [...]
// (an empty array: redis-cli asks for docs it can do without), QUIT. Replies and errors are
// Redis's own, e.g. `-ERR wrong number of arguments for 'get' command`.
//
// Limits, each answered with an error rather than a wrong result: kMaxKeys keys of at most
// kMaxKeyBytes bytes, values of at most kMaxValueBytes; integers are 64-bit signed with
// overflow checked. A request that breaks the protocol or its limits (kMaxArgs arguments,
// kMaxBulkBytes per argument, kMaxInlineBytes per inline line, or larger than the whole input
// buffer) gets `-ERR Protocol error: ...` and the connection is closed, as Redis does.
//
// Persistence: every command that changes the table first hands its effect (a Mutation: set a
// key to a value, delete keys, clear all) to a Log, and changes the table only if the Log took
// it; otherwise the client gets `-ERR disk log full` or `-ERR disk log error` and nothing
// changed. The guest's Log writes each Mutation to its disk before the reply (store_log.h);
// without a disk (and in most tests) NoLog takes everything. Replaying the Mutations in order
// (Apply) rebuilds the table.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kernel/format.h"

namespace testsvc::kernel::resp {

inline constexpr size_t kMaxKeys = 1024;
inline constexpr size_t kIndexSlots = 2 * kMaxKeys;  // at most half full: short probes
inline constexpr size_t kMaxKeyBytes = 64;
inline constexpr size_t kMaxValueBytes = 256;
inline constexpr size_t kMaxArgs = 64;
inline constexpr size_t kMaxBulkBytes = 1024;
inline constexpr size_t kMaxInlineBytes = 1024;
// How much of an unknown command's name an error repeats (Redis: 128 too).
inline constexpr size_t kMaxNameInError = 128;
// No reply is longer: a bulk of kMaxBulkBytes (ECHO, PING msg) with its header, or an error
// quoting kMaxNameInError bytes. Serve runs a request only with this much output room.
inline constexpr size_t kMaxReplyBytes = kMaxBulkBytes + 32;
// A count line (`*<n>\r\n`, `$<n>\r\n`) longer than this is no count.
inline constexpr size_t kMaxCountLineBytes = 24;

static_assert(kMaxNameInError + 64 < kMaxReplyBytes);
static_assert((kIndexSlots & (kIndexSlots - 1)) == 0, "slots wrap by mask");
static_assert(kMaxKeys < 0xffff, "entries are numbered in 16 bits");

// One argument: bytes in the input.
struct Arg {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// ---- Numbers ----------------------------------------------------------------------------

// Redis's strict integer syntax (string2ll): an optional '-', digits, no leading zeros, no
// "-0", no spaces or '+', within 64-bit signed.
constexpr bool ParseInt64(const uint8_t* text, size_t size, int64_t* value) {
  if (size == 0 || size > 20) return false;
  const bool negative = text[0] == '-';
  const size_t first = negative ? 1 : 0;
  if (first == size || (text[first] == '0' && (size - first > 1 || negative))) return false;
  uint64_t magnitude = 0;
  for (size_t i = first; i < size; ++i) {
    const unsigned digit = static_cast<unsigned>(text[i]) - '0';
    if (digit > 9 || magnitude > (UINT64_MAX - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  const uint64_t limit = uint64_t{1} << 63;  // |INT64_MIN|
  if (magnitude > (negative ? limit : limit - 1)) return false;
  *value = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return true;
}

// `value` in decimal, '-' first if negative; returns the length (at most 20).
constexpr size_t FormatInt64(int64_t value, char* out) {
  if (value >= 0) return FormatDecimal(static_cast<uint64_t>(value), out);
  out[0] = '-';
  return 1 + FormatDecimal(0 - static_cast<uint64_t>(value), out + 1);
}

// ---- The table --------------------------------------------------------------------------

struct Entry {
  uint32_t hash = 0;
  uint8_t key_size = 0;
  uint16_t value_size = 0;
  uint8_t key[kMaxKeyBytes] = {};
  uint8_t value[kMaxValueBytes] = {};
};

// Eight bytes at a time (keys are short, and CPL0 may be emulated), then a final mix.
inline uint32_t HashKey(const uint8_t* key, size_t size) {
  uint64_t hash = 0x9e3779b97f4a7c15ull ^ size;
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    __builtin_memcpy(&word, key + i, 8);
    hash = (hash ^ word) * 0xff51afd7ed558ccdull;
    hash ^= hash >> 32;
  }
  uint64_t tail = 0;
  for (; i < size; ++i) tail = tail << 8 | key[i];
  hash = (hash ^ tail) * 0xc4ceb9fe1a85ec53ull;
  return static_cast<uint32_t>(hash ^ (hash >> 29));
}

// kMaxKeys entries and an open-addressing index of kIndexSlots (linear probing, deletion by
// backward shift, so no tombstones pile up): lookups stay short at any fill.
class Store {
 public:
  enum class SetResult : uint8_t { kOk, kFull, kKeyTooLong, kValueTooLong };

  const Entry* Find(const uint8_t* key, size_t size) const {
    if (size > kMaxKeyBytes) return nullptr;
    const size_t slot = Probe(key, size, HashKey(key, size));
    return index_[slot] == 0 ? nullptr : &entries_[index_[slot] - 1];
  }

  SetResult Set(const uint8_t* key, size_t key_size, const uint8_t* value, size_t value_size) {
    if (key_size > kMaxKeyBytes) return SetResult::kKeyTooLong;
    if (value_size > kMaxValueBytes) return SetResult::kValueTooLong;
    const uint32_t hash = HashKey(key, key_size);
    const size_t slot = Probe(key, key_size, hash);
    if (index_[slot] == 0) {
      if (count_ == kMaxKeys) return SetResult::kFull;
      const uint16_t number = TakeEntry();
      Entry& entry = entries_[number];
      entry.hash = hash;
      entry.key_size = static_cast<uint8_t>(key_size);
      __builtin_memcpy(entry.key, key, key_size);
      index_[slot] = static_cast<uint16_t>(number + 1);
      ++count_;
    }
    Entry& entry = entries_[index_[slot] - 1];
    entry.value_size = static_cast<uint16_t>(value_size);
    __builtin_memcpy(entry.value, value, value_size);
    return SetResult::kOk;
  }

  // What Set would answer, without setting anything.
  SetResult CheckSet(const uint8_t* key, size_t key_size, size_t value_size) const {
    if (key_size > kMaxKeyBytes) return SetResult::kKeyTooLong;
    if (value_size > kMaxValueBytes) return SetResult::kValueTooLong;
    if (count_ == kMaxKeys && Find(key, key_size) == nullptr) return SetResult::kFull;
    return SetResult::kOk;
  }

  bool Delete(const uint8_t* key, size_t size) {
    if (size > kMaxKeyBytes) return false;
    size_t slot = Probe(key, size, HashKey(key, size));
    if (index_[slot] == 0) return false;
    free_[free_count_++] = static_cast<uint16_t>(index_[slot] - 1);
    --count_;
    // Backward shift: move up each later entry of the run that may live in the hole.
    for (size_t next = (slot + 1) & kSlotMask; index_[next] != 0; next = (next + 1) & kSlotMask) {
      const size_t home = entries_[index_[next] - 1].hash & kSlotMask;
      if (((next - home) & kSlotMask) >= ((next - slot) & kSlotMask)) {
        index_[slot] = index_[next];
        slot = next;
      }
    }
    index_[slot] = 0;
    return true;
  }

  size_t size() const { return count_; }

  void Clear() {
    __builtin_memset(index_, 0, sizeof index_);
    count_ = 0;
    fresh_ = 0;
    free_count_ = 0;
  }

 private:
  static constexpr size_t kSlotMask = kIndexSlots - 1;

  // The key's slot, or the empty slot where it would go.
  size_t Probe(const uint8_t* key, size_t size, uint32_t hash) const {
    size_t slot = hash & kSlotMask;
    while (index_[slot] != 0) {
      const Entry& entry = entries_[index_[slot] - 1];
      if (entry.hash == hash && entry.key_size == size &&
          __builtin_memcmp(entry.key, key, size) == 0) {
        break;
      }
      slot = (slot + 1) & kSlotMask;
    }
    return slot;
  }

  // An unused entry: a freed one, else the next never used.
  uint16_t TakeEntry() {
    if (free_count_ != 0) return free_[--free_count_];
    return static_cast<uint16_t>(fresh_++);
  }

  uint16_t index_[kIndexSlots] = {};  // entry number + 1; 0: empty
  Entry entries_[kMaxKeys] = {};
  uint16_t free_[kMaxKeys] = {};
  size_t free_count_ = 0;
  size_t fresh_ = 0;  // entries_[fresh_...] were never used (since the last Clear)
  size_t count_ = 0;
};

// ---- Mutations and the log ------------------------------------------------------------

// A change to the table, as the log records it: the effect, not the request (INCR n is the SET
// of its result; DEL names only the keys that were there), so that replaying it needs no
// command semantics and cannot fail where the original did not.
enum class MutationKind : uint8_t { kSet = 1, kDelete = 2, kFlushAll = 3 };

struct Mutation {
  MutationKind kind = MutationKind::kFlushAll;
  const Arg* args = nullptr;  // kSet: key, value; kDelete: the keys; kFlushAll: none
  size_t count = 0;
};

enum class LogResult : uint8_t { kOk, kFull, kError };

// A Log has `LogResult Append(const Mutation&)`: kOk once the mutation is durable.
struct NoLog {
  LogResult Append(const Mutation&) { return LogResult::kOk; }
};

// Changes the table as `mutation` says (at replay: what the log holds).
inline void Apply(const Mutation& mutation, Store& store) {
  switch (mutation.kind) {
    case MutationKind::kSet:
      if (mutation.count == 2) {
        store.Set(mutation.args[0].data, mutation.args[0].size, mutation.args[1].data,
                  mutation.args[1].size);
      }
      break;
    case MutationKind::kDelete:
      for (size_t i = 0; i < mutation.count; ++i) {
        store.Delete(mutation.args[i].data, mutation.args[i].size);
      }
      break;
    case MutationKind::kFlushAll:
      store.Clear();
      break;
  }
}

// ---- Parsing ----------------------------------------------------------------------------

enum class ParseStatus : uint8_t {
  kCommand,     // args[0..argc) hold a request
  kEmpty,       // consumed, nothing to run (an empty line or array)
  kIncomplete,  // more input is needed
  kError,       // a protocol error: `error` says which
};

struct Parsed {
  ParseStatus status = ParseStatus::kIncomplete;
  size_t consumed = 0;
  size_t argc = 0;
  const char* error = nullptr;
};

// Reads `<n>\r\n` at in[*at] (after its '*' or '$'), moving *at past it. kIncomplete, kError or
// kCommand (done).
constexpr ParseStatus ParseCount(const uint8_t* in, size_t size, size_t* at, int64_t* count) {
  const size_t start = *at;
  size_t end = start;
  while (end < size && in[end] != '\r') {
    if (end - start >= kMaxCountLineBytes) return ParseStatus::kError;
    ++end;
  }
  if (end + 1 >= size) return ParseStatus::kIncomplete;  // the CR or its LF is still to come
  if (in[end + 1] != '\n' || !ParseInt64(in + start, end - start, count)) {
    return ParseStatus::kError;
  }
  *at = end + 2;
  return ParseStatus::kCommand;
}

constexpr Parsed ProtocolError(const char* error) {
  return {ParseStatus::kError, 0, 0, error};
}

// `*<n>\r\n` then n times `$<len>\r\n<bytes>\r\n`.
constexpr Parsed ParseArray(const uint8_t* in, size_t size, Arg* args) {
  size_t at = 1;
  int64_t argc = 0;
  const ParseStatus header = ParseCount(in, size, &at, &argc);
  if (header == ParseStatus::kIncomplete) return {};
  if (header == ParseStatus::kError || argc > static_cast<int64_t>(kMaxArgs)) {
    return ProtocolError("Protocol error: invalid multibulk length");
  }
  if (argc <= 0) return {ParseStatus::kEmpty, at, 0, nullptr};  // as Redis: nothing to run
  for (int64_t i = 0; i < argc; ++i) {
    if (at >= size) return {};
    if (in[at] != '$') return ProtocolError("Protocol error: expected '$'");
    ++at;
    int64_t length = 0;
    const ParseStatus count = ParseCount(in, size, &at, &length);
    if (count == ParseStatus::kIncomplete) return {};
    if (count == ParseStatus::kError || length < 0 ||
        length > static_cast<int64_t>(kMaxBulkBytes)) {
      return ProtocolError("Protocol error: invalid bulk length");
    }
    const size_t bulk = static_cast<size_t>(length);
    if (size - at < bulk + 2) return {};
    if (in[at + bulk] != '\r' || in[at + bulk + 1] != '\n') {
      return ProtocolError("Protocol error: expected CRLF after bulk data");
    }
    args[i] = {in + at, bulk};
    at += bulk + 2;
  }
  return {ParseStatus::kCommand, at, static_cast<size_t>(argc), nullptr};
}

constexpr bool IsBlank(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\r';
}

// A line of words (telnet style), ended by LF, a CR before it ignored.
constexpr Parsed ParseInline(const uint8_t* in, size_t size, Arg* args) {
  const size_t limit = size < kMaxInlineBytes ? size : kMaxInlineBytes;
  size_t end = 0;
  while (end < limit && in[end] != '\n') ++end;
  if (end == limit) {
    if (size >= kMaxInlineBytes) return ProtocolError("Protocol error: too big inline request");
    return {};
  }
  size_t argc = 0;
  size_t at = 0;
  for (;;) {
    while (at < end && IsBlank(in[at])) ++at;
    if (at == end) break;
    if (argc == kMaxArgs) return ProtocolError("Protocol error: too many arguments");
    const size_t start = at;
    while (at < end && !IsBlank(in[at])) ++at;
    args[argc++] = {in + start, at - start};
  }
  return {argc == 0 ? ParseStatus::kEmpty : ParseStatus::kCommand, end + 1, argc, nullptr};
}

// The request at the start of `in`, its arguments in `args` (kMaxArgs), pointing into `in`.
constexpr Parsed ParseRequest(const uint8_t* in, size_t size, Arg* args) {
  if (size == 0) return {};
  return in[0] == '*' ? ParseArray(in, size, args) : ParseInline(in, size, args);
}

// ---- Replies ----------------------------------------------------------------------------

// A Sink has `size_t Free() const` and `void Write(const uint8_t*, size_t)` (a TCP
// connection's send buffer; a string in tests). Serve makes sure a whole reply fits.
template <typename Sink>
void WriteText(Sink& out, const char* text, size_t size) {
  out.Write(reinterpret_cast<const uint8_t*>(text), size);
}
template <typename Sink>
void WriteText(Sink& out, const char* text) {
  WriteText(out, text, StringLength(text));
}

// A type character, then a decimal, then CRLF: ":42\r\n", "$5\r\n", "*2\r\n".
template <typename Sink>
void WriteNumberLine(Sink& out, char type, int64_t value) {
  char line[1 + kMaxDecimalDigits + 1 + 2] = {type};
  size_t size = 1 + FormatInt64(value, line + 1);
  line[size++] = '\r';
  line[size++] = '\n';
  WriteText(out, line, size);
}

template <typename Sink>
void WriteBulk(Sink& out, const uint8_t* data, size_t size) {
  WriteNumberLine(out, '$', static_cast<int64_t>(size));
  out.Write(data, size);
  WriteText(out, "\r\n", 2);
}

template <typename Sink>
void WriteError(Sink& out, const char* message) {
  WriteText(out, "-ERR ");
  WriteText(out, message);
  WriteText(out, "\r\n", 2);
}

// ---- Commands ---------------------------------------------------------------------------

enum class Op : uint8_t {
  kPing,
  kEcho,
  kSet,
  kGet,
  kIncr,
  kIncrBy,
  kDel,
  kExists,
  kDbSize,
  kFlushAll,
  kConfig,
  kCommand,
  kQuit,
};

struct CommandSpec {
  const char* name;  // lowercase
  Op op;
  int arity;  // as Redis counts it: the name included; negative: at least -arity
};

inline constexpr CommandSpec kCommands[] = {
    {"ping", Op::kPing, -1},     {"echo", Op::kEcho, 2},
    {"set", Op::kSet, -3},       {"get", Op::kGet, 2},
    {"incr", Op::kIncr, 2},      {"incrby", Op::kIncrBy, 3},
    {"del", Op::kDel, -2},       {"exists", Op::kExists, -2},
    {"dbsize", Op::kDbSize, 1},  {"flushall", Op::kFlushAll, -1},
    {"config", Op::kConfig, -2}, {"command", Op::kCommand, -1},
    {"quit", Op::kQuit, -1},
};

constexpr uint8_t ToLower(uint8_t c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<uint8_t>(c + ('a' - 'A')) : c;
}

// `arg` equals the lowercase `name`, in any case.
constexpr bool NameIs(const Arg& arg, const char* name) {
  const size_t size = StringLength(name);
  if (arg.size != size) return false;
  for (size_t i = 0; i < size; ++i) {
    if (ToLower(arg.data[i]) != static_cast<uint8_t>(name[i])) return false;
  }
  return true;
}

constexpr const CommandSpec* FindCommand(const Arg& name) {
  for (const CommandSpec& spec : kCommands) {
    if (NameIs(name, spec.name)) return &spec;
  }
  return nullptr;
}

// "-ERR unknown command 'X'", X cut at kMaxNameInError bytes, control bytes as spaces (they
// would end or break the error line).
template <typename Sink>
void WriteUnknownCommand(Sink& out, const Arg& name) {
  char quoted[kMaxNameInError] = {};
  const size_t size = name.size < kMaxNameInError ? name.size : kMaxNameInError;
  for (size_t i = 0; i < size; ++i) {
    quoted[i] = name.data[i] < 0x20 ? ' ' : static_cast<char>(name.data[i]);
  }
  WriteText(out, "-ERR unknown command '");
  WriteText(out, quoted, size);
  WriteText(out, "'\r\n", 3);
}

template <typename Sink>
void WriteArity(Sink& out, const CommandSpec& spec) {
  WriteText(out, "-ERR wrong number of arguments for '");
  WriteText(out, spec.name);
  WriteText(out, "' command\r\n");
}

template <typename Sink>
void WriteLogError(Sink& out, LogResult result) {
  WriteError(out, result == LogResult::kFull ? "disk log full" : "disk log error");
}

// Logs `mutation`, then applies it; false (and the error written) when the log refused it.
template <typename Log, typename Sink>
bool LogAndApply(const Mutation& mutation, Store& store, Log& log, Sink& out) {
  if (const LogResult logged = log.Append(mutation); logged != LogResult::kOk) {
    WriteLogError(out, logged);
    return false;
  }
  Apply(mutation, store);
  return true;
}

template <typename Sink>
void WriteSetError(Sink& out, Store::SetResult result) {
  switch (result) {
    case Store::SetResult::kOk:
      break;
    case Store::SetResult::kFull:
      WriteError(out, "table full");
      break;
    case Store::SetResult::kKeyTooLong:
      WriteError(out, "key too long");
      break;
    case Store::SetResult::kValueTooLong:
      WriteError(out, "value too long");
      break;
  }
}

// INCR and INCRBY: the key's integer value (0 if missing) plus `by`.
template <typename Log, typename Sink>
void IncrementBy(Store& store, const Arg& key, int64_t by, Log& log, Sink& out) {
  int64_t value = 0;
  const Entry* entry = store.Find(key.data, key.size);
  if (entry != nullptr && !ParseInt64(entry->value, entry->value_size, &value)) {
    WriteError(out, "value is not an integer or out of range");
    return;
  }
  if (__builtin_add_overflow(value, by, &value)) {
    WriteError(out, "increment or decrement would overflow");
    return;
  }
  char text[kMaxDecimalDigits + 1] = {};
  const size_t size = FormatInt64(value, text);
  if (const Store::SetResult result = store.CheckSet(key.data, key.size, size);
      result != Store::SetResult::kOk) {
    WriteSetError(out, result);
    return;
  }
  const Arg set[2] = {key, {reinterpret_cast<const uint8_t*>(text), size}};
  if (!LogAndApply({MutationKind::kSet, set, 2}, store, log, out)) return;
  WriteNumberLine(out, ':', value);
}

// CONFIG GET name...: `save` and `appendonly` exist (empty), nothing else does.
template <typename Sink>
void ConfigGet(const Arg* args, size_t argc, Sink& out) {
  constexpr const char* kKnown[] = {"save", "appendonly"};
  const char* found[2] = {};
  size_t count = 0;
  for (const char* name : kKnown) {
    for (size_t i = 2; i < argc; ++i) {
      if (NameIs(args[i], name)) {
        found[count++] = name;
        break;
      }
    }
  }
  WriteNumberLine(out, '*', static_cast<int64_t>(2 * count));
  for (size_t i = 0; i < count; ++i) {
    WriteBulk(out, reinterpret_cast<const uint8_t*>(found[i]), StringLength(found[i]));
    WriteText(out, "$0\r\n\r\n");
  }
}

// EXISTS: how many of the keys are there (a key named twice counts twice).
template <typename Sink>
void CountKeys(const Store& store, const Arg* args, size_t argc, Sink& out) {
  int64_t count = 0;
  for (size_t i = 1; i < argc; ++i) {
    if (store.Find(args[i].data, args[i].size) != nullptr) ++count;
  }
  WriteNumberLine(out, ':', count);
}

// DEL: how many of the keys were there (a key named twice counts once). Only those are logged;
// deleting nothing logs nothing.
template <typename Log, typename Sink>
void DeleteKeys(Store& store, const Arg* args, size_t argc, Log& log, Sink& out) {
  Arg present[kMaxArgs];
  size_t count = 0;
  for (size_t i = 1; i < argc; ++i) {
    if (store.Find(args[i].data, args[i].size) == nullptr) continue;
    bool named_before = false;
    for (size_t j = 0; j < count && !named_before; ++j) {
      named_before = present[j].size == args[i].size &&
                     __builtin_memcmp(present[j].data, args[i].data, args[i].size) == 0;
    }
    if (!named_before) present[count++] = args[i];
  }
  if (count != 0 && !LogAndApply({MutationKind::kDelete, present, count}, store, log, out)) {
    return;
  }
  WriteNumberLine(out, ':', static_cast<int64_t>(count));
}

// Runs one request and writes its reply (at most kMaxReplyBytes). True for QUIT.
template <typename Log, typename Sink>
bool Execute(const Arg* args, size_t argc, Store& store, Log& log, Sink& out) {
  const CommandSpec* spec = FindCommand(args[0]);
  if (spec == nullptr) {
    WriteUnknownCommand(out, args[0]);
    return false;
  }
  const bool arity_ok = spec->arity >= 0 ? argc == static_cast<size_t>(spec->arity)
                                         : argc >= static_cast<size_t>(-spec->arity);
  if (!arity_ok || (spec->op == Op::kPing && argc > 2)) {
    WriteArity(out, *spec);
    return false;
  }
  switch (spec->op) {
    case Op::kPing:
      if (argc == 2) {
        WriteBulk(out, args[1].data, args[1].size);
      } else {
        WriteText(out, "+PONG\r\n");
      }
      break;
    case Op::kEcho:
      WriteBulk(out, args[1].data, args[1].size);
      break;
    case Op::kSet: {
      if (argc > 3) {  // EX, NX and the other options are not supported
        WriteError(out, "syntax error");
        break;
      }
      const Store::SetResult result = store.CheckSet(args[1].data, args[1].size, args[2].size);
      if (result != Store::SetResult::kOk) {
        WriteSetError(out, result);
      } else if (LogAndApply({MutationKind::kSet, args + 1, 2}, store, log, out)) {
        WriteText(out, "+OK\r\n");
      }
      break;
    }
    case Op::kGet: {
      const Entry* entry = store.Find(args[1].data, args[1].size);
      if (entry == nullptr) {
        WriteText(out, "$-1\r\n");
      } else {
        WriteBulk(out, entry->value, entry->value_size);
      }
      break;
    }
    case Op::kIncr:
      IncrementBy(store, args[1], 1, log, out);
      break;
    case Op::kIncrBy: {
      int64_t by = 0;
      if (!ParseInt64(args[2].data, args[2].size, &by)) {
        WriteError(out, "value is not an integer or out of range");
        break;
      }
      IncrementBy(store, args[1], by, log, out);
      break;
    }
    case Op::kDel:
      DeleteKeys(store, args, argc, log, out);
      break;
    case Op::kExists:
      CountKeys(store, args, argc, out);
      break;
    case Op::kDbSize:
      WriteNumberLine(out, ':', static_cast<int64_t>(store.size()));
      break;
    case Op::kFlushAll:
      if (argc > 2 || (argc == 2 && !NameIs(args[1], "async") && !NameIs(args[1], "sync"))) {
        WriteError(out, "syntax error");
        break;
      }
      if (LogAndApply({MutationKind::kFlushAll, nullptr, 0}, store, log, out)) {
        WriteText(out, "+OK\r\n");
      }
      break;
    case Op::kConfig:
      if (!NameIs(args[1], "get")) {
        WriteError(out, "unknown CONFIG subcommand (only CONFIG GET is supported)");
      } else if (argc < 3) {
        WriteText(out, "-ERR wrong number of arguments for 'config|get' command\r\n");
      } else {
        ConfigGet(args, argc, out);
      }
      break;
    case Op::kCommand:
      WriteText(out, "*0\r\n");
      break;
    case Op::kQuit:
      WriteText(out, "+OK\r\n");
      return true;
  }
  return false;
}

// ---- Serving a connection ---------------------------------------------------------------

struct ServeResult {
  size_t consumed = 0;   // input used up
  bool close = false;    // close the connection after the replies (QUIT, protocol error)
  bool blocked = false;  // stopped for want of output room, with requests left
};

// Runs the whole requests at the start of `in` while the output has room for a reply.
// `input_full`: `in` is all the input buffer holds, so an incomplete request at its start can
// never be completed (a protocol error).
template <typename Log, typename Sink>
ServeResult Serve(const uint8_t* in, size_t size, bool input_full, Store& store, Log& log,
                  Sink& out) {
  ServeResult result;
  Arg args[kMaxArgs];
  while (result.consumed < size) {
    if (out.Free() < kMaxReplyBytes) {
      result.blocked = true;
      break;
    }
    const Parsed parsed = ParseRequest(in + result.consumed, size - result.consumed, args);
    if (parsed.status == ParseStatus::kIncomplete) {
      if (input_full && result.consumed == 0) {
        WriteError(out, "Protocol error: request larger than the input buffer");
        result.close = true;
      }
      break;
    }
    if (parsed.status == ParseStatus::kError) {
      WriteError(out, parsed.error);
      result.consumed = size;
      result.close = true;
      break;
    }
    result.consumed += parsed.consumed;
    if (parsed.status == ParseStatus::kCommand && Execute(args, parsed.argc, store, log, out)) {
      result.close = true;
      break;
    }
  }
  return result;
}

// Serve without persistence.
template <typename Sink>
ServeResult Serve(const uint8_t* in, size_t size, bool input_full, Store& store, Sink& out) {
  NoLog log;
  return Serve(in, size, input_full, store, log, out);
}

}  // namespace testsvc::kernel::resp

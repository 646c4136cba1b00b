// A trace on disk is a directory (docs/trace-format.md, "Directory layout"):
//
//   DIR/header     the encoded TraceHeader
//   DIR/guest.elf  a copy of the guest image, so a replay boots exactly the recorded guest
//   DIR/log        chunks of entries, append-only
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "replay/chunk.h"
#include "replay/trace_header.h"
#include "vmm/result.h"
#include "vmm/unique_fd.h"

namespace ftvm::replay {

inline constexpr char kHeaderFileName[] = "header";
inline constexpr char kGuestImageFileName[] = "guest.elf";
inline constexpr char kLogFileName[] = "log";

struct TraceWriterOptions {
  // A chunk is written once it holds this many entries or this many payload bytes, whichever
  // comes first. Smaller chunks lose less to a crash, larger ones cost fewer write(2)s.
  uint32_t entries_per_chunk = 256;
  size_t chunk_payload_bytes = size_t{1} << 20;
  // Replace the trace files in a non-empty directory instead of refusing.
  bool overwrite = false;
};

// Records a trace. Writes go to the kernel with write(2) as chunks fill up; nothing is
// fsync'ed unless sync() is called, so a crash of the process loses nothing written, and a
// crash of the host can leave a torn tail, which TraceReader reports and skips.
class TraceWriter {
 public:
  // Creates `dir` (and its parents) and writes the header and guest image. Sets the header's
  // format_version and guest_image_xxh3. Refuses a directory that is not empty unless
  // `options.overwrite` is set, in which case it replaces only the trace's own files.
  static Result<TraceWriter> create(const std::filesystem::path& dir, TraceHeader header,
                                    std::span<const uint8_t> guest_image,
                                    const TraceWriterOptions& options = {});

  TraceWriter(TraceWriter&&) noexcept = default;
  // Deleted because assigning over a writer would drop its buffered entries unseen; hold the
  // writer in a std::optional (emplace) or a std::unique_ptr instead.
  TraceWriter& operator=(TraceWriter&&) = delete;
  // Flushes what close() was not called for; errors are lost then, so call close().
  ~TraceWriter();

  // Adds an entry; it gets LSN next_lsn(). Writes a chunk when one is full.
  Result<void> append(const TraceEntry& entry);
  // Writes the buffered entries as a chunk (even a short one) with write(2).
  Result<void> flush();
  // flush(), then makes everything written durable (fdatasync; the first call also fsyncs
  // the header, the guest image and the directory).
  Result<void> sync();
  // flush() and close the log. The writer accepts nothing after it.
  Result<void> close();

  uint64_t next_lsn() const { return chunk_.next_lsn(); }
  // Bytes written to the log so far (not counting buffered entries).
  uint64_t log_bytes() const { return log_bytes_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  TraceWriter(std::filesystem::path dir, UniqueFd log, const TraceWriterOptions& options)
      : dir_(std::move(dir)), log_(std::move(log)), options_(options) {}

  Result<void> check_usable() const;
  bool chunk_full() const;

  std::filesystem::path dir_;
  UniqueFd log_;
  TraceWriterOptions options_;
  ChunkBuilder chunk_;
  uint64_t log_bytes_ = 0;
  bool synced_once_ = false;
  // A failed write may have left part of a chunk in the log; anything appended after it
  // would be unreadable, so the writer stops at the first failure.
  std::optional<Error> failure_;
};

// A whole trace, read into memory and verified.
class TraceReader {
 public:
  // Reads and verifies DIR/header, DIR/guest.elf (against the header's hash) and DIR/log.
  // A torn last chunk is reported by torn_tail(); corruption anywhere else is an error.
  static Result<TraceReader> open(const std::filesystem::path& dir);

  // The same from bytes already in memory.
  static Result<TraceReader> from_bytes(std::span<const uint8_t> header_bytes,
                                        std::vector<uint8_t> guest_image,
                                        std::span<const uint8_t> log);

  const TraceHeader& header() const { return header_; }
  std::span<const uint8_t> guest_image() const { return guest_image_; }
  // entries()[i].lsn == i.
  std::span<const LoggedEntry> entries() const { return log_.entries; }
  std::span<const ChunkInfo> chunks() const { return log_.chunks; }
  // What a torn last chunk lost; std::nullopt if the log ends cleanly.
  const std::optional<std::string>& torn_tail() const { return log_.torn_tail; }
  uint64_t header_bytes() const { return header_bytes_; }
  uint64_t log_bytes() const { return log_bytes_; }

 private:
  TraceHeader header_;
  std::vector<uint8_t> guest_image_;
  ParsedLog log_;
  uint64_t header_bytes_ = 0;
  uint64_t log_bytes_ = 0;
};

}  // namespace ftvm::replay

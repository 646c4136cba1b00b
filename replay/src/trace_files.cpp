#include "replay/trace_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "file_io.h"

namespace ftvm::replay {
namespace {

namespace fs = std::filesystem;

// A chunk cut at `chunk_payload_bytes` may still take one maximal entry after that.
constexpr size_t kMaxChunkPayloadOption = kMaxChunkPayloadBytes - kMaxEntryBytes;

Result<void> check_options(const TraceWriterOptions& options) {
  if (options.entries_per_chunk == 0) {
    return make_error("trace writer: entries_per_chunk must be at least 1");
  }
  if (options.chunk_payload_bytes > kMaxChunkPayloadOption) {
    return make_error(
        fmt::format("trace writer: chunk_payload_bytes may be at most {}", kMaxChunkPayloadOption));
  }
  return {};
}

// The directory must be new or empty, unless the caller asked to overwrite.
Result<void> prepare_directory(const fs::path& dir, bool overwrite) {
  std::error_code error;
  const auto status = fs::status(dir, error);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) {
      return make_error(
          fmt::format("{} exists and is not a directory; a trace is a directory", dir.string()));
    }
    if (!overwrite && !fs::is_empty(dir, error)) {
      return make_error(fmt::format(
          "trace directory {} is not empty; refusing to overwrite it (choose a new directory, "
          "or ask to overwrite)",
          dir.string()));
    }
    if (error) {
      return make_error(fmt::format("cannot list {}: {}", dir.string(), error.message()));
    }
    return {};
  }
  if (!fs::create_directories(dir, error) && error) {
    return make_error(
        fmt::format("cannot create trace directory {}: {}", dir.string(), error.message()));
  }
  return {};
}

Result<UniqueFd> create_log(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    return make_error(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
  }
  return fd;
}

Error in_trace(const fs::path& dir, const Error& error) {
  return make_error(fmt::format("trace {}: {}", dir.string(), error.message));
}

}  // namespace

Result<TraceWriter> TraceWriter::create(const fs::path& dir, TraceHeader header,
                                        std::span<const uint8_t> guest_image,
                                        const TraceWriterOptions& options) {
  if (auto r = check_options(options); !r) return r.error();
  header.format_version = kTraceFormatVersion;
  header.guest_image_xxh3 = XXH3_64bits(guest_image.data(), guest_image.size());
  auto header_bytes = encode_trace_header(header);
  if (!header_bytes) return header_bytes.error();
  if (auto r = prepare_directory(dir, options.overwrite); !r) return r.error();

  // The log first: when overwriting, a reader must never pair the new header with the old log.
  auto log = create_log(dir / kLogFileName);
  if (!log) return log.error();
  if (auto r = replace_file(dir / kGuestImageFileName, guest_image); !r) return r.error();
  if (auto r = replace_file(dir / kHeaderFileName, *header_bytes); !r) return r.error();
  return TraceWriter(dir, std::move(*log), options);
}

TraceWriter::~TraceWriter() {
  if (log_.valid()) static_cast<void>(flush());
}

Result<void> TraceWriter::check_usable() const {
  if (failure_) {
    return make_error(
        fmt::format("trace {}: an earlier write failed: {}", dir_.string(), failure_->message));
  }
  if (!log_.valid()) return make_error(fmt::format("trace {} is closed", dir_.string()));
  return {};
}

bool TraceWriter::chunk_full() const {
  return chunk_.entry_count() >= options_.entries_per_chunk ||
         chunk_.payload_bytes() >= options_.chunk_payload_bytes;
}

Result<void> TraceWriter::append(const TraceEntry& entry) {
  if (auto r = check_usable(); !r) return r;
  if (auto r = chunk_.add(entry); !r) return in_trace(dir_, r.error());
  if (chunk_full()) return flush();
  return {};
}

Result<void> TraceWriter::flush() {
  if (auto r = check_usable(); !r) return r;
  if (chunk_.empty()) return {};
  const std::vector<uint8_t> chunk = chunk_.finish();
  if (auto r = write_all(log_.get(), chunk, dir_ / kLogFileName); !r) {
    failure_ = r.error();
    return r;
  }
  log_bytes_ += chunk.size();
  return {};
}

Result<void> TraceWriter::sync() {
  if (auto r = flush(); !r) return r;
  if (::fdatasync(log_.get()) != 0) {
    failure_ = make_error(fmt::format("cannot fdatasync {}: {}", (dir_ / kLogFileName).string(),
                                      std::strerror(errno)));
    return *failure_;
  }
  if (!synced_once_) {
    for (const fs::path& path : {dir_ / kHeaderFileName, dir_ / kGuestImageFileName, dir_}) {
      if (auto r = sync_path(path); !r) return r;
    }
    synced_once_ = true;
  }
  return {};
}

Result<void> TraceWriter::close() {
  auto flushed = flush();
  log_.reset();
  return flushed;
}

Result<TraceReader> TraceReader::from_bytes(std::span<const uint8_t> header_bytes,
                                            std::vector<uint8_t> guest_image,
                                            std::span<const uint8_t> log) {
  TraceReader reader;
  auto header = decode_trace_header(header_bytes);
  if (!header) return make_error(fmt::format("header: {}", header.error().message));
  reader.header_ = std::move(*header);
  reader.header_bytes_ = header_bytes.size();

  const uint64_t image_hash = XXH3_64bits(guest_image.data(), guest_image.size());
  if (image_hash != reader.header_.guest_image_xxh3) {
    return make_error(fmt::format(
        "{} does not match the header (its xxh3 is {:#018x}, the header says {:#018x}): the "
        "guest image was replaced or damaged after recording",
        kGuestImageFileName, image_hash, reader.header_.guest_image_xxh3));
  }
  reader.guest_image_ = std::move(guest_image);

  auto parsed = parse_log(log);
  if (!parsed) return make_error(fmt::format("log: {}", parsed.error().message));
  reader.log_ = std::move(*parsed);
  reader.log_bytes_ = log.size();
  return reader;
}

Result<TraceReader> TraceReader::open(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    return make_error(
        fmt::format("{} is not a trace directory (it does not exist, or is not a "
                    "directory)",
                    dir.string()));
  }
  auto header = read_whole_file(dir / kHeaderFileName);
  if (!header) return in_trace(dir, header.error());
  auto image = read_whole_file(dir / kGuestImageFileName);
  if (!image) return in_trace(dir, image.error());
  auto log = read_whole_file(dir / kLogFileName);
  if (!log) return in_trace(dir, log.error());
  auto reader = from_bytes(*header, std::move(*image), *log);
  if (!reader) return in_trace(dir, reader.error());
  return reader;
}

}  // namespace ftvm::replay

#include "replay/trace_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <fstream>

#include "test_support.h"

namespace ftvm::replay {
namespace {

namespace fs = std::filesystem;
using testing::entries_of;
using ::testing::HasSubstr;
using testing::mixed_entries;
using testing::sync_at;

class TraceFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "ftvm-trace-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ / "trace";
  }
  void TearDown() override { fs::remove_all(root_); }

  static TraceHeader header() {
    TraceHeader header;
    header.guest_name = "testsvc";
    header.mem_bytes = 64 << 20;
    header.cpuid = {{0, 0, 0, 0xd, 1, 2, 3}};
    header.max_delay_ns = 1'000'000;
    header.async_mode = "breakpoint";
    header.created_unix_ns = 1'700'000'000'000'000'000;
    return header;
  }

  static std::vector<uint8_t> image() {
    return testing::bytes_of(
        "\x7f"
        "ELF a guest image");
  }

  TraceWriter create(const TraceWriterOptions& options = {}) {
    auto writer = TraceWriter::create(dir_, header(), image(), options);
    EXPECT_TRUE(writer.ok()) << writer.error().message;
    return std::move(*writer);
  }

  void write_trace(const std::vector<TraceEntry>& entries, uint32_t per_chunk = 16) {
    TraceWriter writer = create({.entries_per_chunk = per_chunk});
    for (const auto& entry : entries) ASSERT_TRUE(writer.append(entry).ok());
    ASSERT_TRUE(writer.close().ok());
  }

  static void overwrite_file(const fs::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }

  static std::vector<uint8_t> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  std::string open_error() {
    auto reader = TraceReader::open(dir_);
    return reader.ok() ? "no error" : reader.error().message;
  }

  fs::path root_;
  fs::path dir_;
};

TEST_F(TraceFilesTest, WritesAndReadsATrace) {
  const auto entries = mixed_entries(1000);
  write_trace(entries, 64);

  EXPECT_TRUE(fs::exists(dir_ / "header"));
  EXPECT_TRUE(fs::exists(dir_ / "guest.elf"));
  EXPECT_TRUE(fs::exists(dir_ / "log"));
  auto reader = TraceReader::open(dir_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(entries_of(reader->entries()), entries);
  for (size_t i = 0; i < reader->entries().size(); ++i) EXPECT_EQ(reader->entries()[i].lsn, i);
  EXPECT_EQ(reader->chunks().size(), (entries.size() + 63) / 64);
  EXPECT_FALSE(reader->torn_tail());

  TraceHeader expected = header();
  const auto guest = image();
  expected.guest_image_xxh3 = XXH3_64bits(guest.data(), guest.size());
  EXPECT_EQ(reader->header(), expected);
  EXPECT_TRUE(std::ranges::equal(reader->guest_image(), guest));
  EXPECT_EQ(reader->log_bytes(), fs::file_size(dir_ / "log"));
}

TEST_F(TraceFilesTest, FlushWritesAShortChunkThatReadersSee) {
  TraceWriter writer = create();
  ASSERT_TRUE(writer.append(TimerEntry{sync_at(5), 1}).ok());
  EXPECT_EQ(writer.log_bytes(), 0u);
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(writer.log_bytes(), fs::file_size(dir_ / "log"));
  ASSERT_TRUE(writer.append(TimerEntry{sync_at(9), 1}).ok());
  ASSERT_TRUE(writer.sync().ok());
  EXPECT_EQ(writer.next_lsn(), 2u);

  auto reader = TraceReader::open(dir_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(reader->entries().size(), 2u);
  EXPECT_EQ(reader->chunks().size(), 2u);
}

TEST_F(TraceFilesTest, CutsChunksByEntryCountAndPayloadSize) {
  {
    TraceWriter writer = create({.entries_per_chunk = 4});
    for (uint64_t e = 0; e < 10; ++e) ASSERT_TRUE(writer.append(TimerEntry{sync_at(e), 0}).ok());
    EXPECT_EQ(writer.log_bytes(), fs::file_size(dir_ / "log"));
    EXPECT_GT(writer.log_bytes(), 0u);
  }  // the destructor flushes the last two
  auto reader = TraceReader::open(dir_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(reader->chunks().size(), 3u);
  EXPECT_EQ(reader->entries().size(), 10u);

  TraceWriter writer = create({.chunk_payload_bytes = 1000, .overwrite = true});
  const ConsoleInputEntry big{sync_at(1), std::vector<uint8_t>(600, 'x')};
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer.append(big).ok());
  ASSERT_TRUE(writer.close().ok());
  reader = TraceReader::open(dir_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(reader->chunks().size(), 2u);
}

TEST_F(TraceFilesTest, RefusesToOverwriteATrace) {
  write_trace(mixed_entries(10));
  auto again = TraceWriter::create(dir_, header(), image());
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.error().message, HasSubstr("is not empty; refusing to overwrite"));
  EXPECT_EQ(TraceReader::open(dir_)->entries().size(), 11u);  // untouched
}

TEST_F(TraceFilesTest, OverwritesWhenAsked) {
  write_trace(mixed_entries(10));
  TraceWriter writer = create({.overwrite = true});
  ASSERT_TRUE(writer.append(TimerEntry{sync_at(1), 1}).ok());
  ASSERT_TRUE(writer.close().ok());
  auto reader = TraceReader::open(dir_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(reader->entries().size(), 1u);
}

TEST_F(TraceFilesTest, UsesAnExistingEmptyDirectory) {
  fs::create_directories(dir_);
  write_trace(mixed_entries(3));
  EXPECT_TRUE(TraceReader::open(dir_).ok());
}

TEST_F(TraceFilesTest, RefusesAFileAsTheDirectory) {
  overwrite_file(root_ / "file", {1});
  auto writer = TraceWriter::create(root_ / "file", header(), image());
  ASSERT_FALSE(writer.ok());
  EXPECT_THAT(writer.error().message, HasSubstr("is not a directory"));
}

TEST_F(TraceFilesTest, DetectsAReplacedGuestImage) {
  write_trace(mixed_entries(10));
  overwrite_file(dir_ / "guest.elf", testing::bytes_of("another guest"));
  EXPECT_THAT(open_error(), HasSubstr("guest.elf does not match the header"));
}

TEST_F(TraceFilesTest, ReadsUpToATornTail) {
  const auto entries = mixed_entries(40);
  write_trace(entries, 16);
  fs::resize_file(dir_ / "log", fs::file_size(dir_ / "log") - 5);
  auto reader = TraceReader::open(dir_);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(entries_of(reader->entries()),
            std::vector<TraceEntry>(entries.begin(), entries.begin() + 32));
  ASSERT_TRUE(reader->torn_tail());
  EXPECT_THAT(*reader->torn_tail(), HasSubstr("LSN 32"));
}

TEST_F(TraceFilesTest, FailsOnCorruptionInTheMiddle) {
  write_trace(mixed_entries(40), 16);
  auto log = read_file(dir_ / "log");
  log[100] ^= 0x04;
  overwrite_file(dir_ / "log", log);
  const std::string error = open_error();
  EXPECT_THAT(error, HasSubstr(fmt::format("trace {}: log: corrupt chunk at byte offset 0",
                                           dir_.string())));
}

TEST_F(TraceFilesTest, FailsOnAHeaderFromANewerFormat) {
  write_trace(mixed_entries(3));
  TraceHeader newer = header();
  newer.format_version = kTraceFormatVersion + 1;
  overwrite_file(dir_ / "header", *encode_trace_header(newer));
  EXPECT_THAT(open_error(),
              HasSubstr(fmt::format("header: trace format version {} is not supported by this ftvm",
                                    kTraceFormatVersion + 1)));
}

TEST_F(TraceFilesTest, NamesWhatIsMissing) {
  EXPECT_THAT(open_error(), HasSubstr("is not a trace directory"));
  write_trace(mixed_entries(3));
  fs::remove(dir_ / "log");
  EXPECT_THAT(open_error(), HasSubstr("cannot open " + (dir_ / "log").string()));
}

TEST_F(TraceFilesTest, AcceptsNothingAfterClose) {
  TraceWriter writer = create();
  ASSERT_TRUE(writer.close().ok());
  auto appended = writer.append(TimerEntry{});
  ASSERT_FALSE(appended.ok());
  EXPECT_THAT(appended.error().message, HasSubstr("is closed"));
}

TEST_F(TraceFilesTest, RejectsAnEntryTooLargeToEncode) {
  TraceWriter writer = create();
  auto appended = writer.append(EndEntry{0, 0, 0, std::string(5000, 'r')});
  ASSERT_FALSE(appended.ok());
  EXPECT_THAT(appended.error().message, HasSubstr("at most 4096"));
  EXPECT_TRUE(writer.append(EndEntry{0, 0, 0, "fine"}).ok());  // the writer still works
}

}  // namespace
}  // namespace ftvm::replay

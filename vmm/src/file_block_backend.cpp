#include "vmm/file_block_backend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <liburing.h>
#include <linux/falloc.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_set>

#include "vmm/thread_signals.h"

namespace ftvm {
namespace {

constexpr unsigned kRingEntries = 256;

// One request on the ring; its address is the completion's user_data.
struct Pending {
  BlockRequest request;
  std::vector<uint8_t> buffer;  // the read's data
  uint64_t done = 0;
  bool punch = false;  // a write-zeroes falling back to a punched hole
};

}  // namespace

struct FileBlockBackend::Ring {
  io_uring ring{};
  bool ready = false;
  ~Ring() {
    if (ready) io_uring_queue_exit(&ring);
  }
};

namespace {

// Opens the image into `file` and returns its size, checked to be whole sectors.
Result<uint64_t> open_image(const std::string& path, bool read_only, UniqueFd& file) {
  file = UniqueFd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!file.valid()) {
    return make_error(fmt::format("cannot open disk image {}: {}", path, std::strerror(errno)));
  }
  const off_t size = ::lseek(file.get(), 0, SEEK_END);
  if (size < 0) {
    return make_error(fmt::format("cannot size disk image {}: {}", path, std::strerror(errno)));
  }
  if (size == 0 || size % 512 != 0) {
    return make_error(fmt::format(
        "disk image {} is {} bytes, not a positive multiple of 512 (the sector size)", path, size));
  }
  return static_cast<uint64_t>(size);
}

}  // namespace

Result<std::unique_ptr<FileBlockBackend>> FileBlockBackend::open(const std::string& path,
                                                                 bool read_only,
                                                                 EventQueue& events) {
  UniqueFd file;
  auto size = open_image(path, read_only, file);
  if (!size) return size.error();
  auto ring = std::make_unique<Ring>();
  if (int r = io_uring_queue_init(kRingEntries, &ring->ring, 0); r < 0) {
    return make_error(
        fmt::format("cannot set up io_uring for disk image {}: {}", path, std::strerror(-r)));
  }
  ring->ready = true;
  return std::unique_ptr<FileBlockBackend>(
      new FileBlockBackend(std::move(file), *size, events, std::move(ring)));
}

Result<uint64_t> FileBlockBackend::check(const std::string& path, bool read_only) {
  UniqueFd file;
  return open_image(path, read_only, file);
}

FileBlockBackend::FileBlockBackend(UniqueFd file, uint64_t size, EventQueue& events,
                                   std::unique_ptr<Ring> ring)
    : file_(std::move(file)),
      size_(size),
      events_(events),
      ring_(std::move(ring)),
      wake_(::eventfd(0, EFD_CLOEXEC)) {
  thread_ = std::thread([this] {
    block_all_signals_in_this_thread();
    loop();
  });
}

FileBlockBackend::~FileBlockBackend() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
}

void FileBlockBackend::submit(BlockRequest request) {
  {
    std::lock_guard lock(mutex_);
    queued_.push_back(std::move(request));
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void FileBlockBackend::loop() {
  io_uring* ring = &ring_->ring;
  std::unordered_set<Pending*> in_flight;
  uint64_t wake_value = 0;
  bool wake_posted = false;
  bool stopping = false;

  auto post = [&](Pending* p) {
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    if (sqe == nullptr) {
      io_uring_submit(ring);
      sqe = io_uring_get_sqe(ring);
    }
    const BlockRequest& r = p->request;
    const uint64_t offset = r.offset + p->done;
    const unsigned left = static_cast<unsigned>(r.length - p->done);
    switch (r.op) {
      case BlockOp::kRead:
        io_uring_prep_read(sqe, file_.get(), p->buffer.data() + p->done, left, offset);
        break;
      case BlockOp::kWrite:
        io_uring_prep_write(sqe, file_.get(), r.data.data() + p->done, left, offset);
        break;
      case BlockOp::kFlush:
        io_uring_prep_fsync(sqe, file_.get(), IORING_FSYNC_DATASYNC);
        break;
      case BlockOp::kDiscard:
        io_uring_prep_fallocate(sqe, file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                r.offset, r.length);
        break;
      case BlockOp::kWriteZeroes:
        // Zeroed in place; where the file system cannot, a punched hole reads as zeroes too.
        io_uring_prep_fallocate(
            sqe, file_.get(),
            (p->punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE,
            r.offset, r.length);
        break;
    }
    io_uring_sqe_set_data(sqe, p);
  };
  auto complete = [&](Pending* p, BlockStatus status) {
    in_flight.erase(p);
    std::unique_ptr<Pending> owned(p);
    events_.push(BlockCompletion{
        p->request.id, status,
        status == BlockStatus::kOk ? std::move(p->buffer) : std::vector<uint8_t>{}});
  };

  for (;;) {
    if (!wake_posted && !stopping) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      io_uring_prep_read(sqe, wake_.get(), &wake_value, sizeof wake_value, 0);
      io_uring_sqe_set_data(sqe, nullptr);
      wake_posted = true;
    }
    if (stopping && in_flight.empty()) return;
    io_uring_submit_and_wait(ring, 1);
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(ring, &cqe) == 0) {
      auto* p = static_cast<Pending*>(io_uring_cqe_get_data(cqe));
      int result = cqe->res;
      io_uring_cqe_seen(ring, cqe);
      if (p == nullptr) {  // woken: take what was queued
        wake_posted = false;
        std::deque<BlockRequest> taken;
        {
          std::lock_guard lock(mutex_);
          taken.swap(queued_);
          stopping = stopping_;
        }
        for (auto& request : taken) {
          auto pending = std::make_unique<Pending>();
          if (request.op == BlockOp::kRead) pending->buffer.resize(request.length);
          pending->request = std::move(request);
          Pending* raw = pending.release();
          in_flight.insert(raw);
          post(raw);
        }
        continue;
      }
      const bool unsupported = result == -EOPNOTSUPP || result == -EINVAL;
      if (unsupported && p->request.op == BlockOp::kDiscard) result = 0;  // a discard is advice
      if (unsupported && p->request.op == BlockOp::kWriteZeroes && !p->punch) {
        p->punch = true;
        post(p);
        continue;
      }
      if (result < 0) {
        complete(p, BlockStatus::kIoError);
        continue;
      }
      const bool transfer = p->request.op == BlockOp::kRead || p->request.op == BlockOp::kWrite;
      if (transfer && result == 0) {  // the file ended early: it shrank under us
        complete(p, BlockStatus::kIoError);
        continue;
      }
      if (transfer) p->done += static_cast<uint64_t>(result);
      if (transfer && p->done < p->request.length) {
        post(p);  // a short transfer: the rest
        continue;
      }
      complete(p, BlockStatus::kOk);
    }
  }
}

}  // namespace ftvm

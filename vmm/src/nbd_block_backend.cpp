#include "vmm/nbd_block_backend.h"

#include <fmt/format.h>
#include <libnbd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "vmm/thread_signals.h"

namespace ftvm {
namespace {

// One command on the connection, owned by libnbd from issue to its completion callback.
struct Command {
  BlockRequest request;
  std::vector<uint8_t> buffer;  // the read's data
  EventQueue* events;
  size_t* in_flight;
};

int command_done(void* user_data, int* error) {
  auto* command = static_cast<Command*>(user_data);
  const bool ok = *error == 0;
  command->events->push(BlockCompletion{command->request.id,
                                        ok ? BlockStatus::kOk : BlockStatus::kIoError,
                                        ok ? std::move(command->buffer) : std::vector<uint8_t>{}});
  --*command->in_flight;
  return 1;  // retire the command: nobody asks for it by cookie
}

void free_command(void* user_data) {
  delete static_cast<Command*>(user_data);
}

std::string nbd_message() {
  const char* message = nbd_get_error();
  return message != nullptr ? message : "unknown libnbd error";
}

}  // namespace

Result<std::unique_ptr<NbdBlockBackend>> NbdBlockBackend::connect(const std::string& uri,
                                                                  EventQueue& events) {
  nbd_handle* handle = nbd_create();
  if (handle == nullptr) return make_error("cannot create an NBD handle: " + nbd_message());
  auto fail = [&](const std::string& what) {
    Error error = make_error(fmt::format("{} {}: {}", what, uri, nbd_message()));
    nbd_close(handle);
    return error;
  };
  if (nbd_connect_uri(handle, uri.c_str()) == -1) return fail("cannot connect to the disk at");
  const int64_t size = nbd_get_size(handle);
  if (size < 0) return fail("cannot size the disk at");
  if (size == 0 || size % 512 != 0) {
    nbd_close(handle);
    return make_error(fmt::format(
        "the disk at {} is {} bytes, not a positive multiple of 512 (the sector size)", uri, size));
  }
  const bool read_only = nbd_is_read_only(handle) == 1;
  return std::unique_ptr<NbdBlockBackend>(
      new NbdBlockBackend(handle, static_cast<uint64_t>(size), read_only, events));
}

NbdBlockBackend::NbdBlockBackend(nbd_handle* handle, uint64_t size, bool read_only,
                                 EventQueue& events)
    : handle_(handle),
      size_(size),
      read_only_(read_only),
      events_(events),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  thread_ = std::thread([this] {
    block_all_signals_in_this_thread();
    loop();
  });
}

NbdBlockBackend::~NbdBlockBackend() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
  thread_.join();
  nbd_shutdown(handle_, 0);
  nbd_close(handle_);
}

void NbdBlockBackend::submit(BlockRequest request) {
  {
    std::lock_guard lock(mutex_);
    queued_.push_back(std::move(request));
  }
  const uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
}

void NbdBlockBackend::issue(BlockRequest request) {
  auto* command = new Command{std::move(request), {}, &events_, &in_flight_};
  const BlockRequest& r = command->request;
  const uint64_t id = r.id;  // libnbd frees the command if it refuses it
  const nbd_completion_callback done{command_done, command, free_command};
  int64_t cookie = -1;
  switch (r.op) {
    case BlockOp::kRead:
      command->buffer.resize(r.length);
      cookie = nbd_aio_pread(handle_, command->buffer.data(), r.length, r.offset, done, 0);
      break;
    case BlockOp::kWrite:
      cookie = nbd_aio_pwrite(handle_, r.data.data(), r.data.size(), r.offset, done, 0);
      break;
    case BlockOp::kFlush:
      cookie = nbd_aio_flush(handle_, done, 0);
      break;
    case BlockOp::kDiscard:
      cookie = nbd_aio_trim(handle_, r.length, r.offset, done, 0);
      break;
    case BlockOp::kWriteZeroes:
      cookie = nbd_aio_zero(handle_, r.length, r.offset, done, 0);
      break;
  }
  if (cookie == -1) {
    // Not issued (the connection is dead): libnbd has freed the command already (it calls the
    // free function when an API call fails too), and the guest is told here.
    events_.push(BlockCompletion{id, BlockStatus::kIoError, {}});
    return;
  }
  ++in_flight_;
}

void NbdBlockBackend::loop() {
  for (;;) {
    std::deque<BlockRequest> taken;
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      taken.swap(queued_);
      stopping = stopping_;
    }
    for (auto& request : taken) issue(std::move(request));
    if (stopping && in_flight_ == 0) return;
    const bool dead = nbd_aio_is_dead(handle_) == 1 || nbd_aio_is_closed(handle_) == 1;
    const unsigned direction = dead ? 0 : nbd_aio_get_direction(handle_);
    std::array<pollfd, 2> fds{
        {{dead ? -1 : nbd_aio_get_fd(handle_),
          static_cast<short>(((direction & LIBNBD_AIO_DIRECTION_READ) ? POLLIN : 0) |
                             ((direction & LIBNBD_AIO_DIRECTION_WRITE) ? POLLOUT : 0)),
          0},
         {wake_.get(), POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_.get(), &count, sizeof count);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      nbd_aio_notify_read(handle_);
    } else if (fds[0].revents & POLLOUT) {
      nbd_aio_notify_write(handle_);
    }
  }
}

}  // namespace ftvm

#include "vmm/tap_backend.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "vmm/thread_signals.h"

namespace ftvm {

Result<std::unique_ptr<TapBackend>> TapBackend::open(const std::string& name, EventQueue& events,
                                                     Mode mode) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return make_error(fmt::format("TAP name '{}' must be 1 to {} characters", name, IFNAMSIZ - 1));
  }
  UniqueFd tap(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!tap.valid()) {
    return make_error(
        fmt::format("cannot open /dev/net/tun for TAP {}: {}", name, std::strerror(errno)));
  }
  ifreq request{};
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::memcpy(request.ifr_name, name.c_str(), name.size());
  if (::ioctl(tap.get(), TUNSETIFF, &request) < 0) {
    const int error = errno;
    return make_error(fmt::format("cannot attach to TAP {}: {}{}", name, std::strerror(error),
                                  error == EBUSY   ? " (another process holds it)"
                                  : error == EPERM ? " (create it first, e.g. `ip tuntap add " +
                                                         name + " mode tap`, or run as root)"
                                                   : ""));
  }
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return make_error(fmt::format("eventfd(): {}", std::strerror(errno)));
  return std::unique_ptr<TapBackend>(
      new TapBackend(name, std::move(tap), std::move(stop), events, mode));
}

TapBackend::TapBackend(std::string name, UniqueFd tap, UniqueFd stop, EventQueue& events, Mode mode)
    : name_(std::move(name)),
      tap_(std::move(tap)),
      stop_(std::move(stop)),
      events_(events),
      live_(mode == Mode::kLive) {
  thread_ = std::thread([this] {
    block_all_signals_in_this_thread();
    read_frames();
  });
}

TapBackend::~TapBackend() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_.get(), &one, sizeof one);
  thread_.join();
}

void TapBackend::read_frames() {
  // Larger than any frame, so an oversize one (jumbo, GSO) is seen whole and dropped, not cut.
  std::vector<uint8_t> buffer(65536);
  for (;;) {
    pollfd fds[2] = {{tap_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    for (;;) {
      const ssize_t n = ::read(tap_.get(), buffer.data(), buffer.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (static_cast<size_t>(n) > kMaxEthernetFrameBytes || !live_.load()) {
        dropped_.fetch_add(1);
        continue;
      }
      received_.fetch_add(1);
      events_.push(NetFrame{std::vector<uint8_t>(buffer.begin(), buffer.begin() + n)});
    }
  }
}

void TapBackend::transmit(std::vector<uint8_t> frame) {
  if (!live_.load()) {
    dropped_.fetch_add(1);
    return;
  }
  for (;;) {
    const ssize_t n = ::write(tap_.get(), frame.data(), frame.size());
    if (n < 0 && errno == EINTR) continue;
    if (n == static_cast<ssize_t>(frame.size())) {
      sent_.fetch_add(1);
    } else {
      dropped_.fetch_add(1);
    }
    return;
  }
}

namespace {

// A RARP request (RFC 903) from `mac` about itself: any switch on the way learns the port.
std::vector<uint8_t> rarp_announcement(const std::array<uint8_t, 6>& mac) {
  std::vector<uint8_t> frame(60, 0);  // the minimum Ethernet payload, zero-padded
  std::fill(frame.begin(), frame.begin() + 6, 0xff);
  std::copy(mac.begin(), mac.end(), frame.begin() + 6);
  const uint8_t rest[] = {0x80, 0x35,               // EtherType: RARP
                          0x00, 0x01,               // hardware: Ethernet
                          0x08, 0x00,               // protocol: IPv4
                          6,    4,    0x00, 0x03};  // sizes; opcode 3: reverse request
  std::copy(std::begin(rest), std::end(rest), frame.begin() + 12);
  std::copy(mac.begin(), mac.end(), frame.begin() + 22);  // sender hardware address
  std::copy(mac.begin(), mac.end(), frame.begin() + 32);  // target hardware address
  return frame;
}

}  // namespace

void TapBackend::go_live(const std::array<uint8_t, 6>& mac) {
  live_.store(true);
  // Three, so one lost on a busy link does not leave the switch pointing at the old port.
  for (int i = 0; i < 3; ++i) transmit(rarp_announcement(mac));
}

}  // namespace ftvm

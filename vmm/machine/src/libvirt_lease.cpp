#include "machine/libvirt_lease.h"

#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <regex>

#include "vmm/devices/virtio_net.h"

namespace ftvm {
namespace {

// libvirt may take a while (a network's firewall rules, a remote URI); a helper silent for this
// long is stuck.
constexpr std::chrono::seconds kReplyTimeout{30};
constexpr std::chrono::seconds kReleaseTimeout{10};

// Next to the ftvm binary, or where FTVM_LIBVIRT_HELPER says.
std::string helper_path() {
  if (const char* path = std::getenv("FTVM_LIBVIRT_HELPER")) return path;
  std::error_code error;
  std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) self = "ftvm";
  return self.replace_filename("ftvm-libvirt").string();
}

// One line from `fd` within `timeout`; an error at the end of input.
Result<std::string> read_line(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return make_error("the libvirt helper did not answer in time");
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error("the libvirt helper ended without an answer");
    if (c == '\n') return line;
    line += c;
  }
}

}  // namespace

Result<std::unique_ptr<LibvirtPortLease>> LibvirtPortLease::reserve(
    const std::string& spec, const std::array<uint8_t, 6>& mac, const std::string& owner) {
  auto helper = ChildProcess::spawn(
      "libvirt helper",
      {helper_path(), "port", "--spec", spec, "--mac", format_mac(mac), "--owner", owner},
      ChildOptions{true, true, {}});
  if (!helper) return helper.error();
  std::unique_ptr<LibvirtPortLease> lease(new LibvirtPortLease(std::move(*helper)));
  auto reply = lease->read_reply();
  if (!reply) return reply.error();
  static const std::regex kPort(R"(port (\S+) bridge (\S+) tap (\S+))");
  std::smatch match;
  if (!std::regex_match(*reply, match, kPort)) {
    return make_error("the libvirt helper answered: " + *reply);
  }
  lease->bridge_ = match[2].str();
  lease->tap_ = match[3].str();
  return lease;
}

LibvirtPortLease::~LibvirtPortLease() {
  helper_.close_stdin();
  helper_.wait_exit(kReleaseTimeout);
}

Result<std::string> LibvirtPortLease::read_reply() {
  auto line = read_line(helper_.stdout_fd(), kReplyTimeout);
  if (!line) {
    const auto status = helper_.wait_exit(std::chrono::milliseconds(100));
    return make_error(fmt::format("{} ({} at {}{})", line.error().message, "ftvm-libvirt",
                                  helper_path(), status ? ", " + describe_exit(*status) : ""));
  }
  if (line->starts_with("error ")) return make_error(line->substr(6));
  return *line;
}

Result<void> LibvirtPortLease::bind_filter(const std::string& tap) {
  const std::string command = "bind " + tap + "\n";
  if (::write(helper_.stdin_fd(), command.data(), command.size()) !=
      static_cast<ssize_t>(command.size())) {
    return make_error(fmt::format("cannot reach the libvirt helper: {}", std::strerror(errno)));
  }
  auto reply = read_reply();
  if (!reply) return reply.error();
  if (*reply != "ok") return make_error("the libvirt helper answered: " + *reply);
  return {};
}

Result<std::string> libvirt_volume_path_via_helper(const std::string& volume,
                                                   const std::string& uri) {
  auto helper =
      ChildProcess::spawn("libvirt helper", {helper_path(), "volume-path", volume, "--uri", uri},
                          ChildOptions{false, true, {}});
  if (!helper) return helper.error();
  auto line = read_line(helper->stdout_fd(), kReplyTimeout);
  helper->wait_exit(kReplyTimeout);
  if (!line) return line.error();
  if (line->starts_with("error ")) return make_error(line->substr(6));
  return *line;
}

}  // namespace ftvm

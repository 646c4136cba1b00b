// ftvm-libvirt: the libvirt side of `--net libvirt:` and `--disk libvirt:`, in a process of its
// own. libvirt needs GLib, and the software CPU's Unicorn exports GLib functions of its own
// build (g_hash_table_*, g_free, ...): in one process libvirt calls Unicorn's and fails
// ("Exceeded max iface limit 1024" from the test driver). Apart, each has its own.
//
//   ftvm-libvirt port --spec NETWORK[,filter=NAME][,uri=URI] --mac MAC --owner NAME
//     reserves the port and prints "port UUID bridge BRIDGE tap TAP"; then reads commands on
//     stdin: "bind TAP" binds the spec's filter to TAP and answers "ok" (or "error ...").
//     End of input, SIGTERM, SIGINT or SIGHUP release the binding and the port: the VM's
//     process ending any way at all (SIGKILL included) closes that input.
//   ftvm-libvirt volume-path POOL/VOLUME [--uri URI]
//     prints the volume's path.
// Failures print "error MESSAGE" instead, and exit 1.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>

#include "vmm/devices/virtio_net.h"
#include "vmm/libvirt_network.h"

namespace {

volatile sig_atomic_t g_stop = 0;

void on_stop_signal(int) {
  g_stop = 1;
}

// Without SA_RESTART, so that a read waiting for the next command returns.
void catch_stop_signals() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigset_t stops;
  sigemptyset(&stops);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP}) {
    sigaction(signal_number, &action, nullptr);
    sigaddset(&stops, signal_number);
  }
  // ftvm blocks these in every thread, and exec keeps the mask.
  sigprocmask(SIG_UNBLOCK, &stops, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

// One line from stdin without stdio's buffering (a signal must end the wait); nullopt at the
// end of input or on a stop signal.
std::optional<std::string> read_command() {
  std::string line;
  char c = 0;
  while (!g_stop) {
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n == 1) {
      if (c == '\n') return line;
      line += c;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return std::nullopt;
  }
  return std::nullopt;
}

void reply(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

int hold_port(const std::string& spec_text, const std::string& mac_text, const std::string& owner) {
  catch_stop_signals();
  auto spec = ftvm::parse_libvirt_net_spec(spec_text);
  if (!spec) {
    reply("error " + spec.error().message);
    return 1;
  }
  auto mac = ftvm::parse_mac(mac_text);
  if (!mac) {
    reply("error --mac: " + mac.error().message);
    return 1;
  }
  auto port = ftvm::LibvirtPort::reserve(*spec, *mac, owner);
  if (!port) {
    reply("error " + port.error().message);
    return 1;
  }
  reply(fmt::format("port {} bridge {} tap {}", (*port)->uuid(), (*port)->bridge(),
                    (*port)->tap_name()));
  while (auto command = read_command()) {
    if (command->starts_with("bind ")) {
      auto bound = (*port)->bind_filter(command->substr(5));
      reply(bound ? "ok" : "error " + bound.error().message);
    } else {
      reply("error unknown command: " + *command);
    }
  }
  return 0;  // the port goes back as it is destroyed
}

int volume_path(const std::string& volume, const std::string& uri) {
  auto path = ftvm::libvirt_volume_path(volume, uri);
  reply(path ? *path : "error " + path.error().message);
  return path ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ftvm's libvirt helper: a network port or a volume's path, for ftvm --net "
      "libvirt:... and --disk libvirt:..."};
  app.require_subcommand(1);
  std::string spec, mac, owner, volume, uri = "qemu:///system";
  auto* port = app.add_subcommand("port", "Reserve a port on a libvirt network and hold it");
  port->add_option("--spec", spec, "NETWORK[,filter=NAME][,uri=URI]")->required();
  port->add_option("--mac", mac, "The card's MAC address")->required();
  port->add_option("--owner", owner, "The VM that owns the port")->required();
  auto* path = app.add_subcommand("volume-path", "Print the path of a storage volume");
  path->add_option("volume", volume, "POOL/VOLUME")->required();
  path->add_option("--uri", uri, "The libvirt daemon")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (port->parsed()) return hold_port(spec, mac, owner);
  return volume_path(volume, uri);
}

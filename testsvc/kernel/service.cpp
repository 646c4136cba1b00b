// Commands and their replies (one reply line each, "> " = abi::kReplyPrefix):
//   help              > commands: help stats digest echo <text> compute [on|off]
//                       disk [on|off|verify|burst N] net shutdown   (one line)
//   stats             > stats ticks=<n> progress=<n> journal=<n> switches=<n> uptime_s=<n> rx=<n>
//   digest            > digest=<16 hex> journal=<n>
//   echo <text>       > <text>
//   compute off       > compute off  (the compute thread is no longer scheduled)
//   compute on        > compute on   (it is again, starting a fresh burst)
//   compute           > compute on|off  (the current state)
//   compute <other>   > unknown argument: <other> (usage: compute [on|off])
//   disk [on|off|verify|burst N]  the disk workload (disk.h)
//   net               > net mac=<MAC> ip=<IPv4> rx=<n> tx=<n> dropped=<n> tcp=<n>, or
//                       > net none (net.h)
//   shutdown          > bye          (then the VM stops with status 0)
//   <other>           > unknown command: <other>
// Empty lines get no reply. A line longer than kMaxCommandBytes is cut there and first
// answered with "> line too long, truncated to <n> bytes".

#include "kernel/service.h"

#include "kernel/command.h"
#include "kernel/compute.h"
#include "kernel/config.h"
#include "kernel/console.h"
#include "kernel/disk.h"
#include "kernel/journal.h"
#include "kernel/line_editor.h"
#include "kernel/net.h"
#include "kernel/net_packet.h"
#include "kernel/pit.h"
#include "kernel/sched.h"
#include "kernel/shutdown.h"
#include "kernel/store_log.h"
#include "kernel/uart.h"
#include "testsvc/abi.h"

namespace testsvc::kernel::service {
namespace {

constinit LineEditor<kMaxCommandBytes> g_editor;

console::Line Reply() {
  console::Line line;
  line.Append(abi::kReplyPrefix);
  return line;
}

// "net mac=02:46:54:56:4d:01 ip=10.78.0.2 rx=<n> tx=<n> dropped=<n> tcp=<n>", or "net none".
void AppendNet(console::Line& line) {
  if (!net::Present()) {
    line.Append("net none");
    return;
  }
  line.Append("net mac=");
  const uint8_t* mac = net::Mac();
  for (size_t i = 0; i < net::kMacBytes; ++i) {
    if (i != 0) line.AppendChar(':');
    line.AppendHex(mac[i], 2);
  }
  line.Append(" ip=");
  for (size_t i = 0; i < net::kIpv4AddressBytes; ++i) {
    if (i != 0) line.AppendChar('.');
    line.AppendDecimal(abi::kGuestIpv4[i]);
  }
  const net::Counters counters = net::Stats();
  line.Append(" rx=").AppendDecimal(counters.received);
  line.Append(" tx=").AppendDecimal(counters.sent);
  line.Append(" dropped=").AppendDecimal(counters.dropped);
  line.Append(" tcp=").AppendDecimal(counters.tcp_connections);
}

void Execute(const Command& command) {
  console::Line line = Reply();
  switch (command.kind) {
    case CommandKind::kEmpty:
      return;
    case CommandKind::kHelp:
      line.Append(
          "commands: help stats digest echo <text> compute [on|off] disk [on|off|verify|burst N] "
          "net shutdown");
      break;
    case CommandKind::kStats: {
      const uint64_t ticks = pit::Ticks();
      line.Append("stats ticks=").AppendDecimal(ticks);
      line.Append(" progress=").AppendDecimal(compute::Progress());
      line.Append(" journal=").AppendDecimal(journal::Count());
      line.Append(" switches=").AppendDecimal(sched::ContextSwitches());
      line.Append(" uptime_s=").AppendDecimal(ticks / abi::kTickHz);
      line.Append(" rx=").AppendDecimal(uart::RxBytes());
      break;
    }
    case CommandKind::kDigest:
      line.Append("digest=").AppendHex(journal::Digest(), 16);
      line.Append(" journal=").AppendDecimal(journal::Count());
      break;
    case CommandKind::kEcho:
      line.Append(command.arg, command.arg_size);
      break;
    case CommandKind::kComputeOn:
    case CommandKind::kComputeOff:
      compute::SetEnabled(command.kind == CommandKind::kComputeOn);
      [[fallthrough]];
    case CommandKind::kComputeQuery:
      line.Append(compute::Enabled() ? "compute on" : "compute off");
      break;
    case CommandKind::kComputeUsage:
      line.Append("unknown argument: ").Append(command.arg, command.arg_size);
      line.Append(" (usage: compute [on|off])");
      break;
    case CommandKind::kDiskQuery:
    case CommandKind::kDiskOn:
    case CommandKind::kDiskOff:
      if (!disk::Present()) {
        line.Append("disk none");
        break;
      }
      if (command.kind != CommandKind::kDiskQuery) {
        disk::SetEnabled(command.kind == CommandKind::kDiskOn);
      }
      line.Append(disk::Enabled() ? "disk on" : "disk off");
      if (command.kind == CommandKind::kDiskQuery) {
        line.Append(" records=").AppendDecimal(disk::Records());
        line.Append(" errors=").AppendDecimal(disk::Errors());
        line.Append(" sectors=").AppendDecimal(disk::Sectors());
        const store_log::Stats log = store_log::GetStats();
        line.Append(" log_replayed=").AppendDecimal(log.replayed);
        line.Append(" log_appended=").AppendDecimal(log.appended);
        line.Append(" log_sectors=").AppendDecimal(log.used_sectors);
        line.AppendChar('/').AppendDecimal(log.region_sectors);
      }
      break;
    case CommandKind::kDiskVerify:
      if (!disk::Present()) {
        line.Append("disk none");
        break;
      }
      disk::RequestVerify();  // the disk thread answers
      return;
    case CommandKind::kDiskBurst: {
      if (!disk::Present()) {
        line.Append("disk none");
        break;
      }
      const uint64_t count = ParseBurstCount(command.arg, command.arg_size);
      if (count == 0) {
        line.Append("disk burst takes a count from 1 to ").AppendDecimal(kMaxBurstRecords);
        break;
      }
      disk::RequestBurst(count);  // the disk thread answers
      return;
    }
    case CommandKind::kDiskUsage:
      line.Append("unknown argument: ").Append(command.arg, command.arg_size);
      line.Append(" (usage: disk [on|off|verify|burst N])");
      break;
    case CommandKind::kNet:
      AppendNet(line);
      break;
    case CommandKind::kShutdown:
      line.Append("bye");
      console::WriteLine(line);
      Shutdown(kExitOk);
    case CommandKind::kUnknown:
      line.Append("unknown command: ").Append(command.arg, command.arg_size);
      break;
  }
  console::WriteLine(line);
}

void Main() {
  for (;;) {
    if (g_editor.Feed(uart::ReadByte()) != LineEditor<kMaxCommandBytes>::Result::kLine) continue;
    if (g_editor.truncated()) {
      console::Line notice = Reply();
      notice.Append("line too long, truncated to ").AppendDecimal(kMaxCommandBytes);
      notice.Append(" bytes");
      console::WriteLine(notice);
    }
    Execute(ParseCommand(g_editor.line(), g_editor.size()));
  }
}

}  // namespace

void Start() {
  sched::Spawn("service", &Main);
}

}  // namespace testsvc::kernel::service

#!/usr/bin/env python3
"""Counts the frames a VMM writes into TAP devices: prints one line per frame the interface
received from its owner (not those the kernel sent to it), with the kernel's receive time as
UTC seconds, the interface and the source MAC:
    1764671197.378123 tap0 02:46:54:56:4d:01
Runs until SIGTERM or --seconds. Usage: tap_sniffer.py [--seconds S] IFACE..."""
import argparse, select, signal, socket, struct, sys, time

SO_TIMESTAMPNS = 35
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, default=60)
parser.add_argument("ifaces", nargs="+")
args = parser.parse_args()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

socks = {}
for iface in args.ifaces:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    socks[s] = iface
print("listening", flush=True)
deadline = time.monotonic() + args.seconds
while time.monotonic() < deadline:
    ready, _, _ = select.select(list(socks), [], [], 0.2)
    for s in ready:
        data, anc, _, addr = s.recvmsg(65536, 64)
        if addr[2] == PACKET_OUTGOING:
            continue
        stamp = time.time()
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("qq", value[:16])
                stamp = sec + nsec / 1e9
        mac = ":".join(f"{b:02x}" for b in data[6:12])
        print(f"{stamp:.6f} {socks[s]} {mac}", flush=True)

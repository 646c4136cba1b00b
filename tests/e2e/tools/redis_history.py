#!/usr/bin/env python3
"""A history checker for the guest's Redis-protocol service across a failover (docs/network.md).

Several connections work at once for --seconds: each INCRs a key of its own and SETs keys of its
own to unique values, one command at a time, and records every acknowledged answer. A
connection that breaks (reset, timeout) reconnects and goes on; its unanswered command is
uncertain (it may or may not have happened) and is remembered as such. At the end, on a fresh
connection, it checks:
  - every acknowledged INCR returned exactly the previous acknowledged value + 1, except that an
    uncertain INCR in between may account for one more;
  - the final value of each counter is the last acknowledged one, or one more per uncertain INCR
    after it;
  - every acknowledged SET is readable with its value (or a later acknowledged or uncertain one).
Prints a JSON summary (requests, errors, reconnects, violations) and exits 1 on any violation.
Plain sockets and RESP, no client library. Usage:
    redis_history.py HOST [--port 6379] [--connections 4] [--seconds 10]"""
import argparse, json, socket, sys, threading, time


class Broken(Exception):
    pass


class Connection:
    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def command(self, *words):
        out = b"*%d\r\n" % len(words)
        for w in words:
            w = w.encode() if isinstance(w, str) else w
            out += b"$%d\r\n%s\r\n" % (len(w), w)
        try:
            self.sock.sendall(out)
            return self.reply()
        except (OSError, socket.timeout) as e:
            raise Broken(str(e))

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Broken("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise Broken("connection closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        raise Broken(f"unexpected reply {line!r}")


def worker(index, args, stats, lock):
    counter = f"hist:{index}:counter"
    history = {"incr": [], "uncertain_incr": [], "sets": {}, "uncertain_sets": {}}
    conn = None
    deadline = time.monotonic() + args.seconds
    n = 0
    while time.monotonic() < deadline:
        if conn is None:
            try:
                conn = Connection(args.host, args.port, 2.0)
                if n > 0:
                    with lock:
                        stats["reconnects"] += 1
            except OSError:
                time.sleep(0.05)
                continue
        n += 1
        key, value = f"hist:{index}:set:{n % 50}", f"v{index}-{n}"
        try:
            if n % 2:
                got = conn.command("INCR", counter)
                if not isinstance(got, int):
                    raise Broken(f"INCR answered {got!r}")
                history["incr"].append((len(history["uncertain_incr"]), got))
            else:
                got = conn.command("SET", key, value)
                if got != "OK":
                    raise Broken(f"SET answered {got!r}")
                history["sets"].setdefault(key, []).append(value)
            with lock:
                stats["requests"] += 1
        except Broken as e:
            with lock:
                stats["errors"].append(f"connection {index}: {e}")
            if n % 2:
                history["uncertain_incr"].append(n)
            else:
                history["uncertain_sets"].setdefault(key, []).append(value)
            try:
                conn.sock.close()
            except OSError:
                pass
            conn = None
    return history, counter


def check(index, history, counter, args, violations):
    conn = Connection(args.host, args.port, 5.0)
    last = 0
    uncertain_seen = 0
    for uncertain_before, value in history["incr"]:
        allowed = {last + 1 + k for k in range(uncertain_before - uncertain_seen + 1)}
        if value not in allowed:
            violations.append(f"{counter}: INCR answered {value} after {last} "
                              f"({uncertain_before - uncertain_seen} uncertain in between)")
        last, uncertain_seen = value, uncertain_before
    final = conn.command("GET", counter)
    final = int(final) if final is not None else 0
    extra = len(history["uncertain_incr"]) - uncertain_seen
    if not last <= final <= last + extra:
        violations.append(f"{counter}: ends at {final}, last acknowledged {last}, "
                          f"{extra} uncertain after it")
    for key, values in history["sets"].items():
        got = conn.command("GET", key)
        allowed = {values[-1]} | set(history["uncertain_sets"].get(key, []))
        if got not in allowed:
            violations.append(f"{key}: reads {got!r}, last acknowledged SET {values[-1]!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    stats = {"requests": 0, "reconnects": 0, "errors": []}
    lock = threading.Lock()
    results = [None] * args.connections

    def run(i):
        results[i] = worker(i, args, stats, lock)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    violations = []
    for i, (history, counter) in enumerate(results):
        check(i, history, counter, args, violations)
    summary = {"requests": stats["requests"], "reconnects": stats["reconnects"],
               "errors": stats["errors"][:20], "violations": violations}
    print(json.dumps(summary))
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""faultdns.py - a misbehaving DNS server on 127.0.0.1 for the fault tests
(tests/integration/dnsfault.sh).  python3 stdlib only.

Modes:
  down      nothing listens: print a port that no socket has bound (UDP and
            TCP were bound to find it, then closed) and exit at once
  slow      answer every query NXDOMAIN, DELAY_MS after it arrived (meant to
            be longer than the resolver's timeout)
  servfail  answer every query SERVFAIL at once
  truncated answer every UDP query with TC=1 and no records; the TCP port
            accepts connections and closes them without a byte
  truncated-notcp
            TC=1 over UDP, nothing listens on the TCP port

Prints its port on the first line of stdout, then one line per query
received ("udp NAME TYPE" or "tcp-closed"), flushed, so that a test can
count that the resolver really asked.  Bounded: stops after MAX_SECONDS
(default 120) or on SIGTERM.  Never sends anything but replies to clients
on 127.0.0.1.
Usage: faultdns.py MODE [DELAY_MS] [MAX_SECONDS]
SECURITY: parses untrusted packets only as far as the question, bounded by
the packet length; malformed queries are ignored.
"""
import signal
import socket
import struct
import sys
import threading
import time

MODES = ("down", "slow", "servfail", "truncated", "truncated-notcp")


def parse_question(query):
    """(qid, flags, question bytes, name, qtype) or None."""
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", query[:6])
    if qd != 1 or flags & 0x8000:
        return None
    pos, labels = 12, []
    while pos < len(query) and query[pos] != 0:
        n = query[pos]
        if n > 63 or pos + 1 + n > len(query):
            return None
        labels.append(query[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    pos += 1
    if pos + 4 > len(query):
        return None
    qtype = struct.unpack(">H", query[pos:pos + 2])[0]
    return qid, flags, query[12:pos + 4], ".".join(labels) + ".", qtype


def make_reply(parsed, rcode, tc=False):
    qid, flags, question, _name, _qtype = parsed
    # QR, opcode 0, RD copied, RA; TC when asked.
    out = 0x8000 | (flags & 0x0100) | 0x0080 | (0x0200 if tc else 0) | rcode
    return struct.pack(">HHHHHH", qid, out, 1, 0, 0, 0) + question


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1 (bounded tries)."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            u.close()
            t.close()
            continue
        return u, t, port
    raise SystemExit("faultdns: no free port")


def say(lock, text):
    with lock:
        print(text, flush=True)


def tcp_closer(tsock, stop, lock):
    tsock.listen(16)
    tsock.settimeout(0.2)
    while not stop.is_set():
        try:
            c, _peer = tsock.accept()
        except socket.timeout:
            continue
        except OSError:
            return
        c.close()
        say(lock, "tcp-closed")


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in MODES:
        raise SystemExit("usage: faultdns.py %s [DELAY_MS] [MAX_SECONDS]" % "|".join(MODES))
    mode = sys.argv[1]
    delay = float(sys.argv[2]) / 1000.0 if len(sys.argv) > 2 else 3.0
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 120.0
    usock, tsock, port = free_port()
    if mode == "down":
        usock.close()
        tsock.close()
        print(port, flush=True)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    lock = threading.Lock()
    threads = []
    if mode == "truncated":
        th = threading.Thread(target=tcp_closer, args=(tsock, stop, lock), daemon=True)
        th.start()
        threads.append(th)
    else:
        tsock.close()
    usock.settimeout(0.2)
    say(lock, str(port))
    end = time.monotonic() + max_seconds
    timers = []
    while not stop.is_set() and time.monotonic() < end:
        try:
            data, peer = usock.recvfrom(4096)
        except socket.timeout:
            continue
        except OSError:
            break
        parsed = parse_question(data)
        if parsed is None:
            continue
        say(lock, "udp %s %d" % (parsed[3], parsed[4]))
        if mode == "servfail":
            usock.sendto(make_reply(parsed, 2), peer)
        elif mode in ("truncated", "truncated-notcp"):
            usock.sendto(make_reply(parsed, 0, tc=True), peer)
        elif mode == "slow":
            t = threading.Timer(delay, usock.sendto, (make_reply(parsed, 3), peer))
            t.daemon = True
            t.start()
            timers.append(t)
            timers = [x for x in timers if x.is_alive()]
    stop.set()
    for t in timers:
        t.cancel()
    usock.close()
    if mode == "truncated":
        tsock.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""delayed_dns.py - a tiny DNS server on 127.0.0.1 for tests/bench/dnsbl.sh.

Answers every A query with 127.0.0.2 (TTL 0), every other type with NODATA,
each reply DELAY_MS after its query arrived (replies are scheduled
independently, so concurrent queries are all answered after one delay).
Bounded: stops after MAX_SECONDS or MAX_QUERIES.  Prints its port on stdout.
Usage: delayed_dns.py DELAY_MS [MAX_SECONDS] [MAX_QUERIES]
Never talks to anything but the clients that query it on 127.0.0.1.
"""
import socket
import struct
import sys
import threading
import time


def reply(query, delay_answers=True):
    if len(query) < 12:
        return None
    qid, _flags, qd = struct.unpack(">HHH", query[:6])
    if qd != 1:
        return None
    # Walk the question name (bounded by the packet length).
    pos = 12
    while pos < len(query) and query[pos] != 0:
        pos += 1 + query[pos]
    pos += 1
    if pos + 4 > len(query):
        return None
    qtype = struct.unpack(">H", query[pos:pos + 2])[0]
    question = query[12:pos + 4]
    an = 1 if qtype == 1 else 0
    head = struct.pack(">HHHHHH", qid, 0x8180, 1, an, 0, 0)
    body = question
    if an:
        body += struct.pack(">HHHIH", 0xC00C, 1, 1, 0, 4) + bytes([127, 0, 0, 2])
    return head + body


def main():
    delay = float(sys.argv[1]) / 1000.0
    max_seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    max_queries = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    print(sock.getsockname()[1], flush=True)
    end = time.monotonic() + max_seconds
    served = 0
    while time.monotonic() < end and served < max_queries:
        try:
            data, peer = sock.recvfrom(4096)
        except socket.timeout:
            continue
        r = reply(data)
        if r is None:
            continue
        served += 1
        threading.Timer(delay, sock.sendto, (r, peer)).start()
    time.sleep(delay + 0.1)
    sock.close()


if __name__ == "__main__":
    main()

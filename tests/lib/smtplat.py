#!/usr/bin/env python3
"""smtplat.py - per-message latency through MTAs on 127.0.0.1, for
tests/e2e/latency.sh.  python3 stdlib only (smtplib).

One SMTP connection per PORT, COUNT messages on each (MAIL, RCPT, DATA,
from alice@pass.example to bob@dest.example), sent in turns: message 1 on
every port, then message 2, ...; so a change in the machine's load hits
every path alike.  The time of a message is from sending MAIL FROM to the
reply after the final dot.  Prints one line per port:
  port=PORT accepted=N count=COUNT p50_ms=X min_ms=X max_ms=X
Exit 1 if a message was not accepted.  Bounded: 30 s per reply.
Usage: smtplat.py COUNT TAG PORT [PORT...]
"""
import smtplib
import sys
import time


def one(s, tag, n):
    msg = ("From: Alice <alice@pass.example>\r\nTo: bob@dest.example\r\n"
           "Subject: latency %s %d\r\nMessage-ID: <lat-%s-%d@pass.example>\r\n"
           "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
           "Message %d of a latency run.\r\n" % (tag, n, tag, n, n))
    t0 = time.monotonic()
    code, _ = s.docmd("MAIL FROM:<alice@pass.example>")
    if code == 250:
        code, _ = s.docmd("RCPT TO:<bob@dest.example>")
    if code == 250:
        code, _ = s.docmd("DATA")
    if code == 354:
        s.send(msg.encode("ascii") + b".\r\n")
        code, _ = s.getreply()
    else:
        s.docmd("RSET")
    return code == 250, (time.monotonic() - t0) * 1000.0


def main():
    count, tag, ports = int(sys.argv[1]), sys.argv[2], [int(p) for p in sys.argv[3:]]
    conns = []
    for p in ports:
        s = smtplib.SMTP("127.0.0.1", p, local_hostname="mx.client.example", timeout=30)
        s.ehlo("mx.client.example")
        conns.append(s)
    times = [[] for _ in ports]
    accepted = [0 for _ in ports]
    for n in range(1, count + 1):
        for i, s in enumerate(conns):
            ok, ms = one(s, "%s-%d" % (tag, ports[i]), n)
            accepted[i] += ok
            times[i].append(ms)
    for s in conns:
        s.quit()
    for i, p in enumerate(ports):
        t = sorted(times[i])
        print("port=%d accepted=%d count=%d p50_ms=%.1f min_ms=%.1f max_ms=%.1f"
              % (p, accepted[i], count, t[len(t) // 2], t[0], t[-1]))
    return 0 if all(a == count for a in accepted) else 1


if __name__ == "__main__":
    sys.exit(main())

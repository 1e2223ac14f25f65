#!/usr/bin/env python3
"""smtplat.py - per-message latency through an MTA on 127.0.0.1, for
tests/e2e/latency.sh.  python3 stdlib only (smtplib).

One SMTP connection, COUNT messages on it (MAIL, RCPT, DATA each, from
alice@pass.example to bob@dest.example); the time of a message is from
sending MAIL FROM to the reply after the final dot.  Prints one line:
  accepted=N count=COUNT p50_ms=X min_ms=X max_ms=X
Exit 1 if a message was not accepted.  Bounded: 30 s per reply.
Usage: smtplat.py PORT COUNT TAG
"""
import smtplib
import sys
import time


def main():
    port, count, tag = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="mx.client.example", timeout=30)
    s.ehlo("mx.client.example")
    times, accepted = [], 0
    for n in range(1, count + 1):
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
            if code == 250:
                accepted += 1
        else:
            s.docmd("RSET")
        times.append((time.monotonic() - t0) * 1000.0)
    s.quit()
    times.sort()
    print("accepted=%d count=%d p50_ms=%.1f min_ms=%.1f max_ms=%.1f"
          % (accepted, count, times[len(times) // 2], times[0], times[-1]))
    return 0 if accepted == count else 1


if __name__ == "__main__":
    sys.exit(main())

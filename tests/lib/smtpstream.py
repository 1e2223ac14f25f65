#!/usr/bin/env python3
"""smtpstream.py - a bounded stream of messages to an MTA on 127.0.0.1 for
the fault tests (tests/e2e/milterkill.sh, tests/e2e/reload.sh).  python3
stdlib only (smtplib).

One SMTP session per message: EHLO, MAIL FROM, RCPT TO, DATA.  Message N
has Message-ID <stream-TAG-N@client.example> and the header
"X-Stream: TAG N", so a test can find it in the sink.  For every message
one line is appended (flushed) to OUTFILE:
  N accepted QUEUEID     250 to the final dot: the MTA took responsibility
  N temp CODE STAGE      4xx at STAGE (connect, ehlo, mail, rcpt, data,
                         dot): refused, the client still has the message
  N perm CODE STAGE      5xx at STAGE
  N error STAGE TEXT     no reply (connection broken or timed out)
Usage: smtpstream.py PORT TAG COUNT OUTFILE [PAUSE_MS] [MAX_SECONDS]
Bounded: COUNT messages or MAX_SECONDS (default 300), 30 s per reply.
"""
import re
import smtplib
import socket
import sys
import time


def one(port, tag, n):
    stage = "connect"
    try:
        s = smtplib.SMTP(timeout=30)
        code, text = s.connect("127.0.0.1", port)
        if code != 220:
            return "temp %d %s" % (code, stage) if code // 100 == 4 else "perm %d %s" % (code, stage)
        try:
            for stage, cmd in (("ehlo", lambda: s.ehlo("mx.client.example")),
                               ("mail", lambda: s.docmd("MAIL FROM:<user@pass.example>")),
                               ("rcpt", lambda: s.docmd("RCPT TO:<rcpt@dest.example>")),
                               ("data", lambda: s.docmd("DATA"))):
                code, text = cmd()
                want = 354 if stage == "data" else 250
                if code != want:
                    kind = "temp" if code // 100 == 4 else "perm" if code // 100 == 5 else "error"
                    return "%s %d %s" % (kind, code, stage)
            stage = "dot"
            msg = ("From: User <user@pass.example>\r\n"
                   "To: rcpt@dest.example\r\n"
                   "Subject: stream %s %d\r\n"
                   "Message-ID: <stream-%s-%d@client.example>\r\n"
                   "X-Stream: %s %d\r\n"
                   "\r\n"
                   "Message %d of a bounded test stream.\r\n" % (tag, n, tag, n, tag, n, n))
            s.send(msg.encode("ascii") + b".\r\n")
            code, text = s.getreply()
            if code == 250:
                m = re.search(rb"queued as ([0-9A-Za-z]+)", text)
                return "accepted %s" % (m.group(1).decode() if m else "-")
            kind = "temp" if code // 100 == 4 else "perm" if code // 100 == 5 else "error"
            return "%s %d %s" % (kind, code, stage)
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except (smtplib.SMTPException, OSError, socket.timeout) as e:
        return "error %s %s" % (stage, str(e).replace("\n", " ")[:80] or type(e).__name__)


def main():
    if len(sys.argv) < 5:
        raise SystemExit("usage: smtpstream.py PORT TAG COUNT OUTFILE [PAUSE_MS] [MAX_SECONDS]")
    port, tag, count, outfile = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    pause = float(sys.argv[5]) / 1000.0 if len(sys.argv) > 5 else 0.0
    end = time.monotonic() + (float(sys.argv[6]) if len(sys.argv) > 6 else 300.0)
    with open(outfile, "a") as out:
        for n in range(1, count + 1):
            if time.monotonic() > end:
                break
            out.write("%d %s\n" % (n, one(port, tag, n)))
            out.flush()
            if pause:
                time.sleep(pause)


if __name__ == "__main__":
    main()

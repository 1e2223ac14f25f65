#!/usr/bin/env python3
"""reportstream.py - a bounded stream of messages with chosen DMARC
outcomes to an MTA on 127.0.0.1, for the DMARC report tests
(tests/e2e/reports.sh, reports-pg.sh, reports-fault.sh).  python3 stdlib
only (smtplib).

Each message is one SMTP session: EHLO mx.client.example, optionally
XCLIENT ADDR=<addr> (the private Postfix lets 127.0.0.1 claim a client
address: it only reaches the milter's connect information, nothing is ever
contacted) and EHLO again, MAIL FROM, RCPT TO, DATA.  Message N uses the
kind SPEC[(N - 1) % len(SPEC)]; a SPEC is
    NAME,ADDR,MAILFROM,FROM,RCPT[,FILE]
NAME labels the kind in the output; ADDR the client address ("-": no
XCLIENT, the connection's 127.0.0.1); MAILFROM the envelope sender ("" for
<>); FROM the From address; RCPT the recipient; FILE (optional) a message
file sent as is (its own From) instead of a generated one.

One line per message is appended (flushed) to OUTFILE:
    N NAME RESULT CODE STAGE MS EPOCH_MS
RESULT is accepted (250 after the final dot), temp (4xx), perm (5xx) or
error (no reply); CODE the reply code (000 for error); STAGE where the
session ended (connect, ehlo, xclient, mail, rcpt, data, dot); MS the
milliseconds from connect to the last reply; EPOCH_MS the time of that
reply (UTC milliseconds since the epoch).
Usage: reportstream.py PORT OUTFILE COUNT PAUSE_MS MAX_SECONDS SPEC...
Bounded: COUNT messages or MAX_SECONDS, 30 s per reply.
"""
import smtplib
import socket
import sys
import time


def message(kind, n, frm, rcpt, path):
    if path:
        with open(path, "rb") as f:
            data = f.read()
        lines = data.replace(b"\r\n", b"\n").split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
    else:
        lines = [("From: <%s>" % frm).encode(), ("To: <%s>" % rcpt).encode(),
                 ("Subject: report stream %s %d" % (kind, n)).encode(),
                 ("Message-ID: <rs-%s-%d-%d@client.example>" % (kind, n, time.time_ns())).encode(),
                 b"Date: Mon, 23 Nov 2026 10:00:00 +0000", b"",
                 ("Message %d (%s) of a bounded DMARC report test stream." % (n, kind)).encode()]
    out = b""
    for line in lines:
        if line.startswith(b"."):
            line = b"." + line
        out += line + b"\r\n"
    return out + b".\r\n"


def kind_of(code):
    return "temp" if code // 100 == 4 else "perm" if code // 100 == 5 else "error"


def one(port, n, spec):
    name, addr, mfrom, frm, rcpt = spec[:5]
    path = spec[5] if len(spec) > 5 else ""
    stage = "connect"
    code = 0
    try:
        s = smtplib.SMTP(timeout=30)
        code, _ = s.connect("127.0.0.1", port)
        if code != 220:
            return kind_of(code), code, stage
        try:
            steps = [("ehlo", lambda: s.docmd("EHLO mx.client.example"), 250)]
            if addr != "-":
                steps += [("xclient", lambda: s.docmd("XCLIENT ADDR=%s NAME=[UNAVAILABLE]" % addr), 220),
                          ("ehlo", lambda: s.docmd("EHLO mx.client.example"), 250)]
            steps += [("mail", lambda: s.docmd("MAIL FROM:<%s>" % mfrom), 250),
                      ("rcpt", lambda: s.docmd("RCPT TO:<%s>" % rcpt), 250),
                      ("data", lambda: s.docmd("DATA"), 354)]
            for stage, cmd, want in steps:
                code, _ = cmd()
                if code != want:
                    return kind_of(code), code, stage
            stage = "dot"
            s.send(message(name, n, frm, rcpt, path))
            code, _ = s.getreply()
            return ("accepted" if code == 250 else kind_of(code)), code, stage
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except (smtplib.SMTPException, OSError, socket.timeout):
        return "error", 0, stage


def main():
    if len(sys.argv) < 7:
        raise SystemExit("usage: reportstream.py PORT OUTFILE COUNT PAUSE_MS MAX_SECONDS SPEC...")
    port, outfile, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    pause, maxsec = float(sys.argv[4]) / 1000.0, float(sys.argv[5])
    specs = [a.split(",") for a in sys.argv[6:]]
    for sp in specs:
        if len(sp) < 5:
            raise SystemExit("reportstream.py: bad SPEC %r" % ",".join(sp))
    end = time.monotonic() + maxsec
    with open(outfile, "a") as out:
        for n in range(1, count + 1):
            if time.monotonic() > end:
                break
            spec = specs[(n - 1) % len(specs)]
            t0 = time.monotonic()
            result, code, stage = one(port, n, spec)
            ms = (time.monotonic() - t0) * 1000.0
            out.write("%d %s %s %03d %s %.1f %d\n" % (n, spec[0], result, code, stage, ms, time.time_ns() // 1000000))
            out.flush()
            if pause:
                time.sleep(pause)


if __name__ == "__main__":
    main()

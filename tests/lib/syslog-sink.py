#!/usr/bin/env python3
"""syslog-sink.py - a private syslog socket for the test Sendmail
(tests/lib/sendmail-ns.sh): receives datagrams on the unix socket PATH and
appends each, without its <priority> prefix, as one line to OUTFILE.
Usage: syslog-sink.py PATH OUTFILE.  Runs until killed."""
import os
import re
import socket
import sys


def main():
    path, outfile = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    with open(outfile, "ab", buffering=0) as out:
        while True:
            msg = s.recv(65536).rstrip(b"\0\n")
            out.write(re.sub(rb"^<[0-9]+>", b"", msg) + b"\n")


if __name__ == "__main__":
    main()

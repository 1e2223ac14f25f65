#!/usr/bin/python3
"""make-fixtures.py - sign the DKIM test messages of tests/unit/test_dkim.c
and the integration/e2e tests with an independent signer: Debian's
python3-dkim (dkimpy).  The keys were made with opendkim-genkey (Debian
opendkim-tools): sel2048 (2048-bit) and small512 (512-bit, below the
minimum); test-rsa1024.private.pem is the RFC 6376 / RFC 8463 "test" key.

Run from this directory:  /usr/bin/python3 make-fixtures.py
Writes *.eml (CRLF line endings) and keys.txt ("NAME VALUE" per line, the
TXT records the tests publish).  The outputs are committed; the tests do not
sign at run time, so only this script needs python3-dkim.
"""
import time

import dkim

BASE = (b"From: Alice <alice@signer.example>\r\n"
        b"To: Bob <bob@rcpt.example>\r\n"
        b"Subject: DKIM fixture\r\n"
        b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <fixture@signer.example>\r\n"
        b"\r\n"
        b"Hello Bob,\r\n"
        b"\r\n"
        b"this message is signed.  \r\n"
        b"  Trailing and leading white space matter to simple canonicalization.\r\n"
        b"\r\n"
        b"\r\n")

HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]
FIXED_T = 1704103200  # 2024-01-01 10:00:00 UTC


def key(path):
    with open(path, "rb") as f:
        return f.read()


K2048 = key("sel2048.private")
K512 = key("small512.private")
K1024 = key("test-rsa1024.private.pem")


class ExpiringDKIM(dkim.DKIM):
    """dkimpy signs without x=; this adds x= (and a chosen t=) before b=."""

    def __init__(self, message, t, x):
        super().__init__(message)
        self.t, self.x = t, x

    def gen_header(self, fields, include_headers, canon_policy, header_name, pk, standardize=False):
        out = []
        for k, v in fields:
            if k == b"t":
                v = str(self.t).encode()
            out.append((k, v))
            if k == b"t" and self.x is not None:
                out.append((b"x", str(self.x).encode()))
        fields[:] = out
        return super().gen_header(fields, include_headers, canon_policy, header_name, pk, standardize)


def sign(msg, sel, dom, pk, canon=(b"relaxed", b"relaxed"), headers=HEADERS, length=False, t=FIXED_T, x=None,
         alg=b"rsa-sha256"):
    d = ExpiringDKIM(msg, t, x)
    sig = d.sign(sel, dom, pk, canonicalize=canon, include_headers=headers, length=length, signature_algorithm=alg)
    return sig + msg


def write(name, data):
    assert b"\n" not in data.replace(b"\r\n", b"")
    with open(name, "wb") as f:
        f.write(data)


now = int(time.time())
write("unsigned.eml", BASE)
good = sign(BASE, b"sel2048", b"signer.example", K2048)
write("pass-relaxed.eml", good)
write("pass-simple.eml", sign(BASE, b"sel2048", b"signer.example", K2048, canon=(b"simple", b"simple")))
write("body-altered.eml", good.replace(b"this message is signed.", b"this message is forged."))
write("header-altered.eml", good.replace(b"Subject: DKIM fixture", b"Subject: DKIM fixture!"))
write("nokey.eml", sign(BASE, b"missing", b"signer.example", K2048))
write("revoked.eml", sign(BASE, b"revoked", b"signer.example", K2048))
write("timeout.eml", sign(BASE, b"sel", b"slow.example.net", K2048))
# Two signatures: other.example publishes a different key (the 1024-bit
# one) than the one that signed: its signature fails, signer.example's passes.
write("two-sigs.eml", sign(sign(BASE, b"sel2048", b"other.example", K2048), b"sel2048", b"signer.example", K2048))
# l= covers the body as signed; a mailing list appended a footer.
write("length-appended.eml",
      sign(BASE, b"sel2048", b"signer.example", K2048, length=True) + b"-- \r\nappended footer\r\n")
write("expired.eml", sign(BASE, b"sel2048", b"signer.example", K2048, t=FIXED_T, x=FIXED_T + 3600))
# t= one day in the future of when the fixture was made (and so of any later run).
write("future.eml", sign(BASE, b"sel2048", b"signer.example", K2048, t=now + 10 * 365 * 86400))
write("small-key.eml", sign(BASE, b"small512", b"signer.example", K512))
write("no-subject-signed.eml", sign(BASE, b"sel2048", b"signer.example", K2048, headers=[b"from", b"to"]))
write("rsa1024.eml", sign(BASE, b"test", b"signer.example", K1024, canon=(b"simple", b"relaxed")))
# rsa-sha1 (RFC 8301 3.1: never valid) with the "test" key, whose record has
# no h= and so allows sha1: libopendkim alone verifies it as good.  Then an
# rsa-sha1 signature above a good rsa-sha256 one, and one whose key lookup
# times out (slow.example.net).
write("rsa-sha1.eml", sign(BASE, b"test", b"signer.example", K1024, alg=b"rsa-sha1"))
write("rsa-sha1-and-sha256.eml",
      sign(sign(BASE, b"sel2048", b"signer.example", K2048), b"test", b"signer.example", K1024, alg=b"rsa-sha1"))
write("rsa-sha1-timeout.eml", sign(BASE, b"sel", b"slow.example.net", K2048, alg=b"rsa-sha1"))
# Six signatures, one more than the default max_signatures.
write("six-sigs.eml", sign(sign(sign(sign(sign(sign(BASE, b"sel2048", b"s1.signer.example", K2048),
                                                b"sel2048", b"s2.signer.example", K2048),
                                           b"sel2048", b"s3.signer.example", K2048),
                                      b"sel2048", b"s4.signer.example", K2048),
                                 b"sel2048", b"s5.signer.example", K2048),
                            b"sel2048", b"s6.signer.example", K2048))


def txtvalue(txtfile):
    import re
    text = open(txtfile).read()
    return "".join(re.findall(r'"([^"]*)"', text))


P2048 = txtvalue("sel2048.txt")
P512 = txtvalue("small512.txt")
P1024 = ("v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
         "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB")
records = [
    ("sel2048._domainkey.signer.example", P2048),
    ("small512._domainkey.signer.example", P512),
    ("test._domainkey.signer.example", P1024),
    ("revoked._domainkey.signer.example", "v=DKIM1; k=rsa; p="),
    ("sel2048._domainkey.other.example", P1024),
]
for i in range(1, 7):
    records.append(("sel2048._domainkey.s%d.signer.example" % i, P2048))
with open("keys.txt", "w") as f:
    f.write("# TXT records for the fixtures (written by make-fixtures.py): NAME VALUE\n")
    for name, value in records:
        f.write("%s %s\n" % (name, value))

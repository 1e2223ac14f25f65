#!/usr/bin/env python3
"""dmarcreport.py - read DMARC aggregate reports (RFC 9990) and report mail
for the end-to-end tests (tests/e2e/reports*.sh).  python3 stdlib only.

  dmarcreport.py xml FILE
      FILE: a report, gzip (.xml.gz) or plain XML.  Prints
        meta org_name=.. email=.. report_id=.. begin=.. end=.. generator=..
        policy domain=.. p=.. sp=.. np=.. testing=.. discovery=..
        row COUNT|SOURCE_IP|DISPOSITION|REASONS|PE_DKIM|PE_SPF|HEADER_FROM|ENVELOPE_FROM|DKIM|SPF
      one "row" line per record, in document order: REASONS
      "type:comment;..." , DKIM "domain/selector/result;...", SPF
      "domain/result" (empty when absent; envelope_from "<absent>" when the
      element is missing).  Exit 1 if the document is not a feedback in
      the RFC 9990 namespace.
  dmarcreport.py mail FILE OUTDIR
      FILE: a message as smtp-sink stored it (its X-Rcpt-Args header is the
      envelope recipient).  Prints key=value lines (rcpt, mail_from, from,
      to, subject, auto_submitted, message_id, content_type, filename,
      parts) and writes the decoded attachment to OUTDIR/<filename>.  Exit
      1 if there is not exactly one application/gzip attachment.
"""
import email
import email.policy
import gzip
import os
import re
import sys
import xml.etree.ElementTree as ET

NS = "urn:ietf:params:xml:ns:dmarc-2.0"


def q(tag):
    return "{%s}%s" % (NS, tag)


def text(el, path, default=""):
    if el is None:
        return default
    f = el.find("/".join(q(p) for p in path.split("/")))
    if f is None:
        return default
    return f.text or ""


def cmd_xml(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    root = ET.fromstring(data)
    if root.tag != q("feedback"):
        print("not a feedback element in %s: %s" % (NS, root.tag), file=sys.stderr)
        return 1
    md = root.find(q("report_metadata"))
    print("meta org_name=%s email=%s report_id=%s begin=%s end=%s generator=%s" % (
        text(md, "org_name"), text(md, "email"), text(md, "report_id"),
        text(md, "date_range/begin"), text(md, "date_range/end"), text(md, "generator")))
    pp = root.find(q("policy_published"))
    print("policy domain=%s p=%s sp=%s np=%s testing=%s discovery=%s" % (
        text(pp, "domain"), text(pp, "p"), text(pp, "sp"), text(pp, "np"),
        text(pp, "testing"), text(pp, "discovery_method")))
    for rec in root.findall(q("record")):
        row = rec.find(q("row"))
        pe = row.find(q("policy_evaluated"))
        reasons = ";".join("%s:%s" % (text(r, "type"), text(r, "comment"))
                           for r in pe.findall(q("reason")))
        ids = rec.find(q("identifiers"))
        ef = ids.find(q("envelope_from"))
        ar = rec.find(q("auth_results"))
        dkim = ";".join("%s/%s/%s" % (text(d, "domain"), text(d, "selector"), text(d, "result"))
                        for d in ar.findall(q("dkim")))
        spf = ";".join("%s/%s" % (text(s, "domain"), text(s, "result"))
                       for s in ar.findall(q("spf")))
        print("row %s|%s|%s|%s|%s|%s|%s|%s|%s|%s" % (
            text(row, "count"), text(row, "source_ip"), text(pe, "disposition"), reasons,
            text(pe, "dkim"), text(pe, "spf"), text(ids, "header_from"),
            "<absent>" if ef is None else (ef.text or ""), dkim, spf))
    return 0


def cmd_mail(path, outdir):
    with open(path, "rb") as f:
        raw = f.read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    # smtp-sink: "X-Rcpt-Args: <rcpt> ORCPT=...", "X-Mail-Args: <sender> ..."
    m = re.search(r"<([^>]*)>", str(msg.get("X-Rcpt-Args", "")))
    rcpt = m.group(1) if m else ""
    m = re.search(r"<([^>]*)>", str(msg.get("X-Mail-Args", "")))
    mfrom = m.group(1) if m else ""
    print("rcpt=%s" % rcpt)
    print("mail_from=%s" % mfrom)
    for h in ("From", "To", "Subject", "Auto-Submitted", "Message-ID", "Content-Type"):
        v = msg.get(h)
        print("%s=%s" % (h.lower().replace("-", "_"), "" if v is None else " ".join(str(v).split())))
    parts = list(msg.walk())
    print("parts=%s" % ",".join(p.get_content_type() for p in parts))
    atts = [p for p in parts if p.get_content_type() in ("application/gzip", "application/x-gzip")]
    if len(atts) != 1:
        print("expected one gzip attachment, found %d" % len(atts), file=sys.stderr)
        return 1
    name = atts[0].get_filename() or ""
    print("filename=%s" % name)
    if not name or "/" in name:
        print("bad attachment file name %r" % name, file=sys.stderr)
        return 1
    with open(os.path.join(outdir, name), "wb") as f:
        f.write(atts[0].get_payload(decode=True))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "xml":
        return cmd_xml(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "mail":
        return cmd_mail(sys.argv[2], sys.argv[3])
    print("usage: dmarcreport.py xml FILE | mail FILE OUTDIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

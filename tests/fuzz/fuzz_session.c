/*
 * fuzz_session.c - the milter event sequence: session.c driven by the
 * input in any order (connect, helo, mail, rcpt, header, eoh, body, eom,
 * abort, queue id, several messages per connection) with any argument
 * sizes, over a snapshot built from a fixed config (SPF, DKIM, DMARC, DNS
 * lists, A-R strip/add, rules of every action) and fixed DNS data
 * (fakedns.h).
 *
 * Input: a sequence of events, each one byte (event = byte % 12), one
 * length byte, then that many argument bytes (fewer at the end).
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fakedns.h"
#include "fuzz.h"
#include "session.h"
#include "snapshot.h"

static const char fuzz_session_conf[] =
    "authserv_id = \"mx.example.com\";\n"
    "trusted_networks = [ \"127.0.0.0/8\" ];\n"
    "spf = { enabled = true; helo = true; };\n"
    "dkim = { enabled = true; };\n"
    "dmarc = { enabled = true; };\n"
    "authentication_results = { add = true; strip = true; };\n"
    "dnsbl = ( { name = \"zen\"; zone = \"zen.example\"; type = \"ip\"; weight = 5; },\n"
    "          { name = \"dbl\"; zone = \"dbl.example\"; type = [ \"sender\", \"from\" ]; weight = 2; } );\n"
    "default_action = \"accept\";\n"
    "rules = (\n"
    "  { name = \"listed\"; match = { dnsbl_score = 5; }; action = \"reject\"; reply = { code = 554; xcode = \"5.7.1\"; text = \"blocked by ${dnsbl}: ${dnsbl_txt}\"; }; },\n"
    "  { name = \"spf-fail\"; match = { spf = [ \"fail\" ]; }; action = \"reject\"; },\n"
    "  { name = \"spf-temp\"; match = { spf = [ \"temperror\" ]; }; action = \"tempfail\"; },\n"
    "  { name = \"softfail\"; match = { spf = [ \"softfail\" ]; }; action = \"quarantine\"; reason = \"softfail\"; },\n"
    "  { name = \"dmarc\"; match = { dmarc = [ \"fail\" ]; }; action = \"discard\"; }\n"
    ");\n";

static const char fuzz_session_zone[] =
    "example.com TXT v=spf1 ip4:192.0.2.0/24 mx a:%{d}.x include:inc.example -all\n"
    "inc.example TXT v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ~all\n"
    "example.com MX 10 mx.example.com\n"
    "mx.example.com A 192.0.2.25\n"
    "helo.example TXT v=spf1 a -all\n"
    "helo.example A 192.0.2.1\n"
    "soft.example TXT v=spf1 ?a ~all\n"
    "temp.example SERVFAIL\n"
    "_dmarc.example.com TXT v=DMARC1; p=reject; sp=quarantine; np=reject; adkim=s\n"
    "_dmarc.example.org TXT v=DMARC1; p=quarantine; t=y\n"
    "sel._domainkey.example.com TXT v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAMBbdUDRp9xH5kFKA9OQS2djyIsdHIZeCubVrAR5X9vbPwBwJS6G3C5d7Q0j5UupYfeCa4t2O3tyj8A4NtObPQsCAwEAAQ==\n"
    "2.0.2.192.zen.example A 127.0.0.2\n"
    "2.0.2.192.zen.example TXT listed; see https://zen.example/?192.0.2.2\n"
    "example.org.dbl.example A 127.0.1.2\n";

static bool fuzz_apply(const session_edits *edits, void *arg)
{
    (void)edits;
    (void)arg;
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dns_options opt = { 0 };
    char err[256];
    conf_t *c;
    snapshot_t *s;

    (void)argc;
    (void)argv;
    fuzz_quiet();
    fakedns_set_zone(fuzz_session_zone, sizeof(fuzz_session_zone) - 1);
    c = conf_load_string(fuzz_session_conf, "fuzz.conf", NULL, NULL);
    if (c == NULL)
        abort();
    s = snapshot_from_conf(c, &opt, err, sizeof(err));
    if (s == NULL)
        abort();
    snapshot_install(s);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    session_t *s = session_new();
    size_t pos = 0;
    unsigned events = 0;

    if (s == NULL)
        abort();
    while (pos < size && events++ < 256) {
        unsigned ev = data[pos++] % 12;
        size_t len = pos < size ? data[pos++] : 0;
        char *arg, *colon;
        session_edits edits;
        session_reply r;

        if (len > size - pos)
            len = size - pos;
        arg = xstrndup((const char *)data + pos, len);
        pos += len;
        memset(&edits, 0, sizeof(edits));
        switch (ev) {
        case 0:
            r = session_connect(s, "client.example", len % 3 == 0 ? NULL : len % 3 == 1 ? "192.0.2.2" : arg);
            break;
        case 1:
            r = session_helo(s, arg);
            break;
        case 2:
            r = session_mail(s, arg, len % 5 == 0 ? "user" : NULL);
            break;
        case 3:
            r = session_rcpt(s, arg);
            break;
        case 4: /* a header "name:value" from the argument */
            colon = strchr(arg, ':');
            if (colon) {
                *colon = '\0';
                r = session_header(s, arg, colon + 1);
            } else {
                r = session_header(s, len % 2 ? "From" : "Authentication-Results", arg);
            }
            break;
        case 5:
            r = session_eoh(s);
            break;
        case 6:
            r = session_body(s, (const unsigned char *)arg, len);
            break;
        case 7:
            r = session_eom(s, &edits, fuzz_apply, NULL);
            for (size_t i = 1; i < edits.nauthres_delete; i++)
                if (edits.authres_delete[i] >= edits.authres_delete[i - 1])
                    abort(); /* deletions must be in descending order */
            break;
        case 8:
            session_abort(s);
            r.status = SESSION_CONTINUE;
            break;
        case 9:
            session_queue_id(s, arg);
            r.status = SESSION_CONTINUE;
            break;
        case 10:
            session_set_leadspc(s, len % 2);
            r.status = SESSION_CONTINUE;
            break;
        default: /* a header of the kinds the checks read */
            r = session_header(s, (const char *[]){ "DKIM-Signature", "From", "Authentication-Results",
                                                    "ARC-Seal" }[len % 4], arg);
            break;
        }
        if (r.status != SESSION_CONTINUE && (r.status == SESSION_REJECT || r.status == SESSION_TEMPFAIL) &&
            (r.code == NULL || r.text == NULL))
            abort();
        free(arg);
    }
    session_free(s);
    return 0;
}

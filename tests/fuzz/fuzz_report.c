/*
 * fuzz_report.c - what DMARC aggregate reports read from hostile sources:
 * a DMARC record from the DNS (its rua tag, dmarccheck_record_rua) read
 * into destinations (rua.c), and hostile text in the report document
 * (dmarcxml.c).  The input's first NUL-separated part is the record; the
 * next ones are a domain, a selector and a comment put into one report row.
 *
 * Invariants: every destination is "local@domain" with the domain part
 * equal to `domain`, a valid lower-case domain name, and the local part of
 * dot-atom characters without '/', '!' or '%'; the verification name of an
 * external one is a domain name; the XML written has no raw '<' or '&'
 * coming from the input (every '<' opens an element of the schema's names,
 * every '&' an entity), and no control byte but TAB/LF.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarccheck.h"
#include "dmarcxml.h"
#include "dname.h"
#include "fuzz.h"
#include "rua.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

static void fuzz_check_dest(const rua_dest *d)
{
    const char *at = strrchr(d->addr, '@');

    if (at == NULL || at == d->addr || strcmp(at + 1, d->domain) != 0)
        abort();
    if (!dname_valid(d->domain, strlen(d->domain)))
        abort();
    for (const char *p = d->domain; *p; p++)
        if (isupper((unsigned char)*p))
            abort();
    for (const char *p = d->addr; p < at; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("/!%<>()[]\\,;:@\"", *p) != NULL)
            abort();
}

/* Every '<' starts a tag name of lower-case letters and '_' (or "/", "?xml");
 * every '&' an entity of the five XML ones; no control byte but TAB/LF. */
static void fuzz_check_xml(const char *x)
{
    static const char *const ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};

    for (const char *p = x; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 && c != '\n' && c != '\t')
            abort();
        if (c == '<') {
            const char *q = p + 1;
            if (*q == '/' || *q == '?')
                q++;
            if (!(*q >= 'a' && *q <= 'z'))
                abort();
        } else if (c == '&') {
            bool ok = false;
            for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !ok; i++)
                ok = strncmp(p, ents[i], strlen(ents[i])) == 0;
            if (!ok)
                abort();
        }
    }
}

static void fuzz_render(const char *domain, const char *selector, const char *comment)
{
    dmarcxml_reason reason = {DMARCXML_REASON_LOCAL_POLICY, comment};
    dmarcxml_dkim dkim = {domain, selector, DMARCXML_DKIM_PASS, true, comment};
    dmarcxml_spf spf = {domain, DMARCXML_SPF_FAIL, comment};
    dmarcxml_row row = {
        .source_ip = "2001:db8::1", .count = 3, .disposition = DMARCXML_DISP_NONE,
        .reasons = &reason, .nreasons = 1, .header_from = "example.com", .envelope_from = domain,
        .dkim = &dkim, .ndkim = 1, .spf = &spf,
    };
    dmarcxml_report r = {
        .meta = {.org_name = comment, .email = "dmarc@example.com", .extra_contact_info = comment,
                 .report_id = "abc@example.com", .receiver = "example.com", .unique_id = "abc",
                 .begin = 0, .end = 86399, .generator = comment},
        .policy = {.domain = "example.com", .p = DMARCXML_POLICY_REJECT, .adkim = 'r', .aspf = 'r'},
        .rows = &row,
        .nrows = 1,
    };
    char err[256];
    char *x = dmarcxml_render(&r, NULL, err, sizeof(err));

    if (x == NULL)
        return;
    fuzz_check_xml(x);
    free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    const char *part[4] = {"", "", "", ""};
    size_t off = 0;
    char rua[4096], name[DNAME_BUFSZ];
    rua_dest dest[8];
    rua_stats st;
    size_t n;

    for (int i = 0; i < 4 && off <= size; i++) {
        part[i] = s + off;
        off += strlen(s + off) + 1;
    }
    if (dmarccheck_record_rua(part[0], strlen(part[0]), rua, sizeof(rua))) {
        if (memchr(rua, '\0', sizeof(rua)) == NULL)
            abort();
    } else {
        /* not a record with a rua: read the part itself as a rua value */
        snprintf(rua, sizeof(rua), "%s", part[0]);
    }
    n = rua_parse(rua, dest, sizeof(dest) / sizeof(dest[0]), &st);
    if (n > sizeof(dest) / sizeof(dest[0]))
        abort();
    for (size_t i = 0; i < n; i++) {
        fuzz_check_dest(&dest[i]);
        if (rua_external("example.com", dest[i].domain) &&
            rua_verify_name("example.com", dest[i].domain, name, sizeof(name)) &&
            !dname_valid(name, strlen(name)))
            abort();
    }
    fuzz_render(part[1], part[2], part[3]);
    free(s);
    return 0;
}

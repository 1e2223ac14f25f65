/*
 * fuzz_dmarc.c - DMARC over hostile records: dmarccheck_record_parse() on
 * every line of the input, then a whole evaluation (tree walk, np
 * existence check, alignment walks) with the From value and the _dmarc
 * records from the input, in RFC 9989 mode, and in RFC 7489 mode (records
 * parsed by libopendmarc) when the input's length is odd.
 *
 * Input: the From value on the first line, then a zone (fakedns.h), e.g.
 * "_dmarc.example.com TXT v=DMARC1; p=reject".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dmarccheck.h"
#include "fakedns.h"
#include "fromhdr.h"
#include "fuzz.h"

static dns_t *fuzz_dns;
static dmarccheck_lib *fuzz_lib9989, *fuzz_lib7489;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dns_options opt = { 0 };
    dmarccheck_options o9 = { .mode = DMARCCHECK_RFC9989, .max_queries = 20, .timeout_ms = 1000 };
    dmarccheck_options o7 = { .mode = DMARCCHECK_RFC7489, .max_queries = 20, .timeout_ms = 1000,
                              .psl_file = "/usr/share/publicsuffix/public_suffix_list.dat" };
    char err[256];

    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_dns = dns_new(&opt, err, sizeof(err));
    fuzz_lib9989 = dmarccheck_lib_new(fuzz_dns, &o9, err, sizeof(err));
    fuzz_lib7489 = dmarccheck_lib_new(fuzz_dns, &o7, err, sizeof(err));
    if (fuzz_lib9989 == NULL || fuzz_lib7489 == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    size_t len = strlen(s);
    char *nl = strchr(s, '\n'), *zone = nl ? nl + 1 : s + len;
    dmarccheck_record rec;
    fromhdr_msg from;
    dmarccheck_t *d;
    dmarccheck_output out;
    dkimcheck_sig sig = { .result = DKIMCHECK_PASS, .domain = (char *)"mail.example.com" };
    dmarccheck_input in = { .spf = SPFCHECK_PASS, .spf_domain = "bounce.example.org", .sigs = &sig, .nsigs = 1 };

    /* the record parser on every TXT text of the zone */
    for (const char *p = zone; *p;) {
        const char *e = strchr(p, '\n'), *t = strstr(p, " TXT ");
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (t && t < p + l)
            (void)dmarccheck_record_parse(t + 5, l - (size_t)(t + 5 - p), &rec);
        p += l + (e != NULL);
    }
    if (nl)
        *nl = '\0';
    fakedns_set_zone(zone, strlen(zone));
    fromhdr_msg_reset(&from);
    fromhdr_msg_add(&from, s);
    d = dmarccheck_start(size % 2 ? fuzz_lib7489 : fuzz_lib9989, &from);
    memset(&out, 0, sizeof(out));
    (void)dmarccheck_eval(d, &in, &out);
    if (out.queries > 20)
        abort();
    if (out.result == DMARCCHECK_PASS && fromhdr_msg_status(&from) != FROMHDR_OK)
        abort(); /* a pass needs one From domain (CVE-2019-16378 class) */
    dmarccheck_free(d);
    free(s);
    return 0;
}

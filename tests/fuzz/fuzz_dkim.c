/*
 * fuzz_dkim.c - DKIM over a hostile message and hostile key records:
 * dkimcheck.c with libopendkim, every header (DKIM-Signature parsing, our
 * d=/s=/i= copies), the body, and the key records of the lookups
 * (selector._domainkey.domain TXT) from the input's zone (fakedns.h).
 * The crypto runs on whatever the key record holds; a pass is not
 * expected, a crash, leak or hang is what is looked for.
 *
 * Input: header lines ("Name: value", continuation lines start with a
 * blank), a line "--", the body, a line "--", the zone.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dkimcheck.h"
#include "fakedns.h"
#include "fuzz.h"

static dns_t *fuzz_dns;
static dkimcheck_lib *fuzz_lib;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dns_options opt = { 0 };
    dkimcheck_options dko = { .min_key_bits = 512, .max_signatures = 3, .clock_skew = 300 };
    char err[128];

    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_dns = dns_new(&opt, err, sizeof(err));
    fuzz_lib = dkimcheck_lib_new(fuzz_dns, &dko, err, sizeof(err));
    if (fuzz_lib == NULL)
        abort();
    return 0;
}

/* Next section of s (up to "\n--\n" or the end); moves *s past it. */
static char *fuzz_section(char **s)
{
    char *start = *s, *sep = strstr(start, "\n--\n");
    if (sep == NULL) {
        *s = start + strlen(start);
        return start;
    }
    *sep = '\0';
    *s = sep + 4;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *all = fuzz_str(data, size), *cur = all;
    char *hdrs = fuzz_section(&cur), *body = fuzz_section(&cur), *zone = cur;
    dkimcheck_t *d;
    dkimcheck_sig *sigs = NULL;
    size_t nsigs = 0, nh = 0;
    char *line = hdrs;

    fakedns_set_zone(zone, strlen(zone));
    d = dkimcheck_new(fuzz_lib, "FUZZ");
    /* header fields: a line and its continuation lines */
    while (*line && nh < 200) {
        char *end = line, *colon, *value;
        while (*end && !(*end == '\n' && end[1] != ' ' && end[1] != '\t'))
            end++;
        char save = *end;
        *end = '\0';
        colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            value = colon + 1;
            dkimcheck_header(d, line, value);
            nh++;
        }
        if (save == '\0')
            break;
        line = end + 1;
    }
    dkimcheck_eoh(d);
    if (dkimcheck_wants_body(d)) {
        size_t bl = strlen(body), off = 0;
        while (off < bl) { /* chunks of varying size */
            size_t n = bl - off < 1 + (size % 97) ? bl - off : 1 + (size % 97);
            dkimcheck_body(d, (const unsigned char *)body + off, n);
            off += n;
        }
    }
    (void)dkimcheck_eom(d, &sigs, &nsigs);
    if (nsigs > 0 && sigs == NULL)
        abort();
    dkimcheck_sigs_free(sigs, nsigs);
    dkimcheck_free(d);
    free(all);
    return 0;
}

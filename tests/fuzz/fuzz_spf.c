/*
 * fuzz_spf.c - SPF over hostile DNS answers: the whole check path of
 * spfcheck.c, spfdns.c and spfrecord.c (record selection, our bounds for CVE-2023-42118, the
 * normalizer, libspf2's compiler and interpreter, includes, redirects,
 * macros, exp=, mx/ptr/a answers, the RFC 7208 limits) with the answers
 * taken from the input as a zone (fakedns.h), served at once.
 *
 * The sender is user@example.com, the HELO helo.example, the client
 * 192.0.2.1, or 2001:db8::1 when the input's length is odd.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "fakedns.h"
#include "fuzz.h"
#include "spfcheck.h"

static dns_t *fuzz_dns;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dns_options opt = { 0 };
    char err[128];

    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_dns = dns_new(&opt, err, sizeof(err));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spfcheck_input in = {
        .client_ip = size % 2 ? "2001:db8::1" : "192.0.2.1",
        .helo = "helo.example",
        .mail_from = "user@example.com",
        .receiver = "mx.example.net",
    };
    spfcheck_output out = { 0 };
    spfcheck_result r;

    fakedns_set_zone((const char *)data, size);
    r = spfcheck_mailfrom(fuzz_dns, &in, &out);
    if (r != out.result || r == SPFCHECK_UNSET || r > SPFCHECK_PERMERROR)
        abort();
    if (getenv("FUZZ_SPF_QUERIES"))
        fprintf(stderr, "queries: %u\n", fakedns_queries());
    /* RFC 7208 4.6.4: the record, 10 DNS terms, at most 10 names of each
     * mx/ptr term looked up (A or AAAA; both for a /0 term), exp= */
    if (fakedns_queries() > 1 + 10 * (1 + 2 * 10) + 1)
        abort();
    spfcheck_output_clear(&out);
    r = spfcheck_helo(fuzz_dns, &in, &out);
    if (r != out.result)
        abort();
    spfcheck_output_clear(&out);
    return 0;
}

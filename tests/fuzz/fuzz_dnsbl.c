/*
 * fuzz_dnsbl.c - DNS-list answers: the answer filters of a fixed set of
 * lists (octet ranges, a bit mask, the default 127.0.0.0/8 minus
 * 127.255.255.0/24) against A answers from the input's zone (fakedns.h),
 * the TXT reasons expanded into a reply text, and the pure helpers on the
 * input text (TXT sanitizing, the From-header domain, query names).
 *
 * Input: a zone, e.g. "2.0.2.192.zen.example A 127.0.0.2" and
 * "2.0.2.192.zen.example TXT listed, see ...".
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dnsbl.h"
#include "fakedns.h"
#include "fuzz.h"

static const char fuzz_dnsbl_conf[] =
    "authserv_id = \"mx.example.com\";\n"
    "dnsbl = (\n"
    "  { name = \"zen\"; zone = \"zen.example\"; type = \"ip\"; weight = 5; answers = [ \"127.0.0.[2..11]\" ]; },\n"
    "  { name = \"mask\"; zone = \"mask.example\"; type = [ \"helo\", \"sender\" ]; weight = 3; answers = [ \"&0.0.0.6\" ]; },\n"
    "  { name = \"any\"; zone = \"any.example\"; type = \"ip\"; weight = 1; },\n"
    "  { name = \"dbl\"; zone = \"dbl.example\"; type = [ \"sender\", \"from\", \"helo\" ]; weight = 2; answers = [ \"127.0.1.[2..99]\" ]; },\n"
    "  { name = \"wl\"; zone = \"wl.example\"; type = \"ip\"; weight = -10; answers = [ \"127.0.[0..255].[1..3]\", \"127.0.2.[4;6;8..9]\" ]; }\n"
    ");\n";

static conf_t *fuzz_conf;
static dns_t *fuzz_dns;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    dns_options opt = { 0 };
    char err[128];

    (void)argc;
    (void)argv;
    fuzz_quiet();
    fuzz_conf = conf_load_string(fuzz_dnsbl_conf, "fuzz.conf", NULL, NULL);
    fuzz_dns = dns_new(&opt, err, sizeof(err));
    if (fuzz_conf == NULL || fuzz_dns == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    char txt[DNSBL_TXT_MAX + 1], dom[256], q[300];
    dnsbl_lookup_t *l;
    fromhdr_value fv;
    facts_dnsbl d = {0};
    char *m, *e;

    dnsbl_txt_sanitize(s, size, txt);
    if (strlen(txt) > DNSBL_TXT_MAX)
        abort();
    fromhdr_parse(s, &fv);
    if (dnsbl_from_domain(&fv, dom, sizeof(dom)))
        (void)dnsbl_domain_qname(dom, "dbl.example", q, sizeof(q));
    (void)dnsbl_domain_qname(s, "dbl.example", q, sizeof(q));
    (void)dnsbl_ip_qname(s, "zen.example", q, sizeof(q));

    fakedns_set_zone(s, size);
    l = dnsbl_lookup_new(fuzz_conf->dnsbl, fuzz_dns);
    dnsbl_lookup_client(l, size % 2 ? "2001:db8::2" : "192.0.2.2", false);
    dnsbl_lookup_helo(l, "helo.example");
    dnsbl_lookup_sender(l, "sender.example", false);
    dnsbl_lookup_from(l, "from.example");
    dnsbl_lookup_result(l, STAGE_RCPT, &d);
    dnsbl_lookup_result(l, STAGE_EOM, &d);
    m = facts_dnsbl_matches(&d);
    if (facts_dnsbl_score(&d) != 0 && m == NULL)
        abort(); /* a score without a list that matched */
    e = dnsbl_lookup_expand(l, "blocked by ${dnsbl} ${dnsbl_zone} ${dnsbl_answer}: ${dnsbl_txt}");
    if (strlen(e) > 400)
        abort();
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            abort(); /* the reply text stays printable ASCII */
    free(m);
    free(e);
    facts_dnsbl_clear(&d);
    dnsbl_lookup_free(l);
    free(s);
    return 0;
}

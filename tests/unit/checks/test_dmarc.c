/*
 * test_dmarc.c - unit tests of policy/checks/fromhdr.c and policy/checks/dmarccheck.c.
 *
 * DMARC records are libunbound local data (static zones "example.",
 * "test.", "com.", "ar.", "ir."); names outside them go to the upstream
 * 127.0.0.1@1, which refuses: a server failure (temperror).  Nothing
 * leaves the host.  RFC 7489 mode reads Debian's PSL (publicsuffix).
 * Vectors from libopendmarc's tests: tests/data/dmarc/ (SOURCES there).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmarccheck.h"
#include "dns.h"
#include "fromhdr.h"
#include "testutil.h"
#include "xalloc.h"

#define PSL "/usr/share/publicsuffix/public_suffix_list.dat"

static const char *const zones[] = {
    "example. static", "test. static", "com. static", "ar. static", "ir. static", "walk. static", "tld. static",
    NULL,
};

static const char *const data[] = {
    /* an organizational domain with sp and np; existing subdomains */
    "_dmarc.org.example. TXT \"v=DMARC1; p=reject; sp=quarantine; np=reject; rua=mailto:d@org.example\"",
    "org.example. A 192.0.2.1",
    "sub.org.example. A 192.0.2.2",
    "mail.org.example. A 192.0.2.3",
    "a.mid.org.example. A 192.0.2.4",
    /* an intermediate label with its own record (not the org domain) */
    "_dmarc.mid.org.example. TXT \"v=DMARC1; p=none\"",
    /* strict alignment */
    "_dmarc.strict.example. TXT \"v=DMARC1; p=reject; adkim=s; aspf=s\"",
    "sub.strict.example. A 192.0.2.5",
    /* only p: sp and np default to it */
    "_dmarc.ponly.example. TXT \"v=DMARC1; p=quarantine\"",
    "sub.ponly.example. A 192.0.2.6",
    /* a PSD with psd=y, one org below it with a record, one without */
    "_dmarc.bank.example. TXT \"v=DMARC1; p=reject; psd=y\"",
    "_dmarc.giant.bank.example. TXT \"v=DMARC1; p=none\"",
    "nope.bank.example. A 192.0.2.7",
    "mail.mega.bank.example. A 192.0.2.8",
    /* t=y, legacy pct */
    "_dmarc.testing.example. TXT \"v=DMARC1; p=reject; t=y\"",
    "_dmarc.pct0.example. TXT \"v=DMARC1; p=reject; pct=0\"",
    "_dmarc.pct50.example. TXT \"v=DMARC1; p=quarantine; pct=50\"",
    "_dmarc.pct0t.example. TXT \"v=DMARC1; p=reject; pct=0; t=n\"",
    /* syntax */
    "_dmarc.badp.example. TXT \"v=DMARC1; p=bogus\"",
    "_dmarc.badprua.example. TXT \"v=DMARC1; p=bogus; rua=mailto:r@badprua.example\"",
    "_dmarc.nop.example. TXT \"v=DMARC1; rua=mailto:r@nop.example\"",
    "_dmarc.noprua.example. TXT \"v=DMARC1; adkim=s\"",
    "_dmarc.badsp.example. TXT \"v=DMARC1; p=reject; sp=rejected\"",
    "_dmarc.unknown.example. TXT \"v=DMARC1; p=reject; foo=bar; junk; x=\"",
    "_dmarc.two.example. TXT \"v=DMARC1; p=reject\"",
    "_dmarc.two.example. TXT \"v=DMARC1; p=none\"",
    "_dmarc.vlast.example. TXT \"p=reject; v=DMARC1\"",
    "_dmarc.split.example. TXT \"v=DMARC1; p=rej\" \"ect\"",
    "_dmarc.spf1.example. TXT \"v=spf1 -all\"",
    "_dmarc.spf1.example. TXT \"v=DMARC1; p=reject\"",
    /* the label limit: a record on a label the walk skips */
    "_dmarc.deep.example. TXT \"v=DMARC1; p=reject\"",
    "_dmarc.c.d.e.f.g.h.deep.example. TXT \"v=DMARC1; p=none; psd=n\"",
    "_dmarc.h.deep.example. TXT \"v=DMARC1; p=quarantine\"",
    /* a TLD record without psd, and a psd=y record at the From domain */
    "_dmarc.walk. TXT \"v=DMARC1; p=quarantine\"",
    "_dmarc.self.walk. TXT \"v=DMARC1; p=reject; psd=y\"",
    "other.walk. A 192.0.2.9",
    /* a single-label PSD (like _dmarc.gov) with psd=y */
    "_dmarc.tld. TXT \"v=DMARC1; p=reject; sp=quarantine; psd=y\"",
    "agency.tld. A 192.0.2.10",
    /* RFC 7489 mode, with the PSL */
    "_dmarc.bcx.com. TXT \"v=DMARC1; p=reject; sp=none\"",
    "_dmarc.educ.ar. TXT \"v=DMARC1; p=quarantine\"",
    NULL,
};

static dns_t *dns;

static void setup(void)
{
    dns_options o;
    char err[256] = "";

    memset(&o, 0, sizeof(o));
    o.upstream = "127.0.0.1@1";
    o.timeout_ms = 1000;
    o.local_zones = zones;
    o.local_data = data;
    dns = dns_new(&o, err, sizeof(err));
    ck_assert_msg(dns != NULL, "dns_new: %s", err);
}

static void teardown(void)
{
    dns_free(dns);
    dns = NULL;
}

static dmarccheck_lib *lib_new(dmarccheck_mode mode)
{
    dmarccheck_options o = {.mode = mode, .psl_file = PSL};
    char err[256] = "";
    dmarccheck_lib *lib = dmarccheck_lib_new(dns, &o, err, sizeof(err));

    ck_assert_msg(lib != NULL, "dmarccheck_lib_new: %s", err);
    return lib;
}

/* Evaluate one message: From values (NULL-terminated), SPF pass domain
 * (or NULL), DKIM pass domain (or NULL). */
static dmarccheck_output eval_msg(dmarccheck_lib *lib, const char *const *froms, const char *spf_pass,
                                  const char *dkim_pass)
{
    fromhdr_msg fm;
    dkimcheck_sig sig;
    dmarccheck_input in = {0};
    dmarccheck_output out;
    dmarccheck_t *d;

    fromhdr_msg_reset(&fm);
    for (size_t i = 0; froms && froms[i]; i++)
        fromhdr_msg_add(&fm, froms[i]);
    memset(&sig, 0, sizeof(sig));
    if (spf_pass) {
        in.spf = SPFCHECK_PASS;
        in.spf_domain = spf_pass;
    } else {
        in.spf = SPFCHECK_FAIL;
        in.spf_domain = "unrelated.test";
    }
    if (dkim_pass) {
        sig.result = DKIMCHECK_PASS;
        sig.domain = (char *)dkim_pass;
        in.sigs = &sig;
        in.nsigs = 1;
    }
    d = dmarccheck_start(lib, &fm);
    dmarccheck_eval(d, &in, &out);
    dmarccheck_free(d);
    return out;
}

static dmarccheck_output eval_from(dmarccheck_lib *lib, const char *from, const char *spf_pass, const char *dkim_pass)
{
    const char *froms[] = {from, NULL};
    return eval_msg(lib, froms, spf_pass, dkim_pass);
}

#define ck_res(out, want) \
    ck_assert_msg((out).result == (want), "result %s, want %s (%s)", dmarccheck_result_name((out).result), \
                  dmarccheck_result_name(want), (out).reason ? (out).reason : "-")
#define ck_pol(p, want) \
    ck_assert_msg((p) == (want), "policy %s, want %s", dmarccheck_policy_name(p), dmarccheck_policy_name(want))

/* ---- From header ------------------------------------------------------------ */

START_TEST(test_from_edge_cases)
{
    static const struct {
        const char *v;
        fromhdr_status st;
        const char *domain; /* for OK */
    } cases[] = {
        {"user@Example.COM", FROMHDR_OK, "example.com"},
        {"Joe Johnson <joe@joe.com>", FROMHDR_OK, "joe.com"},
        {"\"Johnson, Joe <joe@joe.com>\" joe@joe.com", FROMHDR_OK, "joe.com"},
        {"\"Joe Johnson\" <joe@joe.com>", FROMHDR_OK, "joe.com"},
        {"(Joe Johnson) joe@joe.com", FROMHDR_OK, "joe.com"},
        {"Mail From:<joe@joe.com>", FROMHDR_OK, "joe.com"},
        {"(,) joe@joe.com", FROMHDR_OK, "joe.com"},
        {"\"( bob@bob.com)\" joe@joe.com", FROMHDR_OK, "joe.com"},
        {"From: Davide D'Marco <user@blah.com>", FROMHDR_OK, "blah.com"},
        {"From: \"\\\"Micron Technology, Inc.\\\"\" <user@blah.com>", FROMHDR_OK, "blah.com"},
        {"From: \"Joe J, <joe@joe.com>\" <joe@blah.com>", FROMHDR_OK, "blah.com"},
        /* folded, comments, encoded display names */
        {"\"A Very Long\r\n Name\" (a (nested) comment)\r\n\t<user@Folded.Example>", FROMHDR_OK, "folded.example"},
        {"=?utf-8?q?a@victim.example?= <user@real.example>", FROMHDR_OK, "real.example"},
        {"=?UTF-8?B?w4lyaWM=?= <eric@enc.example>", FROMHDR_OK, "enc.example"},
        {"user@example.org.", FROMHDR_OK, "example.org"},
        {"<@relay.example,@r2.example:user@route.example>", FROMHDR_OK, "route.example"},
        /* several mailboxes */
        {"a@same.example, B <b@SAME.example>", FROMHDR_OK, "same.example"},
        {"Joe Johnson <joe@joe.com>, ace@ace.com", FROMHDR_MULTIPLE_DOMAINS, NULL},
        {"joe@joe.com, ace@ace.com", FROMHDR_MULTIPLE_DOMAINS, NULL},
        /* groups (RFC 6854) */
        {"team: a@grp.example, b@grp.example;", FROMHDR_OK, "grp.example"},
        {"undisclosed-recipients:;", FROMHDR_NO_DOMAIN, NULL},
        {"a: b@x.example; c: d@x.example;", FROMHDR_OK, "x.example"},
        /* no domain, literal */
        {"no address here", FROMHDR_NO_DOMAIN, NULL},
        {"user", FROMHDR_NO_DOMAIN, NULL},
        {"user@", FROMHDR_NO_DOMAIN, NULL},
        {"<>", FROMHDR_NO_DOMAIN, NULL},
        {"", FROMHDR_NO_DOMAIN, NULL},
        {"<user@[192.0.2.1]>", FROMHDR_IP_LITERAL, NULL},
        {"user@[IPv6:2001:db8::1]", FROMHDR_IP_LITERAL, NULL},
        /* IDN */
        {"J\xc3\xb6rg <j@b\xc3\xbc" "cher.example>", FROMHDR_OK, "xn--bcher-kva.example"},
        {"user@xn--bcher-kva.EXAMPLE", FROMHDR_OK, "xn--bcher-kva.example"},
        {"user@\xe2\x98\x83.example", FROMHDR_INVALID, NULL}, /* U+2603 is not IDNA2008-valid */
        {"user@bad\xff.example", FROMHDR_INVALID, NULL},
        /* broken */
        {"<<<><joe@joe.com>>>", FROMHDR_INVALID, NULL},
        {"<a@b.example> <c@d.example>", FROMHDR_INVALID, NULL},
        {"\"unterminated <a@b.example>", FROMHDR_INVALID, NULL},
        {"(unterminated <a@b.example>", FROMHDR_INVALID, NULL},
        {"<a@b.example", FROMHDR_INVALID, NULL},
        {"a@b@c.example", FROMHDR_INVALID, NULL},
        {"user@exa mple.com", FROMHDR_INVALID, NULL},
        {"user@-.example..com", FROMHDR_INVALID, NULL},
        {"a@x.example;", FROMHDR_INVALID, NULL},
        {"a: b: c@d.example;;", FROMHDR_INVALID, NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fromhdr_value v;
        fromhdr_parse(cases[i].v, &v);
        ck_assert_msg(v.status == cases[i].st, "[%s]: %s, want %s", cases[i].v, fromhdr_status_name(v.status),
                      fromhdr_status_name(cases[i].st));
        if (cases[i].domain)
            ck_assert_str_eq(v.domain, cases[i].domain);
    }
}
END_TEST

START_TEST(test_from_bounds)
{
    fromhdr_value v;
    size_t n = FROMHDR_MAX_LEN + 10;
    char *big = xmalloc(n + 1);

    /* too long */
    memset(big, 'a', n);
    big[n] = '\0';
    big[5] = '@';
    fromhdr_parse(big, &v);
    ck_assert_int_eq(v.status, FROMHDR_INVALID);
    /* deep comments */
    memset(big, '(', 100);
    snprintf(big + 100, n - 100, "x");
    fromhdr_parse(big, &v);
    ck_assert_int_eq(v.status, FROMHDR_INVALID);
    /* too many mailboxes (all the same domain) */
    big[0] = '\0';
    for (int i = 0; i < FROMHDR_MAX_MAILBOXES + 1; i++)
        strcat(big, "a@m.example,");
    fromhdr_parse(big, &v);
    ck_assert_int_eq(v.status, FROMHDR_INVALID);
    fromhdr_parse(NULL, &v);
    ck_assert_int_eq(v.status, FROMHDR_NO_DOMAIN);
    free(big);
}
END_TEST

START_TEST(test_from_message)
{
    fromhdr_msg m;

    fromhdr_msg_reset(&m);
    ck_assert_int_eq(fromhdr_msg_status(&m), FROMHDR_NONE);
    ck_assert_ptr_null(fromhdr_msg_domain(&m));
    fromhdr_msg_add(&m, "a@one.example");
    ck_assert_int_eq(fromhdr_msg_status(&m), FROMHDR_OK);
    ck_assert_str_eq(fromhdr_msg_domain(&m), "one.example");
    /* a second From field, even with the same domain */
    fromhdr_msg_add(&m, "a@one.example");
    ck_assert_int_eq(fromhdr_msg_status(&m), FROMHDR_MULTIPLE);
    ck_assert_ptr_null(fromhdr_msg_domain(&m));
    ck_assert_ptr_null(fromhdr_msg_address(&m));
}
END_TEST

/* The author's address (our own report mail is recognized by it). */
START_TEST(test_from_address)
{
    static const struct {
        const char *v;
        const char *address; /* NULL: none */
    } cases[] = {
        {"dmarc-reports@Example.ORG", "dmarc-reports@example.org"},
        {"\"Reports\" <dmarc-reports@example.org>", "dmarc-reports@example.org"},
        {"Reports <Dmarc-Reports@example.org.>", "Dmarc-Reports@example.org"},
        {"(c) \"Joe, <x@y.example>\" joe@joe.example", "joe@joe.example"},
        {"a@same.example, b@same.example", NULL}, /* two mailboxes */
        {"team: a@grp.example;", "a@grp.example"},
        {"a@x.example, b@y.example", NULL},
        {"<>", NULL},
        {"user", NULL},
        {"user@[192.0.2.1]", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fromhdr_msg m;
        const char *a;

        fromhdr_msg_reset(&m);
        fromhdr_msg_add(&m, cases[i].v);
        a = fromhdr_msg_address(&m);
        if (cases[i].address == NULL)
            ck_assert_msg(a == NULL, "[%s]: %s, want none", cases[i].v, a);
        else
            ck_assert_msg(a != NULL && strcmp(a, cases[i].address) == 0, "[%s]: %s, want %s", cases[i].v,
                          a ? a : "(none)", cases[i].address);
    }
}
END_TEST

/* ---- records and the walk ------------------------------------------------------ */

START_TEST(test_record_parse)
{
    dmarccheck_record r;

    const char *full = "v=DMARC1; p=reject; sp=none; np=quarantine; adkim=s; aspf=r; psd=y; t=y; pct=20";

    ck_assert(dmarccheck_record_parse(full, strlen(full), &r));
    ck_pol(r.p, DMARCCHECK_POLICY_REJECT);
    ck_pol(r.sp, DMARCCHECK_POLICY_NONE);
    ck_pol(r.np, DMARCCHECK_POLICY_QUARANTINE);
    ck_assert(r.adkim_strict && !r.aspf_strict);
    ck_assert_int_eq(r.psd, 'y');
    ck_assert_int_eq(r.t, 1);
    ck_assert_int_eq(r.pct, -1); /* historic (RFC 9989 9.3): not read */
    ck_assert(dmarccheck_record_parse("v=DMARC1; pct=0; p=none", 23, &r));
    ck_assert_int_eq(r.pct, -1);
    ck_assert_int_eq(r.t, -1);
    /* whitespace around tags and '=' */
    ck_assert(dmarccheck_record_parse(" v = DMARC1 ;p = quarantine ; ", 30, &r));
    ck_pol(r.p, DMARCCHECK_POLICY_QUARANTINE);
    /* not a DMARC record */
    ck_assert(!dmarccheck_record_parse("v=DMARC2; p=reject", 18, &r));
    ck_assert(!dmarccheck_record_parse("p=reject; v=DMARC1", 18, &r));
    ck_assert(!dmarccheck_record_parse("v=dmarc1; p=reject", 18, &r));
    ck_assert(!dmarccheck_record_parse("", 0, &r));
    ck_assert(!dmarccheck_record_parse("v=DMARC1x", 9, &r));
    /* bad values: flagged, defaults kept; unknown tags ignored */
    ck_assert(dmarccheck_record_parse("v=DMARC1; p=bob; adkim=bob; foo=bar; pct=500; psd=x", 51, &r));
    ck_assert(r.p_bad);
    ck_assert(!r.adkim_strict);
    ck_assert_int_eq(r.pct, -1);
    ck_assert_int_eq(r.psd, 'u');
    ck_assert(!r.rua);
    ck_assert(dmarccheck_record_parse("v=DMARC1; rua=ftp://abuse.com", 29, &r));
    ck_assert(r.rua);
    ck_assert(dmarccheck_record_parse("v=DMARC1; rua=nonsense", 22, &r));
    ck_assert(!r.rua);
}
END_TEST

START_TEST(test_record_rua)
{
    char rua[64], small[8];
    char big[5000];
    const char *rec = "v=DMARC1; p=reject; rua = mailto:a@example.com, mailto:b@example.net!10m ;ruf=mailto:x@y";

    ck_assert(dmarccheck_record_rua(rec, strlen(rec), rua, sizeof(rua)));
    ck_assert_str_eq(rua, "mailto:a@example.com, mailto:b@example.net!10m");
    /* the last rua tag counts, as for dmarccheck_record_parse */
    ck_assert(dmarccheck_record_rua("v=DMARC1; rua=mailto:a@x; rua=mailto:b@y", 40, rua, sizeof(rua)));
    ck_assert_str_eq(rua, "mailto:b@y");
    /* an empty rua is a rua tag with an empty value */
    ck_assert(dmarccheck_record_rua("v=DMARC1; rua=", 14, rua, sizeof(rua)));
    ck_assert_str_eq(rua, "");
    /* none, not a record, too small a buffer, a record too long to read */
    ck_assert(!dmarccheck_record_rua("v=DMARC1; p=none", 16, rua, sizeof(rua)));
    ck_assert_str_eq(rua, "");
    ck_assert(!dmarccheck_record_rua("p=none; rua=mailto:a@x", 22, rua, sizeof(rua)));
    ck_assert(!dmarccheck_record_rua(rec, strlen(rec), small, sizeof(small)));
    ck_assert_str_eq(small, "");
    memset(big, 'a', sizeof(big));
    memcpy(big, "v=DMARC1; rua=mailto:a@x; x=", 28);
    ck_assert(!dmarccheck_record_rua(big, sizeof(big), rua, sizeof(rua)));
    /* a NUL byte inside the record reads as a space */
    ck_assert(dmarccheck_record_rua("v=DMARC1; rua=mailto:a@x\0; p=none", 33, rua, sizeof(rua)));
    ck_assert_str_eq(rua, "mailto:a@x");

    ck_assert(dmarccheck_is_record("v=DMARC1", 8));
    ck_assert(dmarccheck_is_record(" v = DMARC1 ; whatever", 22));
    ck_assert(!dmarccheck_is_record("v=DMARC10", 9));
    ck_assert(!dmarccheck_is_record("v=spf1 -all", 11));
    ck_assert(!dmarccheck_is_record("", 0));
    ck_assert(!dmarccheck_is_record(NULL, 0));
}
END_TEST

START_TEST(test_walk_names)
{
    char names[8][DMARCCHECK_DOMAIN_MAX];
    size_t n;

    n = dmarccheck_walk_names("a.mail.example.com", names, 8);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(names[0], "a.mail.example.com");
    ck_assert_str_eq(names[1], "mail.example.com");
    ck_assert_str_eq(names[3], "com");
    /* 10 labels: the full name, then the last 7, 6, ... 1: 8 queries */
    n = dmarccheck_walk_names("a.b.c.d.e.f.g.h.deep.example", names, 8);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(names[0], "a.b.c.d.e.f.g.h.deep.example");
    ck_assert_str_eq(names[1], "d.e.f.g.h.deep.example");
    ck_assert_str_eq(names[2], "e.f.g.h.deep.example");
    ck_assert_str_eq(names[7], "example");
    /* exactly 8 labels: jump to 7 = one label less */
    n = dmarccheck_walk_names("1.2.3.4.5.6.7.x", names, 8);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(names[1], "2.3.4.5.6.7.x");
    /* 30 labels: still 8 */
    n = dmarccheck_walk_names("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.1.2.3.4", names, 8);
    ck_assert_uint_eq(n, 8);
    ck_assert_str_eq(names[1], "x.y.z.1.2.3.4");
    ck_assert_uint_eq(dmarccheck_walk_names("", names, 8), 0);
}
END_TEST

/* ---- alignment ------------------------------------------------------------------ */

/* strict/relaxed x SPF/DKIM x same/subdomain/org domain/unrelated */
static void alignment_matrix(dmarccheck_mode mode)
{
    static const struct {
        const char *from, *id;
        bool aligned;
    } cases[] = {
        /* relaxed (org.example: adkim/aspf default r) */
        {"org.example", "org.example", true},
        {"org.example", "mail.org.example", true},      /* identifier is a subdomain */
        {"sub.org.example", "org.example", true},       /* identifier is the org domain */
        {"sub.org.example", "mail.org.example", true},  /* siblings */
        {"org.example", "unrelated.test", false},
        {"org.example", "xorg.example", false},         /* not on a label boundary */
        {"org.example", "example", false},              /* a PSD never aligns */
        /* strict (strict.example: adkim=s aspf=s) */
        {"strict.example", "strict.example", true},
        {"strict.example", "STRICT.example.", true},
        {"strict.example", "sub.strict.example", false},
        {"sub.strict.example", "strict.example", false},
        {"strict.example", "unrelated.test", false},
    };
    dmarccheck_lib *lib = lib_new(mode);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char from[300];
        snprintf(from, sizeof(from), "user@%s", cases[i].from);
        for (int dkim = 0; dkim < 2; dkim++) {
            dmarccheck_output o = eval_from(lib, from, dkim ? NULL : cases[i].id, dkim ? cases[i].id : NULL);
            ck_assert_msg((dkim ? o.dkim_aligned : o.spf_aligned) == cases[i].aligned,
                          "%s: %s %s vs From %s: aligned %d", mode == DMARCCHECK_RFC9989 ? "rfc9989" : "rfc7489",
                          dkim ? "dkim" : "spf", cases[i].id, cases[i].from, !cases[i].aligned);
            ck_assert(!(dkim ? o.spf_aligned : o.dkim_aligned));
            ck_res(o, cases[i].aligned ? DMARCCHECK_PASS : DMARCCHECK_FAIL);
        }
    }
    dmarccheck_lib_free(lib);
}

START_TEST(test_alignment_matrix_9989)
{
    alignment_matrix(DMARCCHECK_RFC9989);
}
END_TEST

START_TEST(test_alignment_matrix_7489)
{
    alignment_matrix(DMARCCHECK_RFC7489);
}
END_TEST

/* ---- one From field: the table ------------------------------------------------- */

/* What a row expects.  A field left out of a row (0 or NULL) is not
 * checked; the enum values are shifted by one so that UNSET can be
 * expected: RES(NONE), POL(UNSET), FROMST(IP_LITERAL). */
#define RES(r) (DMARCCHECK_##r + 1)
#define POL(p) (DMARCCHECK_POLICY_##p + 1)
#define FROMST(s) (FROMHDR_##s + 1)
enum { YES = 1, NO = 2 }; /* an expected bool */
#define RFC9989 DMARCCHECK_RFC9989
#define RFC7489 DMARCCHECK_RFC7489

typedef struct dmarc_case {
    dmarccheck_mode mode;
    const char *from;       /* the one From field */
    const char *spf_pass;   /* SPF pass domain, NULL: SPF fails */
    const char *dkim_pass;  /* DKIM pass domain, NULL: no signature */
    int result;             /* RES() */
    int from_status;        /* FROMST() */
    const char *domain;     /* the From domain */
    const char *org_domain;
    const char *policy_domain;
    const char *policy_tag; /* "p", "sp", "np" */
    bool no_policy_tag;     /* policy_tag is NULL */
    int p, sp, published, applied; /* POL() */
    int spf_aligned, dkim_aligned, testing; /* YES or NO */
    unsigned queries_max;   /* at most this many DNS queries */
} dmarc_case;

/* 4 labels of 59 octets below org.example */
#define LAB59 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const dmarc_case cases[] = {
    /* -- organizational domain under a PSD -- */
    /* RFC 9989's example: the walk from giant.bank.example stops at the
     * psd=y record of bank.example; mega.bank.example is another org */
    {RFC9989, "u@giant.bank.example", "mail.giant.bank.example", "mail.mega.bank.example", .result = RES(PASS),
     .spf_aligned = YES, .dkim_aligned = NO, .org_domain = "giant.bank.example",
     .policy_domain = "giant.bank.example"},
    /* the same with only the other org's signature */
    {RFC9989, "u@giant.bank.example", NULL, "mail.mega.bank.example", .result = RES(FAIL), .applied = POL(NONE)},

    /* -- which policy: p, sp, np -- */
    /* the From domain's own record: p */
    {RFC9989, "u@org.example", NULL, NULL, .result = RES(FAIL), .policy_tag = "p", .published = POL(REJECT),
     .applied = POL(REJECT), .policy_domain = "org.example", .org_domain = "org.example"},
    /* an existing subdomain: sp, from the org domain's record */
    {RFC9989, "u@sub.org.example", NULL, NULL, .result = RES(FAIL), .policy_tag = "sp",
     .applied = POL(QUARANTINE), .policy_domain = "org.example", .p = POL(REJECT), .sp = POL(QUARANTINE)},
    /* a non-existent subdomain: np */
    {RFC9989, "u@ghost.org.example", NULL, NULL, .result = RES(FAIL), .policy_tag = "np", .applied = POL(REJECT)},
    /* p only: subdomains get p (an existing one) */
    {RFC9989, "u@sub.ponly.example", NULL, NULL, .policy_tag = "p", .applied = POL(QUARANTINE)},
    /* p only: subdomains get p (a non-existent one) */
    {RFC9989, "u@ghost.ponly.example", NULL, NULL, .policy_tag = "p", .applied = POL(QUARANTINE)},
    /* no record anywhere; SPF alignment is reported even without a policy */
    {RFC9989, "u@nothing.example", "nothing.example", NULL, .result = RES(NONE), .applied = POL(UNSET),
     .no_policy_tag = true, .spf_aligned = YES},

    /* -- the tree walk -- */
    /* a record at an intermediate label: the org domain is the one with
     * the fewest labels, and the policy is the org domain's (sp) */
    {RFC9989, "u@a.mid.org.example", NULL, NULL, .org_domain = "org.example", .policy_domain = "org.example",
     .policy_tag = "sp", .applied = POL(QUARANTINE)},
    /* ... and mid.org.example itself uses its own record */
    {RFC9989, "u@mid.org.example", NULL, NULL, .policy_domain = "mid.org.example", .applied = POL(NONE)},
    /* an intermediate identifier still aligns (same org domain) */
    {RFC9989, "u@a.mid.org.example", NULL, "mid.org.example", .result = RES(PASS)},
    /* psd=y: the org domain is one label below the PSD; without a record
     * of its own, the PSD's record is the policy */
    {RFC9989, "u@nope.bank.example", NULL, NULL, .org_domain = "nope.bank.example", .policy_domain = "bank.example",
     .policy_tag = "p", .applied = POL(REJECT), .result = RES(FAIL)},
    /* psd=y: a deeper name under the PSD: org is the label below it */
    {RFC9989, "u@x.y.nope.bank.example", "nope.bank.example", NULL, .org_domain = "nope.bank.example",
     .result = RES(PASS)},
    /* the label limit: 10 labels, 8 queries; the record on the skipped
     * label c.d.e.f.g.h.deep.example (psd=n) is never seen */
    {RFC9989, "u@a.b.c.d.e.f.g.h.deep.example", NULL, NULL, .queries_max = 8, .org_domain = "deep.example",
     .policy_domain = "deep.example", .applied = POL(REJECT)},
    /* ... while from 8 labels it is queried: psd=n makes it the org */
    {RFC9989, "u@c.d.e.f.g.h.deep.example", NULL, NULL, .org_domain = "c.d.e.f.g.h.deep.example",
     .policy_domain = "c.d.e.f.g.h.deep.example", .applied = POL(NONE)},

    /* -- t=y and pct (the pct=50 samples: test_pct_sampling) -- */
    /* t=y: the policy one step lower */
    {RFC9989, "u@testing.example", NULL, NULL, .result = RES(FAIL), .testing = YES, .published = POL(REJECT),
     .applied = POL(QUARANTINE)},
    /* RFC 9989: pct is a historic tag (9.3, A.6), ignored like any unknown
     * tag: pct=0 is not read as t=y */
    {RFC9989, "u@pct0.example", NULL, NULL, .testing = NO, .applied = POL(REJECT)},
    /* ... nor with t=n beside it */
    {RFC9989, "u@pct0t.example", NULL, NULL, .testing = NO, .applied = POL(REJECT)},
    /* a pass applies nothing */
    {RFC9989, "u@testing.example", "testing.example", NULL, .result = RES(PASS), .applied = POL(NONE)},
    /* RFC 7489: pct=0 never samples (one step lower) */
    {RFC7489, "u@pct0.example", NULL, NULL, .applied = POL(QUARANTINE)},
    /* RFC 7489 has no t: t=y is an unknown tag there */
    {RFC7489, "u@testing.example", NULL, NULL, .applied = POL(REJECT)},

    /* -- record errors -- */
    /* no valid p and no rua: no DMARC processing (permerror) */
    {RFC9989, "u@badp.example", NULL, NULL, .result = RES(PERMERROR), .applied = POL(UNSET)},
    /* an invalid p with a rua: p=none */
    {RFC9989, "u@badprua.example", NULL, NULL, .result = RES(FAIL), .applied = POL(NONE)},
    /* no p, with a rua: p=none */
    {RFC9989, "u@nop.example", NULL, NULL, .result = RES(FAIL), .applied = POL(NONE)},
    /* an invalid sp makes the record p=none with a rua, else no DMARC
     * (RFC 9989 4.10.1), even where p would apply */
    {RFC9989, "u@badsp.example", NULL, NULL, .result = RES(PERMERROR), .applied = POL(UNSET)},
    /* unknown tags are ignored */
    {RFC9989, "u@unknown.example", NULL, NULL, .result = RES(FAIL), .applied = POL(REJECT)},
    /* two v=DMARC1 records: discarded; nothing else found: permerror */
    {RFC9989, "u@two.example", NULL, NULL, .result = RES(PERMERROR)},
    /* v not first: not a record */
    {RFC9989, "u@vlast.example", NULL, NULL, .result = RES(NONE)},
    /* a record split in two strings is joined */
    {RFC9989, "u@split.example", NULL, NULL, .applied = POL(REJECT)},
    /* a non-DMARC TXT beside the record does not count */
    {RFC9989, "u@spf1.example", NULL, NULL, .applied = POL(REJECT)},
    /* RFC 7489 (libopendmarc's parser): p=bogus is a bad record, none */
    {RFC7489, "u@badprua.example", NULL, NULL, .result = RES(NONE)},
    /* RFC 7489: no p, a bad record too */
    {RFC7489, "u@nop.example", NULL, NULL, .result = RES(NONE)},
    /* RFC 7489: two records, permerror */
    {RFC7489, "u@two.example", NULL, NULL, .result = RES(PERMERROR)},

    /* -- RFC 9989 4.7: a record without a p tag is read as p=none, with or
     * without a rua (only an invalid p needs the rua, 4.10.1) -- */
    /* no p, no rua: p=none */
    {RFC9989, "u@noprua.example", NULL, NULL, .result = RES(FAIL), .policy_tag = "p", .p = POL(NONE),
     .published = POL(NONE), .applied = POL(NONE), .policy_domain = "noprua.example"},
    /* the rest of the record still counts: adkim=s (a subdomain fails) */
    {RFC9989, "u@noprua.example", NULL, "sub.noprua.example", .result = RES(FAIL)},
    /* adkim=s: the domain itself passes */
    {RFC9989, "u@noprua.example", NULL, "noprua.example", .result = RES(PASS)},

    /* -- RFC 9989 4.10 step 2: a psd=y record at the starting point ends
     * the walk; 4.10.2: the PSD is then its own organizational domain, and
     * a record above it (here one without psd) is never used -- */
    /* the psd=y record at the From domain is the policy */
    {RFC9989, "u@self.walk", NULL, NULL, .result = RES(FAIL), .org_domain = "self.walk",
     .policy_domain = "self.walk", .applied = POL(REJECT)},
    /* other.walk's org domain is walk (fewest labels): not aligned */
    {RFC9989, "u@self.walk", "other.walk", "other.walk", .result = RES(FAIL), .spf_aligned = NO,
     .dkim_aligned = NO},
    /* a name below the psd=y domain is an organization of its own (one
     * label below the PSD, 4.10.2 rule 2): not aligned with the PSD */
    {RFC9989, "u@self.walk", NULL, "mail.self.walk", .result = RES(FAIL), .dkim_aligned = NO},
    /* ... only the PSD's own name is */
    {RFC9989, "u@self.walk", NULL, "self.walk", .result = RES(PASS), .dkim_aligned = YES},

    /* -- RFC 9989 4.10: the walk goes down to the single label, so a PSD
     * record such as _dmarc.gov with psd=y is found (4.10.1: the PSD's
     * policy when the organizational domain has none) -- */
    /* the PSD's sp */
    {RFC9989, "u@agency.tld", NULL, NULL, .result = RES(FAIL), .org_domain = "agency.tld", .policy_domain = "tld",
     .policy_tag = "sp", .applied = POL(QUARANTINE)},
    /* relaxed alignment under the PSD: the same org domain aligns */
    {RFC9989, "u@agency.tld", "mail.agency.tld", NULL, .result = RES(PASS)},
    /* ... a sibling organization does not */
    {RFC9989, "u@agency.tld", NULL, "other.tld", .result = RES(FAIL)},
    /* a name that does not exist: np absent, sp applies */
    {RFC9989, "u@ghost.tld", NULL, NULL, .policy_domain = "tld", .policy_tag = "sp"},

    /* -- the From field (several From fields: test_from_fields) -- */
    /* two domains in one field: never pass, even if aligned */
    {RFC9989, "a@org.example, b@other.test", "org.example", NULL, .result = RES(PERMERROR),
     .from_status = FROMST(MULTIPLE_DOMAINS)},
    /* several mailboxes of one domain: evaluated */
    {RFC9989, "a@org.example, b@ORG.example", NULL, NULL, .result = RES(FAIL), .applied = POL(REJECT)},
    /* an address literal: no domain to evaluate */
    {RFC9989, "user@[192.0.2.1]", NULL, NULL, .result = RES(PERMERROR), .from_status = FROMST(IP_LITERAL)},
    /* an empty group: no domain */
    {RFC9989, "undisclosed:;", NULL, NULL, .result = RES(PERMERROR), .from_status = FROMST(NO_DOMAIN)},
    /* a group does not hide a domain */
    {RFC9989, "x: a@org.example;", NULL, NULL, .result = RES(FAIL), .applied = POL(REJECT)},
    /* folded and encoded: the address domain is evaluated */
    {RFC9989, "=?utf-8?q?ceo@other.test?=\r\n <ceo@org.example>", NULL, NULL, .domain = "org.example",
     .applied = POL(REJECT)},

    /* -- DNS failures -- */
    /* outside the local zones: the upstream refuses (server failure) */
    {RFC9989, "u@slow.invalidtld", NULL, NULL, .result = RES(TEMPERROR), .applied = POL(UNSET)},
    /* an identifier under the failing name: its walk fails, the From
     * domain's walk answers; no other aligned pass: temperror, not fail */
    {RFC9989, "u@sub.slow.invalidtld", "slow.invalidtld", NULL, .result = RES(TEMPERROR)},
    /* an exactly aligned pass needs no organizational domain */
    {RFC9989, "u@org.example", "org.example", NULL, .result = RES(PASS)},
    /* review finding: a long subdomain of a p=reject domain is a fail, not
     * a temperror; np of org.example: no such subdomain */
    {RFC9989, "ceo@" LAB59 "." LAB59 "." LAB59 "." LAB59 ".org.example", NULL, NULL, .result = RES(FAIL),
     .applied = POL(REJECT)},

    /* -- RFC 7489: libopendmarc's organizational-domain vectors with
     * Debian's PSL -- */
    /* one label below com: bcx.com's record, sp for its subdomain */
    {RFC7489, "u@a.b.c.bcx.com", NULL, NULL, .org_domain = "bcx.com", .policy_domain = "bcx.com",
     .policy_tag = "sp", .applied = POL(NONE)},
    /* edu.ar is a public suffix, educ.ar is not: one label below ar */
    {RFC7489, "u@a.b.c.educ.ar", NULL, NULL, .org_domain = "educ.ar", .applied = POL(QUARANTINE)},
    /* the PSL lists xn--mgba3a4f16a.ir in Unicode: a suffix all the same */
    {RFC7489, "u@a.b.c.xn--mgba3a4f16a.ir", NULL, NULL, .org_domain = "c.xn--mgba3a4f16a.ir"},
    /* relaxed alignment across a PSL suffix */
    {RFC7489, "u@a.bcx.com", "b.bcx.com", NULL, .result = RES(PASS)},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

/* "row N (mode, from): " before every message */
#define CK_ROW(cond, i, c, fmt, ...) \
    ck_assert_msg(cond, "row %zu (%s, %s): " fmt, i, (c)->mode == RFC9989 ? "rfc9989" : "rfc7489", (c)->from, \
                  __VA_ARGS__)

static void ck_row_str(size_t i, const dmarc_case *c, const char *field, const char *got, const char *want)
{
    if (want)
        CK_ROW(got && strcmp(got, want) == 0, i, c, "%s \"%s\", want \"%s\"", field, got ? got : "(null)", want);
}

static void ck_row_pol(size_t i, const dmarc_case *c, const char *field, dmarccheck_policy got, int want)
{
    if (want)
        CK_ROW(got == (dmarccheck_policy)(want - 1), i, c, "%s %s, want %s", field, dmarccheck_policy_name(got),
               dmarccheck_policy_name((dmarccheck_policy)(want - 1)));
}

static void ck_row_bool(size_t i, const dmarc_case *c, const char *field, bool got, int want)
{
    if (want)
        CK_ROW(got == (want == YES), i, c, "%s %d, want %d", field, got, want == YES);
}

/* Every expectation of row i against what DMARC said. */
static void ck_row(size_t i, const dmarc_case *c, const dmarccheck_output *o)
{
    if (c->result)
        CK_ROW(o->result == (dmarccheck_result)(c->result - 1), i, c, "result %s, want %s (%s)",
               dmarccheck_result_name(o->result), dmarccheck_result_name((dmarccheck_result)(c->result - 1)),
               o->reason ? o->reason : "-");
    if (c->from_status)
        CK_ROW(o->from == (fromhdr_status)(c->from_status - 1), i, c, "From %s, want %s",
               fromhdr_status_name(o->from), fromhdr_status_name((fromhdr_status)(c->from_status - 1)));
    ck_row_str(i, c, "domain", o->domain, c->domain);
    ck_row_str(i, c, "org_domain", o->org_domain, c->org_domain);
    ck_row_str(i, c, "policy_domain", o->policy_domain, c->policy_domain);
    ck_row_str(i, c, "policy_tag", o->policy_tag, c->policy_tag);
    if (c->no_policy_tag)
        CK_ROW(o->policy_tag == NULL, i, c, "policy_tag \"%s\", want NULL", o->policy_tag);
    ck_row_pol(i, c, "p", o->p, c->p);
    ck_row_pol(i, c, "sp", o->sp, c->sp);
    ck_row_pol(i, c, "published", o->published, c->published);
    ck_row_pol(i, c, "applied", o->applied, c->applied);
    ck_row_bool(i, c, "spf_aligned", o->spf_aligned, c->spf_aligned);
    ck_row_bool(i, c, "dkim_aligned", o->dkim_aligned, c->dkim_aligned);
    ck_row_bool(i, c, "testing", o->testing, c->testing);
    if (c->queries_max)
        CK_ROW(o->queries <= c->queries_max, i, c, "%u queries, want at most %u", o->queries, c->queries_max);
}

/* One row of cases[] (a loop test: _i is the row; each in its own fork,
 * with its own DNS handle from the fixture). */
START_TEST(test_cases)
{
    const dmarc_case *c = &cases[_i];
    dmarccheck_lib *lib = lib_new(c->mode);
    dmarccheck_output o = eval_from(lib, c->from, c->spf_pass, c->dkim_pass);

    ck_row((size_t)_i, c, &o);
    dmarccheck_lib_free(lib);
}
END_TEST

/* pct=50: RFC 9989 never samples (pct is ignored); RFC 7489 samples. */
START_TEST(test_pct_sampling)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_lib *old = lib_new(DMARCCHECK_RFC7489);
    dmarccheck_output o;
    int full = 0, lower = 0;

    for (int i = 0; i < 20; i++) {
        o = eval_from(lib, "u@pct50.example", NULL, NULL);
        ck_assert(!o.testing);
        ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    }
    for (int i = 0; i < 200; i++) {
        o = eval_from(old, "u@pct50.example", NULL, NULL);
        if (o.applied == DMARCCHECK_POLICY_QUARANTINE)
            full++;
        else if (o.applied == DMARCCHECK_POLICY_NONE)
            lower++;
    }
    ck_assert_int_eq(full + lower, 200);
    ck_assert_msg(full > 40 && lower > 40, "pct=50 sampled %d of 200", full);
    dmarccheck_lib_free(lib);
    dmarccheck_lib_free(old);
}
END_TEST

/* Several From fields (one From field: cases[]). */
START_TEST(test_from_fields)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    static const char *const two[] = {"a@org.example", "b@other.test", NULL};
    static const char *const twosame[] = {"a@org.example", "a@org.example", NULL};
    static const char *const none[] = {NULL};
    dmarccheck_output o;

    /* several From fields: never skipped, never pass, even if aligned */
    o = eval_msg(lib, two, "org.example", "org.example");
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_assert_int_eq(o.from, FROMHDR_MULTIPLE);
    ck_assert_uint_eq(o.queries, 0);
    o = eval_msg(lib, twosame, "org.example", NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    o = eval_msg(lib, none, "org.example", NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_assert_int_eq(o.from, FROMHDR_NONE);
    dmarccheck_lib_free(lib);
}
END_TEST

/* What an aggregate report's policy_published needs: adkim, aspf, rua and
 * the discovery method come out of the record that applied. */
START_TEST(test_published_fields)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    o = eval_from(lib, "u@strict.example", NULL, NULL);
    ck_assert(o.adkim_strict && o.aspf_strict);
    ck_assert(!o.rua);
    ck_assert(!o.psl);
    o = eval_from(lib, "u@org.example", NULL, NULL);
    ck_assert(!o.adkim_strict && !o.aspf_strict);
    ck_assert(o.rua);
    o = eval_from(lib, "u@noprua.example", NULL, NULL);
    ck_assert(o.adkim_strict && !o.aspf_strict);
    ck_assert(!o.rua);
    dmarccheck_lib_free(lib);
    lib = lib_new(DMARCCHECK_RFC7489);
    o = eval_from(lib, "u@org.example", NULL, NULL);
    ck_assert(o.psl);
    ck_assert(o.rua);
    dmarccheck_lib_free(lib);
}
END_TEST

/* Review finding: an over-long record is refused whole (no overflow). */
START_TEST(test_long_records)
{
    char *rec;
    dmarccheck_record r;

    rec = malloc(6100);
    ck_assert_ptr_nonnull(rec);
    memset(rec, ' ', 6000);
    strcpy(rec + 6000, "v=DMARC1; p=none");
    ck_assert(!dmarccheck_record_parse(rec, strlen(rec), &r));
    memset(rec, ' ', 4120);
    strcpy(rec + 4120, "v=DMARC1; p=none");
    ck_assert(!dmarccheck_record_parse(rec, strlen(rec), &r));
    free(rec);
}
END_TEST

START_TEST(test_query_budget)
{
    dmarccheck_options opt = {.mode = DMARCCHECK_RFC9989, .max_queries = 2};
    char err[128];
    dmarccheck_lib *lib = dmarccheck_lib_new(dns, &opt, err, sizeof(err));
    dmarccheck_output o;

    ck_assert_ptr_nonnull(lib);
    /* sub.org.example, org.example, example: 3 names, budget 2 */
    o = eval_from(lib, "u@sub.org.example", NULL, NULL);
    ck_res(o, DMARCCHECK_TEMPERROR);
    ck_assert_uint_le(o.queries, 2);
    ck_assert_str_eq(o.reason, "DMARC lookup budget exhausted");
    dmarccheck_lib_free(lib);
}
END_TEST

START_TEST(test_psl_missing)
{
    dmarccheck_options opt = {.mode = DMARCCHECK_RFC7489, .psl_file = NULL};
    char err[256] = "";

    ck_assert_ptr_null(dmarccheck_lib_new(dns, &opt, err, sizeof(err)));
    ck_assert_msg(strstr(err, "psl_file") != NULL, "%s", err);
    opt.psl_file = "/nonexistent/psl.dat";
    ck_assert_ptr_null(dmarccheck_lib_new(dns, &opt, err, sizeof(err)));
}
END_TEST

START_TEST(test_names)
{
    dmarccheck_result r;
    dmarccheck_policy p;
    dmarccheck_mode m;
    fromhdr_status s;

    ck_assert(dmarccheck_result_parse("TempError", &r) && r == DMARCCHECK_TEMPERROR);
    ck_assert(!dmarccheck_result_parse("unset", &r));
    ck_assert(dmarccheck_policy_parse("quarantine", &p) && p == DMARCCHECK_POLICY_QUARANTINE);
    ck_assert(!dmarccheck_policy_parse("q", &p));
    ck_assert(dmarccheck_mode_parse("rfc7489", &m) && m == DMARCCHECK_RFC7489);
    ck_assert(!dmarccheck_mode_parse("rfc9091", &m));
    ck_assert(fromhdr_status_parse("multiple", &s) && s == FROMHDR_MULTIPLE);
    ck_assert_str_eq(fromhdr_status_name(FROMHDR_MULTIPLE_DOMAINS), "multiple_domains");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dmarccheck");
    TCase *tf = tcase_create("fromhdr");
    TCase *tc = tcase_create("dmarc");

    tcase_add_test(tf, test_from_edge_cases);
    tcase_add_test(tf, test_from_bounds);
    tcase_add_test(tf, test_from_message);
    tcase_add_test(tf, test_from_address);
    tcase_add_test(tf, test_names);
    suite_add_tcase(s, tf);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_record_parse);
    tcase_add_test(tc, test_record_rua);
    tcase_add_test(tc, test_walk_names);
    tcase_add_test(tc, test_alignment_matrix_9989);
    tcase_add_test(tc, test_alignment_matrix_7489);
    tcase_add_loop_test(tc, test_cases, 0, (int)NCASES);
    tcase_add_test(tc, test_pct_sampling);
    tcase_add_test(tc, test_from_fields);
    tcase_add_test(tc, test_published_fields);
    tcase_add_test(tc, test_long_records);
    tcase_add_test(tc, test_query_budget);
    tcase_add_test(tc, test_psl_missing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

/*
 * test_dmarc.c - unit tests of policy/fromhdr.c and policy/dmarccheck.c.
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

START_TEST(test_psd_alignment)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    /* RFC 9989's example: the walk from giant.bank.example stops at the
     * psd=y record of bank.example; mega.bank.example is another org */
    dmarccheck_output o = eval_from(lib, "u@giant.bank.example", "mail.giant.bank.example", "mail.mega.bank.example");

    ck_res(o, DMARCCHECK_PASS);
    ck_assert(o.spf_aligned);
    ck_assert(!o.dkim_aligned);
    ck_assert_str_eq(o.org_domain, "giant.bank.example");
    ck_assert_str_eq(o.policy_domain, "giant.bank.example");
    o = eval_from(lib, "u@giant.bank.example", NULL, "mail.mega.bank.example");
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    dmarccheck_lib_free(lib);
}
END_TEST

/* ---- tree walk and policy --------------------------------------------------------- */

START_TEST(test_policy_p_sp_np)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    /* the From domain's own record: p */
    o = eval_from(lib, "u@org.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert_str_eq(o.policy_tag, "p");
    ck_pol(o.published, DMARCCHECK_POLICY_REJECT);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    ck_assert_str_eq(o.policy_domain, "org.example");
    ck_assert_str_eq(o.org_domain, "org.example");
    /* an existing subdomain: sp, from the org domain's record */
    o = eval_from(lib, "u@sub.org.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert_str_eq(o.policy_tag, "sp");
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    ck_assert_str_eq(o.policy_domain, "org.example");
    ck_pol(o.p, DMARCCHECK_POLICY_REJECT);
    ck_pol(o.sp, DMARCCHECK_POLICY_QUARANTINE);
    /* a non-existent subdomain: np */
    o = eval_from(lib, "u@ghost.org.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert_str_eq(o.policy_tag, "np");
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* p only: subdomains get p */
    o = eval_from(lib, "u@sub.ponly.example", NULL, NULL);
    ck_assert_str_eq(o.policy_tag, "p");
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    o = eval_from(lib, "u@ghost.ponly.example", NULL, NULL);
    ck_assert_str_eq(o.policy_tag, "p");
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    /* no record anywhere */
    o = eval_from(lib, "u@nothing.example", "nothing.example", NULL);
    ck_res(o, DMARCCHECK_NONE);
    ck_pol(o.applied, DMARCCHECK_POLICY_UNSET);
    ck_assert_ptr_null(o.policy_tag);
    ck_assert(o.spf_aligned); /* reported even without a policy */
    dmarccheck_lib_free(lib);
}
END_TEST

START_TEST(test_tree_walk)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    /* a record at an intermediate label: the org domain is the one with
     * the fewest labels, and the policy is the org domain's (sp) */
    o = eval_from(lib, "u@a.mid.org.example", NULL, NULL);
    ck_assert_str_eq(o.org_domain, "org.example");
    ck_assert_str_eq(o.policy_domain, "org.example");
    ck_assert_str_eq(o.policy_tag, "sp");
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    /* ... and mid.org.example itself uses its own record */
    o = eval_from(lib, "u@mid.org.example", NULL, NULL);
    ck_assert_str_eq(o.policy_domain, "mid.org.example");
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    /* an intermediate identifier still aligns (same org domain) */
    o = eval_from(lib, "u@a.mid.org.example", NULL, "mid.org.example");
    ck_res(o, DMARCCHECK_PASS);
    /* psd=y: the org domain is one label below the PSD; without a record
     * of its own, the PSD's record is the policy */
    o = eval_from(lib, "u@nope.bank.example", NULL, NULL);
    ck_assert_str_eq(o.org_domain, "nope.bank.example");
    ck_assert_str_eq(o.policy_domain, "bank.example");
    ck_assert_str_eq(o.policy_tag, "p");
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    ck_res(o, DMARCCHECK_FAIL);
    /* psd=y: a deeper name under the PSD: org is the label below it */
    o = eval_from(lib, "u@x.y.nope.bank.example", "nope.bank.example", NULL);
    ck_assert_str_eq(o.org_domain, "nope.bank.example");
    ck_res(o, DMARCCHECK_PASS);
    /* the label limit: 10 labels, 8 queries; the record on the skipped
     * label c.d.e.f.g.h.deep.example (psd=n) is never seen */
    o = eval_from(lib, "u@a.b.c.d.e.f.g.h.deep.example", NULL, NULL);
    ck_assert_uint_le(o.queries, 8);
    ck_assert_str_eq(o.org_domain, "deep.example");
    ck_assert_str_eq(o.policy_domain, "deep.example");
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* ... while from 8 labels it is queried: psd=n makes it the org */
    o = eval_from(lib, "u@c.d.e.f.g.h.deep.example", NULL, NULL);
    ck_assert_str_eq(o.org_domain, "c.d.e.f.g.h.deep.example");
    ck_assert_str_eq(o.policy_domain, "c.d.e.f.g.h.deep.example");
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    dmarccheck_lib_free(lib);
}
END_TEST

START_TEST(test_testing_and_pct)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_lib *old = lib_new(DMARCCHECK_RFC7489);
    dmarccheck_output o;

    o = eval_from(lib, "u@testing.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert(o.testing);
    ck_pol(o.published, DMARCCHECK_POLICY_REJECT);
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    /* RFC 9989: pct is a historic tag (9.3, A.6), ignored like any unknown
     * tag: pct=0 is not read as t=y */
    o = eval_from(lib, "u@pct0.example", NULL, NULL);
    ck_assert(!o.testing);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    o = eval_from(lib, "u@pct0t.example", NULL, NULL);
    ck_assert(!o.testing);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    for (int i = 0; i < 20; i++) {
        o = eval_from(lib, "u@pct50.example", NULL, NULL);
        ck_assert(!o.testing);
        ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    }
    /* a pass applies nothing */
    o = eval_from(lib, "u@testing.example", "testing.example", NULL);
    ck_res(o, DMARCCHECK_PASS);
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    /* RFC 7489: pct=0 never samples (one step lower); pct=50 samples */
    o = eval_from(old, "u@pct0.example", NULL, NULL);
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    {
        int full = 0, lower = 0;
        for (int i = 0; i < 200; i++) {
            o = eval_from(old, "u@pct50.example", NULL, NULL);
            if (o.applied == DMARCCHECK_POLICY_QUARANTINE)
                full++;
            else if (o.applied == DMARCCHECK_POLICY_NONE)
                lower++;
        }
        ck_assert_int_eq(full + lower, 200);
        ck_assert_msg(full > 40 && lower > 40, "pct=50 sampled %d of 200", full);
    }
    /* RFC 7489 has no t: t=y is an unknown tag there */
    o = eval_from(old, "u@testing.example", NULL, NULL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    dmarccheck_lib_free(lib);
    dmarccheck_lib_free(old);
}
END_TEST

START_TEST(test_record_errors)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_lib *old = lib_new(DMARCCHECK_RFC7489);
    dmarccheck_output o;

    /* no valid p and no rua: no DMARC processing (permerror) */
    o = eval_from(lib, "u@badp.example", NULL, NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_pol(o.applied, DMARCCHECK_POLICY_UNSET);
    /* with a rua: p=none */
    o = eval_from(lib, "u@badprua.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    o = eval_from(lib, "u@nop.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    /* an invalid sp makes the record p=none with a rua, else no DMARC
     * (RFC 9989 4.10.1), even where p would apply */
    o = eval_from(lib, "u@badsp.example", NULL, NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_pol(o.applied, DMARCCHECK_POLICY_UNSET);
    /* unknown tags are ignored */
    o = eval_from(lib, "u@unknown.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* two v=DMARC1 records: discarded; nothing else found: permerror */
    o = eval_from(lib, "u@two.example", NULL, NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    /* v not first: not a record */
    o = eval_from(lib, "u@vlast.example", NULL, NULL);
    ck_res(o, DMARCCHECK_NONE);
    /* a record split in two strings is joined */
    o = eval_from(lib, "u@split.example", NULL, NULL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* a non-DMARC TXT beside the record does not count */
    o = eval_from(lib, "u@spf1.example", NULL, NULL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* RFC 7489 (libopendmarc's parser): p=bogus is a bad record, none */
    o = eval_from(old, "u@badprua.example", NULL, NULL);
    ck_res(o, DMARCCHECK_NONE);
    o = eval_from(old, "u@nop.example", NULL, NULL);
    ck_res(o, DMARCCHECK_NONE);
    o = eval_from(old, "u@two.example", NULL, NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    dmarccheck_lib_free(lib);
    dmarccheck_lib_free(old);
}
END_TEST

/* RFC 9989 4.7: a record without a p tag is read as p=none, with or
 * without a rua (only an invalid p needs the rua, 4.10.1) */
START_TEST(test_missing_p_is_none)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    o = eval_from(lib, "u@noprua.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert_str_eq(o.policy_tag, "p");
    ck_pol(o.p, DMARCCHECK_POLICY_NONE);
    ck_pol(o.published, DMARCCHECK_POLICY_NONE);
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    ck_assert_str_eq(o.policy_domain, "noprua.example");
    /* the rest of the record still counts: adkim=s */
    o = eval_from(lib, "u@noprua.example", NULL, "sub.noprua.example");
    ck_res(o, DMARCCHECK_FAIL);
    o = eval_from(lib, "u@noprua.example", NULL, "noprua.example");
    ck_res(o, DMARCCHECK_PASS);
    dmarccheck_lib_free(lib);
}
END_TEST

/* RFC 9989 4.10 step 2: a psd=y record at the starting point ends the
 * walk; 4.10.2: the PSD is then its own organizational domain, and a
 * record above it (here one without psd) is never used */
START_TEST(test_psd_at_start_stops_walk)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    o = eval_from(lib, "u@self.walk", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert_str_eq(o.org_domain, "self.walk");
    ck_assert_str_eq(o.policy_domain, "self.walk");
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* other.walk's org domain is walk (fewest labels): not aligned */
    o = eval_from(lib, "u@self.walk", "other.walk", "other.walk");
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert(!o.spf_aligned && !o.dkim_aligned);
    /* a name below the psd=y domain is an organization of its own (one
     * label below the PSD, 4.10.2 rule 2): not aligned with the PSD; only
     * the PSD's own name is */
    o = eval_from(lib, "u@self.walk", NULL, "mail.self.walk");
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert(!o.dkim_aligned);
    o = eval_from(lib, "u@self.walk", NULL, "self.walk");
    ck_res(o, DMARCCHECK_PASS);
    ck_assert(o.dkim_aligned);
    dmarccheck_lib_free(lib);
}
END_TEST

/* RFC 9989 4.10: the walk goes down to the single label, so a PSD record
 * such as _dmarc.gov with psd=y is found (4.10.1: the PSD's policy when
 * the organizational domain has none) */
START_TEST(test_single_label_psd)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    o = eval_from(lib, "u@agency.tld", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_assert_str_eq(o.org_domain, "agency.tld");
    ck_assert_str_eq(o.policy_domain, "tld");
    ck_assert_str_eq(o.policy_tag, "sp");
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    /* relaxed alignment under the PSD: the same org domain aligns, a
     * sibling organization does not */
    o = eval_from(lib, "u@agency.tld", "mail.agency.tld", NULL);
    ck_res(o, DMARCCHECK_PASS);
    o = eval_from(lib, "u@agency.tld", NULL, "other.tld");
    ck_res(o, DMARCCHECK_FAIL);
    /* a name that does not exist: np absent, sp applies */
    o = eval_from(lib, "u@ghost.tld", NULL, NULL);
    ck_assert_str_eq(o.policy_domain, "tld");
    ck_assert_str_eq(o.policy_tag, "sp");
    dmarccheck_lib_free(lib);
}
END_TEST

START_TEST(test_from_verdicts)
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
    o = eval_from(lib, "a@org.example, b@other.test", "org.example", NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_assert_int_eq(o.from, FROMHDR_MULTIPLE_DOMAINS);
    /* several mailboxes of one domain: evaluated */
    o = eval_from(lib, "a@org.example, b@ORG.example", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    o = eval_from(lib, "user@[192.0.2.1]", NULL, NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_assert_int_eq(o.from, FROMHDR_IP_LITERAL);
    o = eval_from(lib, "undisclosed:;", NULL, NULL);
    ck_res(o, DMARCCHECK_PERMERROR);
    ck_assert_int_eq(o.from, FROMHDR_NO_DOMAIN);
    /* a group does not hide a domain */
    o = eval_from(lib, "x: a@org.example;", NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    /* folded and encoded: the address domain is evaluated */
    o = eval_from(lib, "=?utf-8?q?ceo@other.test?=\r\n <ceo@org.example>", NULL, NULL);
    ck_assert_str_eq(o.domain, "org.example");
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT);
    dmarccheck_lib_free(lib);
}
END_TEST

START_TEST(test_temperror)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;

    /* outside the local zones: the upstream refuses (server failure) */
    o = eval_from(lib, "u@slow.invalidtld", NULL, NULL);
    ck_res(o, DMARCCHECK_TEMPERROR);
    ck_pol(o.applied, DMARCCHECK_POLICY_UNSET);
    /* an identifier under the failing name: its walk fails, the From
     * domain's walk answers; no other aligned pass: temperror, not fail */
    o = eval_from(lib, "u@sub.slow.invalidtld", "slow.invalidtld", NULL);
    ck_res(o, DMARCCHECK_TEMPERROR);
    /* an exactly aligned pass needs no organizational domain */
    o = eval_from(lib, "u@org.example", "org.example", NULL);
    ck_res(o, DMARCCHECK_PASS);
    dmarccheck_lib_free(lib);
}
END_TEST

/* Review findings: a long subdomain of a p=reject domain is a fail, not a
 * temperror; an over-long record is refused whole (no overflow). */
START_TEST(test_long_names_and_records)
{
    dmarccheck_lib *lib = lib_new(DMARCCHECK_RFC9989);
    dmarccheck_output o;
    char from[400], *rec;
    const char *lab = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"; /* 59 */
    dmarccheck_record r;

    snprintf(from, sizeof(from), "ceo@%s.%s.%s.%s.org.example", lab, lab, lab, lab);
    o = eval_from(lib, from, NULL, NULL);
    ck_res(o, DMARCCHECK_FAIL);
    ck_pol(o.applied, DMARCCHECK_POLICY_REJECT); /* np of org.example: no such subdomain */
    dmarccheck_lib_free(lib);

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

/* libopendmarc's organizational-domain vectors with Debian's PSL. */
START_TEST(test_psl_org_domains)
{
    dmarccheck_lib *old = lib_new(DMARCCHECK_RFC7489);
    dmarccheck_output o;

    o = eval_from(old, "u@a.b.c.bcx.com", NULL, NULL);
    ck_assert_str_eq(o.org_domain, "bcx.com");
    ck_assert_str_eq(o.policy_domain, "bcx.com");
    ck_assert_str_eq(o.policy_tag, "sp");
    ck_pol(o.applied, DMARCCHECK_POLICY_NONE);
    o = eval_from(old, "u@a.b.c.educ.ar", NULL, NULL);
    ck_assert_str_eq(o.org_domain, "educ.ar");
    ck_pol(o.applied, DMARCCHECK_POLICY_QUARANTINE);
    o = eval_from(old, "u@a.b.c.xn--mgba3a4f16a.ir", NULL, NULL);
    ck_assert_str_eq(o.org_domain, "c.xn--mgba3a4f16a.ir");
    /* relaxed alignment across a PSL suffix */
    o = eval_from(old, "u@a.bcx.com", "b.bcx.com", NULL);
    ck_res(o, DMARCCHECK_PASS);
    dmarccheck_lib_free(old);
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
    tcase_add_test(tf, test_names);
    suite_add_tcase(s, tf);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_record_parse);
    tcase_add_test(tc, test_walk_names);
    tcase_add_test(tc, test_alignment_matrix_9989);
    tcase_add_test(tc, test_alignment_matrix_7489);
    tcase_add_test(tc, test_psd_alignment);
    tcase_add_test(tc, test_policy_p_sp_np);
    tcase_add_test(tc, test_tree_walk);
    tcase_add_test(tc, test_testing_and_pct);
    tcase_add_test(tc, test_record_errors);
    tcase_add_test(tc, test_missing_p_is_none);
    tcase_add_test(tc, test_psd_at_start_stops_walk);
    tcase_add_test(tc, test_single_label_psd);
    tcase_add_test(tc, test_from_verdicts);
    tcase_add_test(tc, test_temperror);
    tcase_add_test(tc, test_long_names_and_records);
    tcase_add_test(tc, test_query_budget);
    tcase_add_test(tc, test_psl_org_domains);
    tcase_add_test(tc, test_psl_missing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

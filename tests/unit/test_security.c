/*
 * test_security.c - the peers' vulnerability classes, each shown harmless
 * in mxguard through the session (real config snapshot, DNS from
 * libunbound local data).  Cases: tests/data/security/SOURCES.
 *   - forged A-R with our authserv-id in several cases/foldings/comments
 *     around other hosts' ones: all ours deleted, in descending order,
 *     others kept (CVE-2022-48521 class)
 *   - result injection through MAIL FROM / DKIM d= carrying ( ; " :
 *     our A-R stays one header, every such value quoted (CVE-2020-12272)
 *   - several From fields, several domains in one, From without domain:
 *     never dmarc=pass (CVE-2019-16378, CVE-2021-34555)
 *   - overlong / malformed ARC-Seal, A-R, DKIM-Signature; NUL and bare
 *     CR/LF in values; 5000 headers; a 64 KB header line: no crash, a
 *     verdict, one decision line
 *   - libspf2's CVE classes through the SPF path (session and spfcheck,
 *     records served by libunbound local data), each with its exact
 *     result: macro expansion with huge label counts, transformers and
 *     long / 8-bit local parts, macros in exp= (CVE-2021-20314,
 *     CVE-2021-33912, CVE-2021-33913); records and terms at and past
 *     mxguard's bounds and %{X}-style sequences for the macro compiler
 *     (CVE-2023-42118); records at and one past libspf2's 511 octets of
 *     compiled mechanisms (it drops the rest silently: now permerror).
 *     The sanitizer build and valgrind run them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "session.h"
#include "snapshot.h"
#include "spfcheck.h"
#include "testutil.h"
#include "xalloc.h"

static const char *const zones[] = {"example. static", NULL};
static const char *const data[] = {
    "victim.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    "_dmarc.victim.example. TXT \"v=DMARC1; p=reject\"",
    "attacker.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    NULL,
};

static const char *conf_text =
    "authserv_id = \"mx.example.net\";\n"
    "spf = { enabled = true; helo = false; };\n"
    "dkim = { enabled = true; };\n"
    "dmarc = { enabled = true; };\n"
    "rules = ( { name = \"dmarc-reject\"; match = { dmarc = [\"fail\", \"permerror\"]; }; action = \"reject\"; } );\n";

static void setup(void)
{
    dns_options opt = {.timeout_ms = 2000, .local_zones = zones, .local_data = data};
    char err[256];
    conf_t *c = conf_load_string(conf_text, "test.conf", NULL, NULL);
    snapshot_t *s;

    ck_assert_ptr_nonnull(c);
    s = snapshot_from_conf(c, &opt, err, sizeof(err));
    ck_assert_msg(s != NULL, "snapshot: %s", err);
    snapshot_install(s);
    tu_log_start();
}

static void teardown(void)
{
    tu_log_stop();
    snapshot_shutdown();
}

static session_t *open_msg(const char *from)
{
    session_t *s = session_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(session_connect(s, "client.example", "192.0.2.1").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_helo(s, "client.example").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_mail(s, from, NULL).status, SESSION_CONTINUE);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    return s;
}

static int decisions(void)
{
    int n = 0;
    for (const char *p = tu_log_text(); (p = strstr(p, "decision ")) != NULL; p++)
        n++;
    return n;
}

/* Our A-R value: one header, no line break but our "\n\t" folding. */
static void assert_one_header(const char *v)
{
    ck_assert_ptr_nonnull(v);
    for (const char *p = v; *p; p++) {
        ck_assert_msg(*p != '\r', "CR in our A-R");
        ck_assert_msg(*p != '\n' || p[1] == '\t', "bare LF in our A-R");
    }
}

START_TEST(forged_authres_all_ours_deleted_descending)
{
    session_t *s = open_msg("<a@victim.example>");
    session_edits ed;
    static const int want[] = {8, 6, 5, 3, 1};

    session_header(s, "From", "a@victim.example");
    session_header(s, "Authentication-Results", "mx.example.net; dkim=pass header.d=victim.example");    /* 1 ours */
    session_header(s, "Authentication-Results", "other.example; dkim=pass");                            /* 2 */
    session_header(s, "authentication-results", "MX.EXAMPLE.NET;\r\n\tdmarc=pass");                      /* 3 ours */
    session_header(s, "Authentication-Results", "mx.example.net.other; spf=pass");                      /* 4 */
    session_header(s, "AUTHENTICATION-RESULTS", "(c (nested)) \"mx.example.net\" ; spf=pass");          /* 5 ours */
    session_header(s, "Authentication-Results", "\r\n\tmx.example.net");                                /* 6 ours, partial */
    session_header(s, "Authentication-Results", "(unterminated mx.example.net; spf=pass");              /* 7 */
    session_header(s, "Authentication-Results", "mx.example.net(x); arc=pass");                         /* 8 ours */
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_uint_eq(ed.nauthres_delete, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(ed.authres_delete[i], want[i]);
    assert_one_header(ed.authres_insert);
    /* a repeated end of message keeps the order (found by fuzz_session) */
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_int_eq(ed.authres_delete[0], 8);
    session_free(s);
}
END_TEST

START_TEST(injection_through_mail_from_is_quoted)
{
    session_t *s = open_msg("<\"x;dkim=pass(\"@victim.example>");
    session_edits ed;

    session_header(s, "From", "a@victim.example");
    session_eoh(s);
    (void)session_eom(s, &ed, NULL, NULL);
    if (ed.authres_insert != NULL) {
        assert_one_header(ed.authres_insert);
        const char *mf = strstr(ed.authres_insert, "smtp.mailfrom=");
        ck_assert_ptr_null(strstr(ed.authres_insert, "; dkim=pass"));
        /* the sender is one quoted-string: its ; and ( are text */
        ck_assert_msg(mf != NULL && mf[14] == '"', "A-R: %s", ed.authres_insert);
        ck_assert_ptr_nonnull(strstr(mf, "\\\"x;dkim=pass(\\\"@victim.example\""));
    }
    session_free(s);
}
END_TEST

START_TEST(injection_through_dkim_d_is_refused)
{
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;
    session_reply r;

    session_header(s, "DKIM-Signature",
                   " v=1; a=rsa-sha256; d=example.net(.victim.example; s=sel; h=from; bh=AAAA; b=AAAA");
    session_header(s, "From", "a@victim.example");
    session_eoh(s);
    r = session_eom(s, &ed, NULL, NULL);
    /* never aligned with victim.example: DMARC fails, the rule rejects */
    ck_assert_int_eq(r.status, SESSION_REJECT);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "dmarc=fail"));
    session_free(s);
}
END_TEST

static void from_refused(const char *const *froms, size_t n)
{
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;

    for (size_t i = 0; i < n; i++)
        session_header(s, "From", froms[i]);
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_REJECT);
    ck_assert_ptr_null(strstr(tu_log_text(), "dmarc=pass"));
    ck_assert_int_eq(decisions(), 1);
    session_free(s);
}

START_TEST(multi_from_value)
{
    static const char *const f[] = {"a@attacker.example, b@victim.example"};
    from_refused(f, 1);
}
END_TEST

START_TEST(malformed_multi_from)
{
    static const char *const f[] = {"user1@victim.example, user2, user3@victim.example"};
    from_refused(f, 1);
}
END_TEST

START_TEST(two_from_fields)
{
    static const char *const f[] = {"a@attacker.example", "b@victim.example"};
    from_refused(f, 2);
}
END_TEST

START_TEST(from_without_domain)
{
    static const char *const f[] = {"undisclosed-recipients:;"};
    from_refused(f, 1);
}
END_TEST

/* Garbage headers of every kind: a verdict and one decision line. */
START_TEST(garbage_headers_give_a_verdict)
{
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;
    char *big = malloc(65537);
    char *longtok = malloc(4097);
    char *dkim;

    memset(big, 'A', 65536);
    big[65536] = '\0';
    memset(longtok, 'x', 4096);
    longtok[4096] = '\0';
    session_header(s, "From", "a@attacker.example");
    session_header(s, "ARC-Authentication-Results", "i=1; mrouter.example; dkim=pass; (null)=pass; (null)=pass smtp.domain=x");
    session_header(s, "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=; s=; b=");
    session_header(s, "ARC-Seal", longtok);
    session_header(s, "Authentication-Results", big);
    session_header(s, "X-Long", big);
    session_header(s, "Subject", "bare\rCR and bare\nLF and \r\r\n\n");
    session_header(s, "Subject", "");
    dkim = malloc(70000);
    snprintf(dkim, 70000, " v=1; a=rsa-sha256; d=%s; s=%s; h=from; bh=x; b=%s", longtok, longtok, big);
    session_header(s, "DKIM-Signature", dkim);
    session_header(s, "DKIM-Signature", " v=1; ; ; =; d; s=; a=; b=; bh=; h=;;;");
    for (int i = 0; i < 5000; i++)
        session_header(s, i % 2 ? "Authentication-Results" : "X-H", "mx.example.net; spf=pass");
    session_eoh(s);
    session_body(s, (const unsigned char *)"body\0with NUL\r\n", 15);
    (void)session_eom(s, &ed, NULL, NULL);
    ck_assert_uint_eq(ed.nauthres_delete, 2500);
    ck_assert_int_eq(ed.authres_delete[0], 2501);
    ck_assert_int_eq(decisions(), 1);
    session_free(s);
    free(big);
    free(longtok);
    free(dkim);
}
END_TEST

/* A NUL inside a value: what follows it is not seen (the milter protocol
 * carries NUL-terminated strings), and the part before decides. */
START_TEST(nul_in_header_value)
{
    static const char v[] = "a@attacker.example\0, b@victim.example";
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;

    session_header(s, "From", v);
    session_header(s, "Authentication-Results", "other.example\0mx.example.net; spf=pass");
    session_eoh(s);
    (void)session_eom(s, &ed, NULL, NULL);
    ck_assert_uint_eq(ed.nauthres_delete, 0);
    ck_assert_ptr_null(strstr(tu_log_text(), "victim.example"));
    session_free(s);
}
END_TEST

/* ---- libspf2's CVE classes through the SPF path -------------------------- */

/* Local data: fixed lines plus generated ones (spf_data_build). */
#define SPF_MAX_DATA 64
static char *spf_data[SPF_MAX_DATA];
static size_t spf_ndata;

static const char *spf_conf_text =
    "authserv_id = \"mx.example.net\";\n"
    "spf = { enabled = true; helo = false; };\n";

/* "NAME. TXT" with the record split into character-strings of at most 255
 * octets (RFC 7208 3.3: they are concatenated without spaces). */
static void spf_add_txt(const char *name, const char *rec)
{
    size_t len = strlen(rec), cap = strlen(name) + len + len / 255 * 4 + 32, pos;
    char *line = xmalloc(cap);

    ck_assert_uint_lt(spf_ndata, SPF_MAX_DATA - 1);
    pos = (size_t)snprintf(line, cap, "%s. TXT", name);
    for (size_t off = 0; off < len || off == 0; off += 255) {
        size_t n = len - off < 255 ? len - off : 255;
        pos += (size_t)snprintf(line + pos, cap - pos, " \"%.*s\"", (int)n, rec + off);
        if (len == 0)
            break;
    }
    spf_data[spf_ndata++] = line;
}

/* A record of exactly len octets that libspf2 compiles whole and that
 * fails 192.0.2.1 with its last term: "v=spf1", 20 ip4 terms that do not
 * match (160 octets of compiled mechanisms, well under libspf2's 511),
 * unknown modifiers " pad=xxx..." of at most 200 octets (RFC 7208 6:
 * ignored, so not compiled) and " -all". */
static char *spf_record_of(size_t len, size_t *nterms)
{
    char *r = xmalloc(len + 1);
    size_t pos = (size_t)sprintf(r, "v=spf1"), n = 1, rest, pads;

    for (size_t i = 0; i < 20; i++, n++)
        pos += (size_t)sprintf(r + pos, " ip4:10.0.0.%zu", 110 + i); /* 15 octets */
    rest = len - pos - 5;
    pads = (rest + 199) / 200;
    for (size_t i = 0; i < pads; i++, n++) {
        size_t k = rest / pads + (i < rest % pads ? 1 : 0); /* octets of this term */
        pos += (size_t)sprintf(r + pos, " pad=");
        memset(r + pos, 'x', k - 5);
        pos += k - 5;
    }
    pos += (size_t)sprintf(r + pos, " -all");
    r[pos] = '\0';
    ck_assert_uint_eq(pos, len);
    *nterms = n + 1;
    return r;
}

/* "v=spf1", n terms (40 ip4 that do not match 192.0.2.1, then unknown
 * modifiers "pad=N"), "-all": within every bound of mxguard and libspf2. */
static char *spf_record_terms(size_t n)
{
    char *r = xmalloc(16 + n * 20);
    size_t pos = (size_t)sprintf(r, "v=spf1");

    for (size_t i = 0; i < n; i++)
        pos += i < 40 ? (size_t)sprintf(r + pos, " ip4:10.0.%zu.1", i)
                      : (size_t)sprintf(r + pos, " pad=%zu", i);
    sprintf(r + pos, " -all");
    return r;
}

/* "v=spf1" head, n terms of one kind, tail: for libspf2's limit of 511
 * octets of compiled mechanisms.  Kinds: '4' ip4 (8 octets compiled),
 * '6' ip6 (20), 'i' include:inc.example (20); none matches 192.0.2.1. */
static char *spf_record_n(const char *head, char kind, size_t n, const char *tail)
{
    size_t cap = strlen(head) + strlen(tail) + n * 32 + 16;
    char *r = xmalloc(cap);
    size_t pos = (size_t)snprintf(r, cap, "v=spf1%s", head);

    for (size_t i = 0; i < n; i++) {
        if (kind == '4')
            pos += (size_t)snprintf(r + pos, cap - pos, " ip4:10.%zu.%zu.1", i / 250, i % 250);
        else if (kind == '6')
            pos += (size_t)snprintf(r + pos, cap - pos, " ip6:2001:db8:%zx::1", i);
        else
            pos += (size_t)snprintf(r + pos, cap - pos, " include:inc.example");
    }
    snprintf(r + pos, cap - pos, "%s", tail);
    return r;
}

/* "exists:" + body + ".", padded with "x" labels to exactly len octets, ending ".example". */
static char *spf_term_of(size_t len, const char *body)
{
    char *t = xmalloc(len + 1);
    size_t pos = (size_t)sprintf(t, "exists:%s.", body), run = 0;

    while (pos + 8 < len) { /* labels of at most 60 "x" */
        if (run == 60 && pos + 9 < len) {
            t[pos++] = '.';
            run = 0;
        } else {
            t[pos++] = 'x';
            run++;
        }
    }
    ck_assert_uint_eq(pos + 8, len);
    memcpy(t + pos, ".example", 9);
    return t;
}

static char *spf_repeat(const char *unit, size_t n, const char *sep)
{
    size_t cap = n * (strlen(unit) + strlen(sep)) + 1, pos = 0;
    char *r = xmalloc(cap);

    r[0] = '\0';
    for (size_t i = 0; i < n; i++)
        pos += (size_t)snprintf(r + pos, cap - pos, "%s%s", i ? sep : "", unit);
    return r;
}

/* Domain of n labels "a." before suffix. */
static char *spf_deep_domain(size_t n, const char *suffix)
{
    char *labels = spf_repeat("a", n, ".");
    char *d = xasprintf("%s.%s", labels, suffix);
    free(labels);
    return d;
}

static void spf_add_generated(const char *name, char *rec)
{
    spf_add_txt(name, rec);
    free(rec);
}

static void spf_data_build(void)
{
    size_t nt;
    char *t, *u, *deep;

    spf_ndata = 0;
    /* macro expansion (CVE-2021-20314, CVE-2021-33912, CVE-2021-33913) */
    spf_add_txt("labels.example", "v=spf1 exists:%{d1r}.%{l100r}.%{o}.x.example -all");
    spf_add_txt("reverse.example", "v=spf1 exists:%{lr-}.%{dr}._spf.%{d} -all");
    spf_add_txt("urlenc.example", "v=spf1 exists:%{L}.x.%{d} -all");
    spf_add_txt("grow.example", "v=spf1 exists:%{d}.%{d}.%{d}.%{d}.%{d}.%{l}.%{l} -all");
    spf_add_txt("digits.example", "v=spf1 exists:%{l99999999999r}.%{d0}.%{o2147483648}.x.example -all");
    spf_add_txt("digitsok.example", "v=spf1 exists:%{l2r}.%{d9}.%{o1r}.x.example -all");
    spf_add_txt("delims.example", "v=spf1 exists:%{l1r+-.,/_=}.%{d2r.}.x.example -all");
    deep = spf_deep_domain(118, "deep.example"); /* 236 + 12 = 249 octets, 120 labels */
    spf_add_txt(deep, "v=spf1 exists:%{dr}.%{d}.%{o}.%{l}.%{d127r}.x.example -all");
    free(deep);
    /* exp= (CVE-2021-20314: the macro compiler of explanation texts) */
    spf_add_txt("expm.example", "v=spf1 -all exp=exp.%{d}");
    t = spf_repeat("%{l} %{d} %{o} %{i}", 4, " "); /* 16 macros, 76 octets */
    spf_add_txt("exp.expm.example", t);
    free(t);
    spf_add_txt("expmany.example", "v=spf1 -all exp=exp.%{d}");
    t = spf_repeat("%{d}", 17, " ");                 /* 17 macros: over the bound */
    spf_add_txt("exp.expmany.example", t);
    free(t);
    spf_add_txt("explong.example", "v=spf1 -all exp=exp.%{d}");
    t = spf_repeat("%{l} is not %{d}", 16, " and ");  /* 16 macros, 335 octets with spaces as %_ */
    spf_add_txt("exp.explong.example", t);
    free(t);
    spf_add_txt("exphuge.example", "v=spf1 -all exp=exp.%{d}");
    t = spf_repeat("x", 300, " ");                    /* 599 octets > 512 */
    spf_add_txt("exp.exphuge.example", t);
    free(t);
    spf_add_txt("expdom.example", "v=spf1 -all exp=%{l}.%{l}.%{d}.%{d}.%{d}.%{o}.exp.example");
    /* records and terms at and past the bounds (CVE-2023-42118) */
    spf_add_generated("r2048.example", spf_record_of(2048, &nt));
    spf_add_generated("r2049.example", spf_record_of(2049, &nt));
    /* "v=spf1" counts as a term: 1 + 126 + "-all" = 128 */
    spf_add_generated("t128.example", spf_record_terms(126));
    spf_add_generated("t129.example", spf_record_terms(127));
    /* libspf2's 511 octets of compiled mechanisms (N passes, N+1 permerror) */
    spf_add_generated("ip4-63.example", spf_record_n("", '4', 63, " -all"));
    spf_add_generated("ip4-64.example", spf_record_n("", '4', 64, " -all"));
    spf_add_generated("ip6-25.example", spf_record_n("", '6', 25, " -all"));
    spf_add_generated("ip6-26.example", spf_record_n("", '6', 26, " -all"));
    spf_add_generated("inc-24.example", spf_record_n(" ip4:192.0.2.1", 'i', 24, " -all"));
    spf_add_generated("inc-25.example", spf_record_n(" ip4:192.0.2.1", 'i', 25, " -all"));
    spf_add_generated("red-63.example", spf_record_n("", '4', 63, " redirect=red.example"));
    spf_add_generated("red-64.example", spf_record_n("", '4', 64, " redirect=red.example"));
    spf_add_generated("zero-62.example", spf_record_n("", '4', 62, " -ip4:0.0.0.0/0"));
    spf_add_generated("zero-63.example", spf_record_n("", '4', 63, " -ip4:0.0.0.0/0"));
    spf_add_txt("red.example", "v=spf1 -all");
    spf_add_txt("incl-63.example", "v=spf1 include:ip4-63.example -all");
    spf_add_txt("incl-64.example", "v=spf1 include:ip4-64.example -all");
    spf_add_txt("inc.example", "v=spf1 -all");
    t = spf_term_of(255, "%{d}");
    spf_add_generated("term255.example", xasprintf("v=spf1 %s -all", t));
    free(t);
    t = spf_term_of(256, "%{d}");
    spf_add_generated("term256.example", xasprintf("v=spf1 %s -all", t));
    free(t);
    u = spf_repeat("%{d}", 16, ".");
    spf_add_generated("pct16.example", xasprintf("v=spf1 exists:%s.x.example -all", u));
    free(u);
    u = spf_repeat("%{d}", 17, ".");
    spf_add_generated("pct17.example", xasprintf("v=spf1 exists:%s.x.example -all", u));
    free(u);
    u = spf_repeat("%%", 17, "");
    spf_add_generated("pctpct17.example", xasprintf("v=spf1 exists:x%s.example -all", u));
    free(u);
    t = spf_repeat("exists:%{d}.%{d}.x.example", 17, " "); /* 34 macros, 17 terms */
    spf_add_generated("pct34.example", xasprintf("v=spf1 %s -all", t));
    free(t);
    u = spf_repeat("%{X}", 16, "");
    spf_add_generated("bigx.example", xasprintf("v=spf1 exists:%s.example -all", u));
    free(u);
    u = spf_repeat("%{d}", 16, "");                    /* 16 macros in a 255-octet term */
    t = spf_term_of(255, u);
    spf_add_generated("edge.example", xasprintf("v=spf1 %s -all", t));
    free(t);
    free(u);
    spf_add_txt("open.example", "v=spf1 exists:%{d -all");
    spf_add_txt("empty.example", "v=spf1 exists:%{}.example -all");
    spf_add_txt("tail.example", "v=spf1 exists:x.example% -all");
    spf_add_txt("pctexp.example", "v=spf1 -all exp=%{X}%{X}%{X}.example");
    spf_data[spf_ndata] = NULL;
}

static void spf_setup(void)
{
    static const char *const z[] = {"example. static", NULL};
    dns_options opt = {.timeout_ms = 2000, .local_zones = z};
    char err[256];
    conf_t *c = conf_load_string(spf_conf_text, "spf.conf", NULL, NULL);
    snapshot_t *s;

    spf_data_build();
    opt.local_data = (const char *const *)spf_data;
    ck_assert_ptr_nonnull(c);
    s = snapshot_from_conf(c, &opt, err, sizeof(err));
    ck_assert_msg(s != NULL, "snapshot: %s", err);
    snapshot_install(s);
    tu_log_start();
}

static void spf_teardown(void)
{
    tu_log_stop();
    snapshot_shutdown();
    for (size_t i = 0; i < spf_ndata; i++)
        free(spf_data[i]);
    spf_ndata = 0;
}

/* MAIL FROM from 192.0.2.1 through spfcheck (the explanation is returned
 * in out) and through a whole session (the decision line): both must give
 * want.  The caller clears out. */
static void spf_case(const char *sender, const char *want, spfcheck_output *out)
{
    snapshot_t *snap = snapshot_acquire();
    spfcheck_input in = {.client_ip = "192.0.2.1", .helo = "client.example", .mail_from = sender,
                         .receiver = "mx.example.net"};
    session_t *s;
    session_edits ed;
    char *mf = xasprintf("<%s>", sender), *tag = xasprintf(" spf=%s ", want);
    const char *got;

    size_t before = strlen(tu_log_text());
    int n0 = decisions();

    memset(out, 0, sizeof(*out));
    got = spfcheck_result_name(spfcheck_mailfrom(snap->dns, &in, out));
    ck_assert_msg(strcmp(got, want) == 0, "%.60s: spf=%s (%s), want %s", sender, got,
                  out->reason ? out->reason : "-", want);
    snapshot_release(snap);

    s = session_new();
    ck_assert_int_eq(session_connect(s, "client.example", "192.0.2.1").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_helo(s, "client.example").status, SESSION_CONTINUE);
    (void)session_mail(s, mf, NULL);
    if (session_rcpt(s, "<bob@example.net>").status == SESSION_CONTINUE) {
        session_header(s, "From", "a@example.net");
        session_eoh(s);
        (void)session_eom(s, &ed, NULL, NULL);
    }
    ck_assert_int_eq(decisions(), n0 + 1);
    ck_assert_msg(strstr(tu_log_text() + before, tag) != NULL, "want%s: %s", tag, tu_log_text() + before);
    session_free(s);
    free(mf);
    free(tag);
}

static void spf_expect(const char *sender, const char *want)
{
    spfcheck_output out;

    spf_case(sender, want, &out);
    spfcheck_output_clear(&out);
}

/* CVE-2021-20314 / CVE-2021-33913 classes: transformers (reverse, digits,
 * delimiters) over long local parts and many labels. */
START_TEST(spf_macro_transformers_many_labels)
{
    char *lp = spf_repeat("p", 64, ".");                  /* 127 octets, 64 labels */
    char *rev = spf_repeat("a-b-c-d-e-f-g-h-i-j-k-l-m-n-o-p-q-r-s-t-u-v-w-x-y-z", 2, "-"); /* 103 */
    char *deep = spf_deep_domain(118, "deep.example");
    char *s;

    s = xasprintf("%s@labels.example", lp);
    spf_expect(s, "fail");
    free(s);
    s = xasprintf("%s@reverse.example", rev);
    spf_expect(s, "fail");
    free(s);
    s = xasprintf("%s@%s", lp, deep);                     /* 120-label domain, expansions past 253 */
    spf_expect(s, "fail");
    free(s);
    spf_expect("x.y.z@digits.example", "permerror"); /* %{d0}: RFC 7208 7.1, nonzero */
    spf_expect("x.y.z@digitsok.example", "fail");
    /* every RFC 7208 delimiter at once: libspf2's compiler refuses part of
     * them ("Invalid delimiter character"), which is permerror */
    spf_expect("a+b-c.d,e/f_g=h@delims.example", "permerror");
    free(lp);
    free(rev);
    free(deep);
}
END_TEST

/* The expansion grows a name far past 253 octets (5 x %{d}, 2 x a
 * 128-octet %{l}): no overflow, the RFC 7208 7.3 left-truncation or a
 * void lookup, then -all. */
START_TEST(spf_macro_expansion_grows_past_limits)
{
    char *lp = spf_repeat("q", 128, "");
    char *s = xasprintf("%s@grow.example", lp);

    spf_expect(s, "fail");
    free(s);
    free(lp);
}
END_TEST

/* Local parts: 128 octets is the bound (expanded), 129 is permerror before
 * libspf2; 8-bit octets for %{L} (CVE-2021-33912's sprintf of a signed
 * char) never reach libspf2's URL encoder. */
START_TEST(spf_macro_local_part_bounds)
{
    char *lp = spf_repeat("l", 128, ""), *s;

    s = xasprintf("%s@labels.example", lp);
    spf_expect(s, "fail");
    free(s);
    s = xasprintf("%sl@labels.example", lp);
    spf_expect(s, "permerror");
    free(s);
    spf_expect("\x80\xff\xc3\xa9t\xe9@urlenc.example", "fail");
    spf_expect("%%41%x@urlenc.example", "fail");
    free(lp);
}
END_TEST

/* exp= (CVE-2021-20314: libspf2's explanation compiler): within the bounds
 * the explanation is expanded and cut to 200 printable octets; more macros,
 * more octets (also once spaces are %_) or a non-text give the default
 * explanation; the result stays fail. */
START_TEST(spf_exp_macro_bounds)
{
    char *lp = spf_repeat("e", 128, ""), *s;
    spfcheck_output out;

    s = xasprintf("%s@expm.example", lp);
    spf_case(s, "fail", &out);
    ck_assert_ptr_nonnull(out.explanation);
    ck_assert_uint_le(strlen(out.explanation), 200);
    ck_assert_msg(strncmp(out.explanation, lp, 20) == 0, "expanded %%{l}: %s", out.explanation);
    spfcheck_output_clear(&out);
    free(s);
    s = xasprintf("%s@expmany.example", lp);
    spf_case(s, "fail", &out);
    ck_assert_ptr_nonnull(out.explanation);
    ck_assert_msg(strstr(out.explanation, "does not designate") != NULL, "default: %s", out.explanation);
    spfcheck_output_clear(&out);
    free(s);
    spf_case("u@explong.example", "fail", &out);
    ck_assert_ptr_nonnull(out.explanation);
    ck_assert_msg(strstr(out.explanation, "does not designate") != NULL, "default: %s", out.explanation);
    spfcheck_output_clear(&out);
    spf_case("u@exphuge.example", "fail", &out);
    ck_assert_ptr_nonnull(out.explanation);
    ck_assert_msg(strstr(out.explanation, "does not designate") != NULL, "default: %s", out.explanation);
    spfcheck_output_clear(&out);
    s = xasprintf("%s@expdom.example", lp);   /* the exp= name expands past 253 octets */
    spf_case(s, "fail", &out);
    ck_assert_ptr_nonnull(out.explanation);
    spfcheck_output_clear(&out);
    free(s);
    spf_case("u@pctexp.example", "permerror", &out);
    spfcheck_output_clear(&out);
    free(lp);
}
END_TEST

/* Record size: 2048 octets is evaluated to its last term ("-all": fail),
 * 2049 is permerror before libspf2's compiler. */
START_TEST(spf_huge_record_2048_octets)
{
    spf_expect("u@r2048.example", "fail");
    spf_expect("u@r2049.example", "permerror");
}
END_TEST

/* Term count: 128 terms evaluated to the last ("-all": fail), 129 permerror. */
START_TEST(spf_huge_record_129_terms)
{
    spf_expect("u@t128.example", "fail");
    spf_expect("u@t129.example", "permerror");
}
END_TEST

/* want, and for permerror the reason names libspf2's limit. */
static void spf_expect_libspf2(const char *sender, const char *want)
{
    spfcheck_output out;

    spf_case(sender, want, &out);
    if (strcmp(want, "permerror") == 0)
        ck_assert_msg(out.reason && strstr(out.reason, "too large for libspf2"), "%s: reason %s",
                      sender, out.reason ? out.reason : "-");
    spfcheck_output_clear(&out);
}

/* libspf2 drops, without an error, every mechanism after the compiled
 * ones reach 511 octets (spfdns.h).  63 ip4 terms and "-all" (64
 * mechanisms, 508 octets) fail; with 64 ip4 terms libspf2 dropped "-all"
 * and gave neutral: now permerror. */
START_TEST(spf_libspf2_limit_ip4_all)
{
    spf_expect_libspf2("u@ip4-63.example", "fail");
    spf_expect_libspf2("u@ip4-64.example", "permerror");
}
END_TEST

/* The limit is in octets, not mechanisms: ip6 compiles to 20 octets, so
 * 25 ip6 terms and "-all" fail, 26 are permerror. */
START_TEST(spf_libspf2_limit_ip6_all)
{
    spf_expect_libspf2("u@ip6-25.example", "fail");
    spf_expect_libspf2("u@ip6-26.example", "permerror");
}
END_TEST

/* A match before the cut is refused too (libspf2 would have said pass,
 * which is right only by luck of the client's address): ip4:192.0.2.1,
 * 24 include: (20 octets each) and "-all" pass; 25 include: permerror. */
START_TEST(spf_libspf2_limit_include_match_first)
{
    spf_expect_libspf2("u@inc-24.example", "pass");
    spf_expect_libspf2("u@inc-25.example", "permerror");
}
END_TEST

/* redirect= is a mechanism to libspf2: after 63 ip4 terms it is followed
 * (red.example: -all, fail), after 64 it was dropped (neutral): permerror. */
START_TEST(spf_libspf2_limit_redirect)
{
    spf_expect_libspf2("u@red-63.example", "fail");
    spf_expect_libspf2("u@red-64.example", "permerror");
}
END_TEST

/* An included record is checked as well: including the 63-term record
 * (no match there) goes on to "-all", including the 64-term one is
 * permerror (RFC 7208 5.2: a permerror of the included record). */
START_TEST(spf_libspf2_limit_included_record)
{
    spf_expect_libspf2("u@incl-63.example", "fail");
    spf_expect_libspf2("u@incl-64.example", "permerror");
}
END_TEST

/* What counts is the record libspf2 gets: "-ip4:0.0.0.0/0" becomes two
 * /1 terms, so 62 ip4 terms before it fail (64 compiled), 63 are
 * permerror although the published record has 64 mechanisms. */
START_TEST(spf_libspf2_limit_after_rewrite)
{
    spf_expect_libspf2("u@zero-62.example", "fail");
    spf_expect_libspf2("u@zero-63.example", "permerror");
}
END_TEST

/* Term size: a 255-octet term is evaluated, 256 is permerror. */
START_TEST(spf_huge_record_256_octet_term)
{
    spf_expect("u@term255.example", "fail");
    spf_expect("u@term256.example", "permerror");
}
END_TEST

/* '%' count: 16 macros in a term pass, 17 (also 17 "%%") in a term or 33+
 * in a record are permerror; 16 macros in a 255-octet term (the
 * compile-buffer edge of CVE-2023-42118) are evaluated. */
START_TEST(spf_many_percent_in_one_term)
{
    spf_expect("u@pct16.example", "fail");
    spf_expect("u@pct17.example", "permerror");
    spf_expect("u@pctpct17.example", "permerror");
    spf_expect("u@pct34.example", "permerror");
    spf_expect("u@edge.example", "fail");
}
END_TEST

/* CVE-2023-42118 shapes for SPF_c_parse_var: %{X} runs, an unterminated
 * %{, an empty %{}, a lone % at the end of a term: permerror (RFC 7208
 * 7.1 syntax), never handed to the compiler. */
START_TEST(spf_c_parse_var_shapes)
{
    spf_expect("u@bigx.example", "permerror");
    spf_expect("u@open.example", "permerror");
    spf_expect("u@empty.example", "permerror");
    spf_expect("u@tail.example", "permerror");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("security");
    TCase *tc = tcase_create("cve-classes");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, forged_authres_all_ours_deleted_descending);
    tcase_add_test(tc, injection_through_mail_from_is_quoted);
    tcase_add_test(tc, injection_through_dkim_d_is_refused);
    tcase_add_test(tc, multi_from_value);
    tcase_add_test(tc, malformed_multi_from);
    tcase_add_test(tc, two_from_fields);
    tcase_add_test(tc, from_without_domain);
    tcase_add_test(tc, garbage_headers_give_a_verdict);
    tcase_add_test(tc, nul_in_header_value);
    suite_add_tcase(su, tc);

    tc = tcase_create("spf-cve-classes");
    tcase_add_checked_fixture(tc, spf_setup, spf_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, spf_macro_transformers_many_labels);
    tcase_add_test(tc, spf_macro_expansion_grows_past_limits);
    tcase_add_test(tc, spf_macro_local_part_bounds);
    tcase_add_test(tc, spf_exp_macro_bounds);
    tcase_add_test(tc, spf_huge_record_2048_octets);
    tcase_add_test(tc, spf_huge_record_129_terms);
    tcase_add_test(tc, spf_libspf2_limit_ip4_all);
    tcase_add_test(tc, spf_libspf2_limit_ip6_all);
    tcase_add_test(tc, spf_libspf2_limit_include_match_first);
    tcase_add_test(tc, spf_libspf2_limit_redirect);
    tcase_add_test(tc, spf_libspf2_limit_after_rewrite);
    tcase_add_test(tc, spf_libspf2_limit_included_record);
    tcase_add_test(tc, spf_huge_record_256_octet_term);
    tcase_add_test(tc, spf_many_percent_in_one_term);
    tcase_add_test(tc, spf_c_parse_var_shapes);
    suite_add_tcase(su, tc);
    return tu_run(su);
}

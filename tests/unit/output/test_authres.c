/*
 * test_authres.c - Authentication-Results formatting (results, null sender,
 * quoting of hostile values, folding) and recognition of our own headers
 * (CFWS, quoted ids, other ids, hostile and huge values).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "facts.h"
#include "testutil.h"
#include "xalloc.h"

#define ID "mx.example"

/* Facts with the given sender (NULL: no MAIL yet), HELO and results. */
static facts_t *mk(const char *from, const char *helo, spfcheck_result mfrom, spfcheck_result shelo)
{
    facts_t *f = facts_new();

    facts_set(&f->mail_from, from);
    facts_set(&f->helo, helo);
    f->spf_mfrom = mfrom;
    f->spf_helo = shelo;
    return f;
}

/* ---- formatting table ------------------------------------------------- */

typedef struct fmt_case {
    const char *name;
    const char *id;
    const char *from;
    const char *helo;
    spfcheck_result mfrom;
    spfcheck_result shelo;
    const char *want;
} fmt_case;

static const fmt_case fmt_cases[] = {
    {"pass", ID, "a@example.com", "h.example", SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=a@example.com"},
    {"fail", ID, "a@example.com", "h.example", SPFCHECK_FAIL, SPFCHECK_UNSET,
     ID "; spf=fail smtp.mailfrom=a@example.com"},
    {"none", ID, "a@example.com", "h.example", SPFCHECK_NONE, SPFCHECK_UNSET,
     ID "; spf=none smtp.mailfrom=a@example.com"},
    {"neutral", ID, "a@example.com", NULL, SPFCHECK_NEUTRAL, SPFCHECK_UNSET,
     ID "; spf=neutral smtp.mailfrom=a@example.com"},
    {"softfail", ID, "a@example.com", NULL, SPFCHECK_SOFTFAIL, SPFCHECK_UNSET,
     ID "; spf=softfail smtp.mailfrom=a@example.com"},
    {"temperror", ID, "a@example.com", NULL, SPFCHECK_TEMPERROR, SPFCHECK_UNSET,
     ID "; spf=temperror smtp.mailfrom=a@example.com"},
    {"permerror", ID, "a@example.com", NULL, SPFCHECK_PERMERROR, SPFCHECK_UNSET,
     ID "; spf=permerror smtp.mailfrom=a@example.com"},
    {"null sender", ID, "", "h.ex", SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=postmaster@h.ex"},
    {"null sender folded", ID, "", "h.example", SPFCHECK_FAIL, SPFCHECK_UNSET,
     ID ";\n\tspf=fail smtp.mailfrom=postmaster@h.example"},
    {"null sender, HELO not a domain-name", ID, "", "lh", SPFCHECK_NONE, SPFCHECK_UNSET,
     ID "; spf=none smtp.mailfrom=\"postmaster@lh\""},
    {"helo only", ID, NULL, "h.example", SPFCHECK_UNSET, SPFCHECK_NONE,
     ID "; spf=none smtp.helo=h.example"},
    {"helo only, sender known", ID, "a@example.com", "h.example", SPFCHECK_UNSET, SPFCHECK_PASS,
     ID "; spf=pass smtp.helo=h.example"},
    {"both, second method folded", ID, "a@example.com", "h.example", SPFCHECK_PASS, SPFCHECK_NONE,
     ID "; spf=pass smtp.mailfrom=a@example.com;\n\tspf=none smtp.helo=h.example"},
    {"nothing evaluated", ID, "a@example.com", "h.example", SPFCHECK_UNSET, SPFCHECK_UNSET,
     ID "; none"},
    {"nothing known", ID, NULL, NULL, SPFCHECK_UNSET, SPFCHECK_UNSET, ID "; none"},
    /* bare values: RFC 2045 tokens and dot-atom addr-specs */
    {"plus tag", ID, "a+tag@example.com", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=a+tag@example.com"},
    {"SRS local part", "m", "SRS0=a=b=x.ex=u@y.ex", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     "m; spf=pass smtp.mailfrom=SRS0=a=b=x.ex=u@y.ex"},
    {"helo token without dot", ID, NULL, "localhost", SPFCHECK_UNSET, SPFCHECK_NONE,
     ID "; spf=none smtp.helo=localhost"},
    /* quoted values */
    {"address literal helo", ID, NULL, "[192.0.2.1]", SPFCHECK_UNSET, SPFCHECK_NONE,
     ID "; spf=none smtp.helo=\"[192.0.2.1]\""},
    {"local part quoted-string", "m", "\"a;b(c)\"@x.example", NULL, SPFCHECK_FAIL, SPFCHECK_UNSET,
     "m; spf=fail smtp.mailfrom=\"\\\"a;b(c)\\\"@x.example\""},
    {"result injection in domain", ID, "x@y;dkim=pass", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"x@y;dkim=pass\""},
    {"helo with (", ID, NULL, "a(b", SPFCHECK_UNSET, SPFCHECK_NONE, ID "; spf=none smtp.helo=\"a(b\""},
    {"helo with ;", ID, NULL, "a;b", SPFCHECK_UNSET, SPFCHECK_NONE, ID "; spf=none smtp.helo=\"a;b\""},
    {"helo with quote", ID, NULL, "a\"b", SPFCHECK_UNSET, SPFCHECK_NONE,
     ID "; spf=none smtp.helo=\"a\\\"b\""},
    {"helo with backslash", ID, NULL, "a\\b", SPFCHECK_UNSET, SPFCHECK_NONE,
     ID "; spf=none smtp.helo=\"a\\\\b\""},
    {"helo with space", ID, NULL, "a b", SPFCHECK_UNSET, SPFCHECK_NONE, ID "; spf=none smtp.helo=\"a b\""},
    {"helo with CRLF", ID, NULL, "a\r\nX-Evil: 1", SPFCHECK_UNSET, SPFCHECK_FAIL,
     ID "; spf=fail smtp.helo=\"aX-Evil: 1\""},
    {"helo with control bytes", ID, NULL, "a\x01\t\x1b\x7f" "b", SPFCHECK_UNSET, SPFCHECK_FAIL,
     ID "; spf=fail smtp.helo=\"ab\""},
    {"helo in UTF-8", ID, NULL, "h\xc3\xa9.example", SPFCHECK_UNSET, SPFCHECK_NONE,
     ID "; spf=none smtp.helo=\"h.example\""},
    {"empty helo", ID, NULL, "", SPFCHECK_UNSET, SPFCHECK_NONE, ID "; spf=none smtp.helo=\"\""},
    {"domain with trailing dot", ID, "a@x.example.", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"a@x.example.\""},
    {"domain with empty label", ID, "a@x..example", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"a@x..example\""},
    {"domain label with leading hyphen", ID, "a@-x.example", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"a@-x.example\""},
    {"domain with underscore", ID, "a@x_y.example", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"a@x_y.example\""},
    {"local part leading dot", ID, ".a@x.example", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\".a@x.example\""},
    {"local part double dot", ID, "a..b@x.example", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"a..b@x.example\""},
    {"two at signs", ID, "a@b@x.example", NULL, SPFCHECK_PASS, SPFCHECK_UNSET,
     ID "; spf=pass smtp.mailfrom=\"a@b@x.example\""},
    /* the authserv-id is emitted safely too */
    {"authserv-id with space", "mx example", NULL, NULL, SPFCHECK_UNSET, SPFCHECK_UNSET,
     "\"mx example\"; none"},
    {"authserv-id with ;", "a;b", NULL, NULL, SPFCHECK_UNSET, SPFCHECK_UNSET, "\"a;b\"; none"},
    {"authserv-id with CRLF", "a\r\nb", NULL, NULL, SPFCHECK_UNSET, SPFCHECK_UNSET, "\"ab\"; none"},
};

START_TEST(test_format_table)
{
    const fmt_case *c = &fmt_cases[_i];
    facts_t *f = mk(c->from, c->helo, c->mfrom, c->shelo);
    char *got = authres_format(c->id, f);

    ck_assert_msg(strcmp(got, c->want) == 0, "%s: got [%s] want [%s]", c->name, got, c->want);
    free(got);
    facts_free(f);
}
END_TEST

START_TEST(test_format_null_facts)
{
    char *got = authres_format(ID, NULL);
    ck_assert_str_eq(got, ID "; none");
    free(got);
}
END_TEST

/* ---- injection: structure of the output --------------------------------- */

/* Count ";" outside quoted-strings and comments, fail on raw control bytes
 * other than the "\n\t" of folding, and check quotes are balanced. */
static int count_results(const char *v)
{
    int semis = 0;
    bool inq = false;

    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            ck_assert_msg(!inq && p[1] == '\t', "bad fold in [%s]", v);
            continue;
        }
        ck_assert_msg(c == '\t' ? p > v && p[-1] == '\n' : (c >= 0x20 && c < 0x7f),
                      "raw byte 0x%02x in [%s]", c, v);
        if (inq && c == '\\') {
            ck_assert_msg(p[1] != '\0', "dangling escape in [%s]", v);
            p++;
        } else if (c == '"') {
            inq = !inq;
        } else if (!inq) {
            ck_assert_msg(c != '(' && c != ')', "comment outside quotes in [%s]", v);
            if (c == ';')
                semis++;
        }
    }
    ck_assert_msg(!inq, "unbalanced quotes in [%s]", v);
    return semis;
}

/* If p starts a quoted-string, the character after it, else NULL. */
static const char *quoted_end(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (; *p && *p != '"'; p++)
        if (*p == '\\' && *++p == '\0')
            return NULL;
    return *p == '"' ? p + 1 : NULL;
}

static const char *const hostile[] = {
    "\"a;b(c)\"@x.example",
    "x@y;dkim=pass",
    "x@y; dkim=pass header.d=example.com",
    "a(b",
    ";",
    "\"",
    "\\",
    "\\\"; spf=pass",
    "a b c",
    "a\r\n\tdkim=pass",
    "a\r\nAuthentication-Results: x; spf=pass",
    "\x01\x02\x1f\x7f",
    "h\xc3\xa9llo;\xe2\x80\x8b(",
    "(((",
    ")",
    "",
};

START_TEST(test_format_hostile)
{
    const char *v = hostile[_i];
    facts_t *f = mk(v, v, SPFCHECK_FAIL, SPFCHECK_FAIL);
    char *got = authres_format(ID, f);
    const char *q;

    /* exactly two results, each value one quoted-string that ends the
     * result: at the ";" for the first, at the end for the second */
    ck_assert_int_eq(count_results(got), 2);
    q = strstr(got, "smtp.mailfrom=");
    ck_assert_ptr_nonnull(q);
    q = quoted_end(q + 14);
    ck_assert_msg(q != NULL && *q == ';', "mailfrom not one quoted-string in [%s]", got);
    q = strstr(q, "smtp.helo=");
    ck_assert_ptr_nonnull(q);
    q = quoted_end(q + 10);
    ck_assert_msg(q != NULL && *q == '\0', "helo not one quoted-string in [%s]", got);
    free(got);
    facts_free(f);
}
END_TEST

/* DKIM: one result per signature, properties in order, "none" for an
 * unsigned message, nothing when not evaluated; a hostile d= stays one
 * quoted value. */
START_TEST(test_format_dkim)
{
    facts_t *f = facts_new();
    dkimcheck_sig sigs[2];
    char *got;
    const char *q;

    memset(sigs, 0, sizeof(sigs));
    got = authres_format(ID, f);
    ck_assert_ptr_null(strstr(got, "dkim"));
    free(got);
    f->dkim = DKIMCHECK_NONE;
    got = authres_format(ID, f);
    ck_assert_str_eq(got, ID "; dkim=none");
    free(got);
    sigs[0] = (dkimcheck_sig){DKIMCHECK_PASS, (char *)"example.com", (char *)"@example.com", (char *)"sel",
                              (char *)"rsa-sha256", (char *)"abcd1234", NULL, 2048, false};
    sigs[1] = (dkimcheck_sig){DKIMCHECK_FAIL, (char *)"evil.example; dkim=pass (x", (char *)"a@b",
                              (char *)"s", (char *)"ed25519-sha256", (char *)"9/dsDChY", NULL, 0, false};
    f->dkim = DKIMCHECK_PASS;
    f->dkim_sigs = sigs;
    f->ndkim_sigs = 2;
    got = authres_format(ID, f);
    q = ID ";\n\tdkim=pass header.d=example.com header.i=@example.com header.s=sel\n\t"
           "header.a=rsa-sha256 header.b=abcd1234;";
    ck_assert_msg(strncmp(got, q, strlen(q)) == 0, "[%s]", got);
    ck_assert_int_eq(count_results(got), 2);
    q = strstr(got, "header.d=\"evil.example; dkim=pass (x\"");
    ck_assert_msg(q != NULL, "hostile d= not quoted in [%s]", got);
    ck_assert_ptr_nonnull(strstr(got, "header.b=\"9/dsDChY\""));
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    free(got);
    facts_free(f);
}
END_TEST

/* The reason of a result other than pass follows it as a comment; a pass
 * (even a partial one) has none. */
START_TEST(test_format_dkim_reason)
{
    facts_t *f = facts_new();
    dkimcheck_sig sigs[2];
    char *got, *flat;
    size_t o = 0;

    memset(sigs, 0, sizeof(sigs));
    sigs[0] = (dkimcheck_sig){DKIMCHECK_POLICY, (char *)"example.com", NULL, (char *)"sel", (char *)"rsa-sha1",
                              NULL, "rsa-sha1 not allowed by RFC 8301", 0, false};
    sigs[1] = (dkimcheck_sig){DKIMCHECK_PASS, (char *)"example.com", NULL, NULL, NULL, NULL,
                              "l= covers part of the body", 0, true};
    f->dkim = DKIMCHECK_PASS;
    f->dkim_sigs = sigs;
    f->ndkim_sigs = 2;
    got = authres_format(ID, f);
    flat = xstrdup(got);
    for (const char *p = got; *p; p++) /* unfold */
        if (*p != '\n')
            flat[o++] = *p == '\t' ? ' ' : *p;
    flat[o] = '\0';
    ck_assert_str_eq(flat, ID "; dkim=policy (rsa-sha1 not allowed by RFC 8301) header.d=example.com "
                              "header.s=sel header.a=rsa-sha1; dkim=pass header.d=example.com");
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    free(flat);
    free(got);
    facts_free(f);
}
END_TEST

/* ---- folding ------------------------------------------------------------ */

/* Longest line, counting "Authentication-Results: " on the first. */
static size_t longest_line(const char *v)
{
    size_t col = strlen(AUTHRES_HEADER ": "), max = 0;

    for (const char *p = v; *p; p++) {
        if (*p == '\n') {
            ck_assert_msg(p[1] == '\t', "fold without tab in [%s]", v);
            max = col > max ? col : max;
            col = 0;
        } else {
            col++;
        }
    }
    return col > max ? col : max;
}

START_TEST(test_fold_short_pieces)
{
    /* every piece fits on a line (the longest, smtp.mailfrom=, is at most
     * 14 + 50 + 12 + a tab): no line may pass 78 columns, whether methods
     * share a line, get their own or (n > 37) are split */
    for (size_t n = 1; n <= 50; n++) {
        char *local = xmalloc(n + 1), *from, *helo, *got;
        facts_t *f;

        memset(local, 'a', n);
        local[n] = '\0';
        from = xasprintf("%s@example.com", local);
        helo = xasprintf("%s.example", local);
        f = mk(from, helo, SPFCHECK_TEMPERROR, SPFCHECK_PERMERROR);
        got = authres_format("mx.example.com", f);
        ck_assert_msg(longest_line(got) <= 78, "n=%zu: line over 78 in [%s]", n, got);
        ck_assert_int_eq(count_results(got), 2);
        /* nothing lost: both values present bare */
        ck_assert_ptr_nonnull(strstr(got, from));
        ck_assert_ptr_nonnull(strstr(got, helo));
        free(got);
        facts_free(f);
        free(local);
        free(from);
        free(helo);
    }
}
END_TEST

START_TEST(test_fold_method_longer_than_line)
{
    char local[101], *from, *got, *want;
    facts_t *f;

    memset(local, 'b', 100);
    local[100] = '\0';
    from = xasprintf("%s@example.com", local);
    f = mk(from, "h.example", SPFCHECK_PASS, SPFCHECK_NONE);
    got = authres_format(ID, f);
    /* the overlong property gets a line of its own; everything else fits */
    want = xasprintf(ID ";\n\tspf=pass\n\tsmtp.mailfrom=%s;\n\tspf=none smtp.helo=h.example", from);
    ck_assert_str_eq(got, want);
    free(want);
    free(got);
    facts_free(f);
    free(from);
}
END_TEST

START_TEST(test_fold_long_authserv_id)
{
    char id[91], *got;

    memset(id, 'x', 90);
    id[90] = '\0';
    got = authres_format(id, NULL);
    ck_assert_int_eq((long)strlen(got), 90 + (long)strlen(";\n\tnone"));
    ck_assert_int_eq(strncmp(got, id, 90), 0);
    ck_assert_str_eq(got + 90, ";\n\tnone");
    free(got);
}
END_TEST

/* ---- recognising ours ----------------------------------------------------- */

typedef struct ours_case {
    const char *value;
    bool want;
} ours_case;

static const ours_case ours_cases[] = {
    {"mx.example.com; spf=pass smtp.mailfrom=a@example.com", true},
    {"MX.Example.COM; spf=pass", true},
    {"mx.example.com;spf=pass", true},
    {"(c) mx.example.com; spf=pass", true},
    {"(a (nested (deep)) \\) x) mx.example.com; none", true},
    {"(a\\(b) (c) mx.example.com; none", true},
    {"\r\n\tmx.example.com;\r\n\tspf=pass", true},
    {"\n mx.example.com; none", true},
    {"  \t mx.example.com\t;spf=fail", true},
    {"mx.example.com\r\n\t; spf=fail", true},
    {"\"mx.example.com\"; spf=pass", true},
    {"\"MX.example.COM\" ; spf=pass", true},
    {"\"mx.exa\\mple.com\"; spf=pass", true},
    {"\" mx.example.com \"; spf=pass", true},
    {"(c)\"mx.example.com\"(c); spf=pass", true},
    {"mx.example.com 1; spf=pass", true},
    {"mx.example.com 1 ; spf=pass", true},
    {"mx.example.com(comment); spf=pass", true},
    {"mx.example.com", true},  /* documented: partial header is ours */
    {"mx.example.com ", true},
    {"mx.example.com;", true},
    {"mx.example.com garbage", true}, /* id delimited by CFWS: ours, rest unchecked */
    {"\"mx.example.com", true},         /* unterminated quote ends at the end */
    {"\"mx.example.com\\", true},       /* ... also with a dangling quoted-pair */
    {"mx.example.com.evil; spf=pass", false},
    {"evil-mx.example.com; spf=pass", false},
    {"evil.mx.example.com; spf=pass", false},
    {"mx.example.co; spf=pass", false},
    {"mx.example.comx; spf=pass", false},
    {"mx.example.com.; spf=pass", false},
    {"mx.example.com/x; spf=pass", false},
    {"mx.example.com,x; spf=pass", false},
    {"mx.example.com\"x\"; spf=pass", false},
    {"mx.example.com\xc3\xa9; spf=pass", false},
    {"\"mx.example.com.evil\"; spf=pass", false},
    {"\"mx.example.com\"x; spf=pass", false},
    {"\"mx.example.co\"; spf=pass", false},
    {"\"mx.exam ple.com\"; spf=pass", false},
    {"\"mx.example.com; spf=pass", false}, /* unterminated quote swallows the rest */
    {"other.example; spf=pass", false},
    {"x; mx.example.com", false},
    {"spf=pass; mx.example.com", false},
    {"", false},
    {"   ", false},
    {"\r\n\t", false},
    {"(mx.example.com; spf=pass", false},   /* unterminated comment hides all */
    {"(a (b) mx.example.com; spf=pass", false},
    {"(unterminated \\", false},
    {"\"", false},
    {"\"\"", false},
    {"\\", false},
    {"(", false},
    {")", false},
    {"; mx.example.com", false},
};

START_TEST(test_is_ours_table)
{
    const ours_case *c = &ours_cases[_i];
    char *v = xstrdup(c->value); /* exact-size heap copy: sanitizers see overreads */

    ck_assert_msg(authres_is_ours("mx.example.com", v) == c->want, "[%s]: want %s", c->value,
                  c->want ? "ours" : "not ours");
    free(v);
}
END_TEST

START_TEST(test_is_ours_args)
{
    ck_assert(authres_is_ours("MX.EXAMPLE.COM", "mx.example.com; none"));
    ck_assert(!authres_is_ours("", "; none"));
    ck_assert(!authres_is_ours("", "\"\"; none"));
    ck_assert(!authres_is_ours(NULL, "mx.example.com; none"));
    ck_assert(!authres_is_ours("mx.example.com", NULL));
}
END_TEST

/* What we write, we recognise; with a different id we do not. */
START_TEST(test_is_ours_roundtrip)
{
    static const char *const ids[] = {"mx.example.com", "MX1", "mx example", "a;b", "x(y)"};
    facts_t *f = mk("a@example.com", "h.example", SPFCHECK_PASS, SPFCHECK_PASS);

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char *v = authres_format(ids[i], f);
        ck_assert_msg(authres_is_ours(ids[i], v), "own header [%s] not recognised", v);
        ck_assert_msg(!authres_is_ours("other.example", v), "[%s] taken as other's", v);
        free(v);
    }
    facts_free(f);
}
END_TEST

/* 64 KB hostile values: must finish (linear) and decide correctly. */
START_TEST(test_is_ours_huge)
{
    const size_t n = 64 * 1024;
    char *v = xmalloc(n + 64);

    /* deep nesting that closes, then our id */
    memset(v, '(', n / 2);
    memset(v + n / 2, ')', n / 2);
    strcpy(v + n, " mx.example.com; none");
    ck_assert(authres_is_ours("mx.example.com", v));

    /* unterminated nesting */
    memset(v, '(', n);
    v[n] = '\0';
    ck_assert(!authres_is_ours("mx.example.com", v));

    /* a comment of quoted-pairs ending in a dangling backslash */
    v[0] = '(';
    memset(v + 1, '\\', n - 1);
    v[n] = '\0';
    ck_assert(!authres_is_ours("mx.example.com", v));

    /* a huge token and a huge unterminated quoted-string */
    memset(v, 'a', n);
    v[n] = '\0';
    ck_assert(!authres_is_ours("mx.example.com", v));
    v[0] = '"';
    ck_assert(!authres_is_ours("mx.example.com", v));

    /* white space folding for 64 KB, then our id */
    for (size_t i = 0; i + 3 <= n; i += 3)
        memcpy(v + i, "\r\n\t", 3);
    strcpy(v + n - n % 3, "mx.example.com;");
    ck_assert(authres_is_ours("mx.example.com", v));
    free(v);
}
END_TEST

/* dmarc=RESULT (p= sp= applied=) header.from=DOMAIN; from=... without a domain. */
START_TEST(test_format_dmarc)
{
    facts_t *f = facts_new();
    char *got;

    got = authres_format(ID, f);
    ck_assert_ptr_null(strstr(got, "dmarc"));
    free(got);
    f->dmarc.result = DMARCCHECK_FAIL;
    f->dmarc.from = FROMHDR_OK;
    memcpy(f->dmarc.domain, "sub.example.com", sizeof("sub.example.com"));
    f->dmarc.p = DMARCCHECK_POLICY_REJECT;
    f->dmarc.sp = DMARCCHECK_POLICY_QUARANTINE;
    f->dmarc.applied = DMARCCHECK_POLICY_QUARANTINE;
    got = authres_format(ID, f);
    ck_assert_str_eq(got, ID ";\n\tdmarc=fail (p=reject sp=quarantine applied=quarantine)\n\theader.from=sub.example.com");
    free(got);
    f->dmarc.result = DMARCCHECK_NONE;
    f->dmarc.p = f->dmarc.sp = f->dmarc.applied = DMARCCHECK_POLICY_UNSET;
    got = authres_format(ID, f);
    ck_assert_str_eq(got, ID "; dmarc=none header.from=sub.example.com");
    free(got);
    memset(&f->dmarc, 0, sizeof(f->dmarc));
    f->dmarc.result = DMARCCHECK_PERMERROR;
    f->dmarc.from = FROMHDR_MULTIPLE;
    got = authres_format(ID, f);
    ck_assert_str_eq(got, ID "; dmarc=permerror (from=multiple)");
    ck_assert(authres_is_ours(ID, got));
    free(got);
    facts_free(f);
}
END_TEST

static Suite *authres_suite(void)
{
    Suite *s = suite_create("authres");
    TCase *tc = tcase_create("format");

    tcase_add_loop_test(tc, test_format_table, 0, (int)(sizeof(fmt_cases) / sizeof(fmt_cases[0])));
    tcase_add_test(tc, test_format_null_facts);
    tcase_add_test(tc, test_format_dkim);
    tcase_add_test(tc, test_format_dkim_reason);
    tcase_add_test(tc, test_format_dmarc);
    tcase_add_loop_test(tc, test_format_hostile, 0, (int)(sizeof(hostile) / sizeof(hostile[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("fold");
    tcase_add_test(tc, test_fold_short_pieces);
    tcase_add_test(tc, test_fold_method_longer_than_line);
    tcase_add_test(tc, test_fold_long_authserv_id);
    suite_add_tcase(s, tc);

    tc = tcase_create("is_ours");
    tcase_add_loop_test(tc, test_is_ours_table, 0, (int)(sizeof(ours_cases) / sizeof(ours_cases[0])));
    tcase_add_test(tc, test_is_ours_args);
    tcase_add_test(tc, test_is_ours_roundtrip);
    tcase_add_test(tc, test_is_ours_huge);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(authres_suite());
}

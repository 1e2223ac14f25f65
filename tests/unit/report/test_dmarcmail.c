/*
 * test_dmarcmail.c - the report mail read back: its header fields
 * (unfolded), one line ending throughout, line lengths, the MIME
 * structure and boundaries, and the attachment decoded with nettle's base64
 * decoder equal to the bytes given, for lengths at the edges of a base64
 * line; hostile values refused.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>

#include "dmarcmail.h"
#include "testutil.h"
#include "xalloc.h"

static unsigned char gz[4000];

static dmarcmail_input base_input(size_t gzlen, bool crlf)
{
    dmarcmail_input in = {
        .from = "dmarc-reports@example.org",
        .to = "rua@reports.example.net",
        .subject = "Report Domain: example.com Submitter: example.org Report-ID: <0123abcd@example.org>",
        .message_id = "0123abcd.1780000000.1@example.org",
        .date = 1780000000,
        .receiver = "example.org",
        .policy_domain = "example.com",
        .begin = 1779926400,
        .end = 1780012799,
        .filename = "example.org!example.com!1779926400!1780012799!0123abcd.xml.gz",
        .gz = gz,
        .gzlen = gzlen,
        .crlf = crlf,
    };
    return in;
}

/* The mail split into lines (without their ends); checks the line ends. */
typedef struct lines {
    char **v;
    size_t n;
} lines;

static lines split(const char *m, size_t len, bool crlf)
{
    lines l = {NULL, 0};
    size_t start = 0;

    for (size_t i = 0; i < len; i++) {
        if (m[i] == '\r') {
            ck_assert_msg(crlf && i + 1 < len && m[i + 1] == '\n', "a lone CR at %zu", i);
            continue;
        }
        if (m[i] != '\n')
            continue;
        if (crlf)
            ck_assert_msg(i > 0 && m[i - 1] == '\r', "a bare LF at %zu", i);
        l.v = xreallocarray(l.v, l.n + 1, sizeof(*l.v));
        l.v[l.n++] = xstrndup(m + start, i - start - (crlf ? 1 : 0));
        start = i + 1;
    }
    ck_assert_msg(start == len, "the mail does not end with a line end");
    return l;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

/* The unfolded value of header field name in lines [0, hend); NULL if absent. */
static char *header(const lines *l, size_t hend, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < hend; i++) {
        if (strncmp(l->v[i], name, nl) == 0 && l->v[i][nl] == ':') {
            char *v = xstrdup(l->v[i] + nl + 1 + (l->v[i][nl + 1] == ' ' ? 1 : 0));
            for (size_t j = i + 1; j < hend && (l->v[j][0] == ' ' || l->v[j][0] == '\t'); j++) {
                char *w = xasprintf("%s%s", v, l->v[j]);
                free(v);
                v = w;
            }
            return v;
        }
    }
    return NULL;
}

static size_t find_line(const lines *l, size_t from, const char *text)
{
    for (size_t i = from; i < l->n; i++)
        if (strcmp(l->v[i], text) == 0)
            return i;
    return l->n;
}

static size_t count_line(const lines *l, const char *text)
{
    size_t c = 0;

    for (size_t i = 0; i < l->n; i++)
        c += strcmp(l->v[i], text) == 0;
    return c;
}

static void expect_header(const lines *l, size_t hend, const char *name, const char *want)
{
    char *v = header(l, hend, name);

    ck_assert_msg(v != NULL, "no %s", name);
    ck_assert_msg(strcmp(v, want) == 0, "%s: [%s], want [%s]", name, v, want);
    free(v);
}

/* Render, read back, decode the attachment and compare. */
static void round_trip(size_t gzlen, bool crlf)
{
    dmarcmail_input in = base_input(gzlen, crlf);
    char err[256], *m, *ct, *bnd, *dash, *dashend;
    size_t len = 0, hend, p1, p2, pend, i;
    struct base64_decode_ctx dctx;
    unsigned char *dec = xmalloc(gzlen + 64);
    size_t declen = 0;
    lines l;

    m = dmarcmail_render(&in, &len, err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_uint_eq(strlen(m), len);
    l = split(m, len, crlf);
    for (i = 0; i < l.n; i++)
        ck_assert_msg(strlen(l.v[i]) <= 78, "line %zu is %zu long: %s", i, strlen(l.v[i]), l.v[i]);

    hend = find_line(&l, 0, "");
    ck_assert_uint_lt(hend, l.n);
    expect_header(&l, hend, "From", in.from);
    expect_header(&l, hend, "To", in.to);
    expect_header(&l, hend, "Subject", in.subject);
    expect_header(&l, hend, "Date", "Thu, 28 May 2026 20:26:40 +0000");
    expect_header(&l, hend, "Message-ID", "<0123abcd.1780000000.1@example.org>");
    expect_header(&l, hend, "MIME-Version", "1.0");
    expect_header(&l, hend, "Auto-Submitted", "auto-generated");
    ct = header(&l, hend, "Content-Type");
    ck_assert_ptr_nonnull(ct);
    ck_assert_msg(strncmp(ct, "multipart/mixed; boundary=\"=_", 29) == 0, "%s", ct);
    bnd = xstrndup(ct + 27, strlen(ct) - 28);
    ck_assert_ptr_null(strchr(bnd, '"'));

    /* exactly two parts, the closing delimiter last */
    dash = xasprintf("--%s", bnd);
    dashend = xasprintf("--%s--", bnd);
    ck_assert_uint_eq(count_line(&l, dash), 2);
    ck_assert_uint_eq(count_line(&l, dashend), 1);
    ck_assert_str_eq(l.v[l.n - 1], dashend);
    for (i = 0; i < l.n; i++) /* the boundary occurs nowhere else */
        ck_assert(strstr(l.v[i], bnd) == NULL || strcmp(l.v[i], dash) == 0 || strcmp(l.v[i], dashend) == 0 ||
                  i < hend + 1);

    /* part 1: text */
    p1 = find_line(&l, hend, dash);
    {
        lines part = {l.v + p1 + 1, l.n - p1 - 1};
        expect_header(&part, find_line(&part, 0, ""), "Content-Type", "text/plain; charset=us-ascii");
        expect_header(&part, find_line(&part, 0, ""), "Content-Transfer-Encoding", "7bit");
    }
    /* part 2: the attachment */
    p2 = find_line(&l, p1 + 1, dash);
    ck_assert_uint_lt(p2, l.n);
    {
        lines part = {l.v + p2 + 1, l.n - p2 - 1};
        size_t ph = find_line(&part, 0, "");
        char *want = xasprintf("application/gzip; name=\"%s\"", in.filename);
        expect_header(&part, ph, "Content-Type", want);
        free(want);
        want = xasprintf("attachment; filename=\"%s\"", in.filename);
        expect_header(&part, ph, "Content-Disposition", want);
        free(want);
        expect_header(&part, ph, "Content-Transfer-Encoding", "base64");
        pend = p2 + 1 + ph + 1;
    }
    base64_decode_init(&dctx);
    for (i = pend; i < l.n && strcmp(l.v[i], "") != 0; i++) {
        size_t n = strlen(l.v[i]), got = gzlen + 64 - declen;
        ck_assert_msg(n <= 76 && n % 4 == 0, "base64 line %zu: %zu", i, n);
        ck_assert_msg(i + 1 >= l.n || strcmp(l.v[i + 1], "") == 0 || n == 76, "short line %zu not last", i);
        ck_assert(base64_decode_update(&dctx, &got, dec + declen, n, l.v[i]));
        declen += got;
    }
    ck_assert(base64_decode_final(&dctx));
    ck_assert_str_eq(l.v[i + 1], dashend); /* an empty line, then the end */
    ck_assert_uint_eq(declen, gzlen);
    ck_assert(memcmp(dec, gz, gzlen) == 0);

    free(dash);
    free(dashend);
    free(bnd);
    free(ct);
    free(dec);
    lines_free(&l);
    free(m);
}

START_TEST(test_round_trip)
{
    static const size_t sizes[] = {1, 2, 3, 56, 57, 58, 114, 1000, sizeof(gz)};

    for (size_t i = 0; i < sizeof(gz); i++) /* every byte value, no pattern */
        gz[i] = (unsigned char)((i * 7919u) ^ (i >> 3));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        round_trip(sizes[i], false);
        round_trip(sizes[i], true);
    }
}
END_TEST

/* Long values fold at spaces and unfold to themselves. */
START_TEST(test_folding)
{
    dmarcmail_input in = base_input(10, false);
    char err[256], *m, *v;
    size_t len, hend;
    lines l;
    const char *subj =
        "Report Domain: a-very-long-policy-domain-name.subdomain.example.com Submitter: "
        "reporter.example.org Report-ID: <0123456789abcdef@reporter.example.org>";
    char longword[300];

    in.subject = subj;
    m = dmarcmail_render(&in, &len, err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    l = split(m, len, false);
    hend = find_line(&l, 0, "");
    for (size_t i = 0; i < hend; i++)
        ck_assert_msg(strlen(l.v[i]) <= 78, "%s", l.v[i]);
    v = header(&l, hend, "Subject");
    ck_assert_str_eq(v, subj);
    free(v);
    lines_free(&l);
    free(m);

    /* a word longer than a line: kept whole (RFC 5322 allows 998) */
    memset(longword, 'x', sizeof(longword) - 1);
    longword[sizeof(longword) - 1] = '\0';
    v = xasprintf("Report Domain: %s Submitter: x", longword);
    in.subject = v;
    m = dmarcmail_render(&in, &len, err, sizeof(err));
    ck_assert_ptr_nonnull(m);
    l = split(m, len, false);
    hend = find_line(&l, 0, "");
    {
        char *got = header(&l, hend, "Subject");
        ck_assert_str_eq(got, v);
        free(got);
    }
    lines_free(&l);
    free(m);
    free(v);
}
END_TEST

START_TEST(test_hostile)
{
    static const struct {
        const char *field, *value;
    } cases[] = {
        {"to", "a@example.net\nBcc: x@evil.example"},
        {"to", "a@example.net\r\n"},
        {"to", "a@example.net, b@evil.example"},
        {"to", "<a@example.net>"},
        {"to", "A Name a@example.net"},
        {"to", "noat.example.net"},
        {"to", "a@b@example.net"},
        {"to", "@example.net"},
        {"to", "a@"},
        {"to", ""},
        {"to", "a\x80@example.net"},
        {"from", "x(comment)@example.org"},
        {"from", "x@example.org;"},
        {"subject", "Report\nBcc: x@evil.example"},
        {"subject", "Report\tDomain"},
        {"subject", "Report \xc3\xa9"},
        {"subject", ""},
        {"message_id", "abc>@x"},
        {"message_id", "abc"},
        {"filename", "a\"b.xml.gz"},
        {"filename", "../etc/passwd"},
        {"filename", "a b.xml.gz"},
        {"receiver", "ex=_ample.org"},
        {"policy_domain", "example.com\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dmarcmail_input in = base_input(10, false);
        char err[256] = "";
        size_t len = 0;
        const char *f = cases[i].field;
        char *m;

        if (strcmp(f, "to") == 0)
            in.to = cases[i].value;
        else if (strcmp(f, "from") == 0)
            in.from = cases[i].value;
        else if (strcmp(f, "subject") == 0)
            in.subject = cases[i].value;
        else if (strcmp(f, "message_id") == 0)
            in.message_id = cases[i].value;
        else if (strcmp(f, "filename") == 0)
            in.filename = cases[i].value;
        else if (strcmp(f, "receiver") == 0)
            in.receiver = cases[i].value;
        else
            in.policy_domain = cases[i].value;
        m = dmarcmail_render(&in, &len, err, sizeof(err));
        ck_assert_msg(m == NULL, "%s [%s] was taken", f, cases[i].value);
        ck_assert_msg(err[0] != '\0', "no reason for %s", f);
    }
    {
        dmarcmail_input in = base_input(0, false);
        char err[256];
        size_t len;
        ck_assert_ptr_null(dmarcmail_render(&in, &len, err, sizeof(err)));
        in = base_input(10, false);
        in.subject = NULL;
        ck_assert_ptr_null(dmarcmail_render(&in, &len, err, sizeof(err)));
    }
}
END_TEST

START_TEST(test_date)
{
    char d[40];

    ck_assert(dmarcmail_date(0, d, sizeof(d)));
    ck_assert_str_eq(d, "Thu, 01 Jan 1970 00:00:00 +0000");
    ck_assert(dmarcmail_date(951782400, d, sizeof(d)));
    ck_assert_str_eq(d, "Tue, 29 Feb 2000 00:00:00 +0000");
    ck_assert(dmarcmail_date(1780000000, d, sizeof(d)));
    ck_assert_str_eq(d, "Thu, 28 May 2026 20:26:40 +0000");
    ck_assert(!dmarcmail_date(INT64_MAX, d, sizeof(d)));
    ck_assert(!dmarcmail_date(0, d, 10));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dmarcmail");
    TCase *tc = tcase_create("dmarcmail");

    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_folding);
    tcase_add_test(tc, test_hostile);
    tcase_add_test(tc, test_date);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

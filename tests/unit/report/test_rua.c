/*
 * test_rua.c - a DMARC record's rua value read into report destinations:
 * lists, size limits and their units, percent-decoding, other schemes,
 * hostile values (header and argument injection, overflow, bounds), and
 * which destinations need RFC 9990 verification and under which name.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rua.h"
#include "testutil.h"

#define MAXD 8

START_TEST(test_list)
{
    rua_dest d[MAXD];
    rua_stats st;
    size_t n = rua_parse(" mailto:dmarc@Example.COM ,\tMAILTO:agg@reports.example.net!10m , https://x.example/r,"
                         "mailto:a%2Bb@example.org!2K",
                         d, MAXD, &st);

    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(d[0].addr, "dmarc@example.com");
    ck_assert_str_eq(d[0].domain, "example.com");
    ck_assert(!d[0].has_limit);
    ck_assert_str_eq(d[1].addr, "agg@reports.example.net");
    ck_assert(d[1].has_limit);
    ck_assert_uint_eq(d[1].max_size, 10u << 20);
    ck_assert_str_eq(d[2].addr, "a+b@example.org");
    ck_assert_uint_eq(d[2].max_size, 2048);
    ck_assert_uint_eq(st.other_scheme, 1);
    ck_assert_uint_eq(st.malformed, 0);
    ck_assert_uint_eq(st.duplicate, 0);
    ck_assert_uint_eq(st.over_max, 0);
}
END_TEST

START_TEST(test_sizes)
{
    static const struct {
        const char *uri;
        bool ok;
        uint64_t want;
    } cases[] = {
        {"mailto:a@example.com!0", true, 0},
        {"mailto:a@example.com!1", true, 1},
        {"mailto:a@example.com!1k", true, 1024},
        {"mailto:a@example.com!3g", true, 3ull << 30},
        {"mailto:a@example.com!3T", true, 3ull << 40},
        {"mailto:a@example.com!18446744073709551615", true, UINT64_MAX},
        {"mailto:a@example.com!99999999999999999999999999", true, UINT64_MAX}, /* saturates */
        {"mailto:a@example.com!9999999999t", true, UINT64_MAX},
        {"mailto:a@example.com!", false, 0},
        {"mailto:a@example.com!k", false, 0},
        {"mailto:a@example.com!10x", false, 0},
        {"mailto:a@example.com!10kk", false, 0},
        {"mailto:a@example.com!-1", false, 0},
        {"mailto:a@example.com!1!2", false, 0},
        {"mailto:a@example.com! 10", false, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rua_dest d[1];
        rua_stats st;
        size_t n = rua_parse(cases[i].uri, d, 1, &st);
        ck_assert_msg(n == (cases[i].ok ? 1u : 0u), "%s: n %zu", cases[i].uri, n);
        if (cases[i].ok) {
            ck_assert(d[0].has_limit);
            ck_assert_msg(d[0].max_size == cases[i].want, "%s: %llu", cases[i].uri,
                          (unsigned long long)d[0].max_size);
        } else {
            ck_assert_uint_eq(st.malformed, 1);
        }
    }
}
END_TEST

/* Addresses that must never become a destination: injection into the To:
 * header or the sendmail argument list, routing tricks, not-names. */
START_TEST(test_hostile)
{
    static const char *const bad[] = {
        "mailto:a@example.com%0D%0ABcc:%20x@evil.example",
        "mailto:a%0A@example.com",
        "mailto:a@exa%00mple.com",
        "mailto:a b@example.com",
        "mailto:%20-oQ/tmp@example.com",
        "mailto:<a@example.com>",
        "mailto:\"a\"@example.com",
        "mailto:a@b@example.com",
        "mailto:a%40b@example.com",
        "mailto:a%2Cb@example.com,",
        "mailto:x%21y@example.com",          /* bang path */
        "mailto:x%25y@example.com",          /* percent hack */
        "mailto:..%2F..%2Fetc@example.com",  /* a directory name for --output-dir */
        "mailto:a%2Fb@example.com",
        "mailto:a@[192.0.2.1]",
        "mailto:a@ex%2Fample.com",
        "mailto:a@exa_mple..com",
        "mailto:@example.com",
        "mailto:a@",
        "mailto:a",
        "mailto:",
        "mailto:.a@example.com",
        "mailto:a.@example.com",
        "mailto:a..b@example.com",
        "mailto:a@example.com%",
        "mailto:a@example.com%4",
        "mailto:a@example.com%G1",
        "mailto:a%C3%A9@example.com",        /* non-ASCII local part */
        ":a@example.com",
        "1mailto:a@example.com",
        "mailto",
        "\x01mailto:a@example.com",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rua_dest d[2];
        rua_stats st;
        size_t n = rua_parse(bad[i], d, 2, &st);
        ck_assert_msg(n == 0, "%s gave %s", bad[i], n ? d[0].addr : "");
        ck_assert_msg(st.malformed == 1, "%s: malformed %zu", bad[i], st.malformed);
    }
}
END_TEST

START_TEST(test_long)
{
    char *v, local[RUA_LOCAL_MAX + 2];
    rua_dest d[2];
    rua_stats st;
    size_t n;
    char label[64];
    char dom[400];

    /* a local part of 64 is taken, 65 is not */
    memset(local, 'x', sizeof(local));
    local[RUA_LOCAL_MAX] = '\0';
    v = NULL;
    ck_assert(asprintf(&v, "mailto:%s@example.com", local) > 0);
    ck_assert_uint_eq(rua_parse(v, d, 2, NULL), 1);
    free(v);
    local[RUA_LOCAL_MAX] = 'x';
    local[RUA_LOCAL_MAX + 1] = '\0';
    ck_assert(asprintf(&v, "mailto:%s@example.com", local) > 0);
    ck_assert_uint_eq(rua_parse(v, d, 2, NULL), 0);
    free(v);

    /* a domain of 253 octets is taken, 255 is not */
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(dom, sizeof(dom), "%s.%s.%s.%.61s", label, label, label, label);
    ck_assert_uint_eq(strlen(dom), 253);
    ck_assert(asprintf(&v, "mailto:r@%s!1m", dom) > 0);
    ck_assert_uint_eq(rua_parse(v, d, 2, NULL), 1);
    ck_assert_str_eq(d[0].domain, dom);
    free(v);
    snprintf(dom, sizeof(dom), "%s.%s.%s.%.63s", label, label, label, label);
    ck_assert(asprintf(&v, "mailto:r@%s", dom) > 0);
    ck_assert_uint_eq(rua_parse(v, d, 2, NULL), 0);
    free(v);

    /* a URI longer than RUA_URI_MAX is refused whole, the next still read */
    v = malloc(RUA_URI_MAX + 200);
    ck_assert_ptr_nonnull(v);
    strcpy(v, "mailto:a@example.com?subject=");
    memset(v + strlen(v), 'y', RUA_URI_MAX);
    strcpy(v + 29 + RUA_URI_MAX, ",mailto:b@example.com");
    n = rua_parse(v, d, 2, &st);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(d[0].addr, "b@example.com");
    ck_assert_uint_eq(st.malformed, 1);
    free(v);
}
END_TEST

START_TEST(test_bounds_and_duplicates)
{
    rua_dest d[2];
    rua_stats st;
    size_t n;

    n = rua_parse("mailto:a@x.example,mailto:A@X.example.,mailto:b@x.example,mailto:c@x.example,mailto:d@x.example",
                  d, 2, &st);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(d[0].addr, "a@x.example");
    ck_assert_str_eq(d[1].addr, "b@x.example");
    ck_assert_uint_eq(st.duplicate, 1);
    ck_assert_uint_eq(st.over_max, 2);

    /* hfields dropped; percent-encoded characters of the address decoded */
    n = rua_parse("mailto:%72ua@%65xample.com?subject=hi%0D%0Abcc:x", d, 2, &st);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(d[0].addr, "rua@example.com");

    /* empty values and items */
    ck_assert_uint_eq(rua_parse(NULL, d, 2, NULL), 0);
    ck_assert_uint_eq(rua_parse("", d, 2, NULL), 0);
    n = rua_parse(" , ,,\t", d, 2, &st);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(st.malformed, 0);
    ck_assert_uint_eq(rua_parse("mailto:a@x.example", d, 0, &st), 0);
    ck_assert_uint_eq(st.over_max, 1);

    /* other schemes, in any spelling, are not destinations */
    n = rua_parse("https://r.example/x, ftp:a@b.example, x-y+z.w:q", d, 2, &st);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(st.other_scheme, 3);
}
END_TEST

START_TEST(test_external)
{
    char name[DNAME_BUFSZ];
    char label[64], dom[300];

    ck_assert(!rua_external("example.com", "example.com"));
    ck_assert(!rua_external("example.com", "Reports.Example.COM"));
    /* a parent of the policy domain may be another organization (a
     * provider, a public suffix): verified */
    ck_assert(rua_external("mail.example.com", "example.com."));
    ck_assert(rua_external("cust.provider.example", "provider.example"));
    ck_assert(rua_external("evil.co.uk", "co.uk"));
    ck_assert(rua_external("a.b.example.com", "Example.COM"));
    ck_assert(!rua_external("example.com.", "mail.example.com"));
    ck_assert(rua_external("example.com", "example.net"));
    ck_assert(rua_external("example.com", "badexample.com"));
    ck_assert(rua_external("badexample.com", "example.com"));
    ck_assert(rua_external("a.example.com", "b.example.com")); /* siblings: verified */
    ck_assert(rua_external("example.com", ""));
    ck_assert(rua_external("example.com", "bad..name"));

    ck_assert(rua_verify_name("Example.com", "Reports.Example.NET", name, sizeof(name)));
    ck_assert_str_eq(name, "example.com._report._dmarc.reports.example.net");
    ck_assert(rua_verify_name("example.com", "example.net.", name, sizeof(name)));
    ck_assert_str_eq(name, "example.com._report._dmarc.example.net");
    ck_assert(!rua_verify_name("", "example.net", name, sizeof(name)));
    ck_assert(!rua_verify_name("example.com.", "example.net", name, sizeof(name)));
    ck_assert(!rua_verify_name("exa mple.com", "example.net", name, sizeof(name)));
    ck_assert(!rua_verify_name("example.com", "example.net", name, 10));
    /* too long to ask: 200 + 200 octets */
    memset(label, 'a', 63);
    label[63] = '\0';
    snprintf(dom, sizeof(dom), "%s.%s.%s", label, label, label);
    ck_assert(!rua_verify_name(dom, dom, name, sizeof(name)));
    ck_assert(rua_verify_name("example.com", dom, name, sizeof(name))); /* 218 octets */
    snprintf(dom, sizeof(dom), "%s.%s.%s.%.40s", label, label, label, label); /* 232 */
    ck_assert(!rua_verify_name("example.com", dom, name, sizeof(name)));    /* 259 */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rua");
    TCase *tc = tcase_create("rua");

    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_hostile);
    tcase_add_test(tc, test_long);
    tcase_add_test(tc, test_bounds_and_duplicates);
    tcase_add_test(tc, test_external);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

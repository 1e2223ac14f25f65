/*
 * test_dkim.c - unit tests of policy/checks/dkimcheck.c.
 *
 * Messages: the RFC 8463 A.3 example (ed25519-sha256 and rsa-sha256), and
 * fixtures signed by python3-dkim (tests/data/dkim/make-fixtures.py) with
 * keys made by opendkim-genkey.  Keys are libunbound local data built from
 * tests/data/dkim/keys.txt; the timeout case forwards to a UDP socket on
 * 127.0.0.1 that never answers.  Nothing leaves the host.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dkimcheck.h"
#include "dns.h"
#include "testutil.h"
#include "xalloc.h"

static const char *const zones[] = {
    "signer.example. static",
    "other.example. static",
    "football.example.com. static",
    NULL,
};

/* RFC 8463 A.2 keys (tests/data/dkim/rfc8463 dns-txt.yaml). */
static const char *const rfc_keys[] = {
    "brisbane._domainkey.football.example.com v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    "test._domainkey.football.example.com v=DKIM1; k=rsa; "
    "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB",
    NULL,
};

/* "NAME VALUE" -> unbound local-data with the value cut into strings of at
 * most 200 octets.  Caller frees. */
static char *local_data(const char *line)
{
    const char *sp = strchr(line, ' ');
    size_t vlen, pos;
    char *out;

    ck_assert_ptr_nonnull(sp);
    vlen = strlen(sp + 1);
    out = xmalloc((size_t)(sp - line) + vlen + vlen / 200 * 4 + 32);
    pos = (size_t)sprintf(out, "%.*s. TXT", (int)(sp - line), line);
    for (size_t off = 0; off < vlen || off == 0; off += 200) {
        size_t n = vlen - off < 200 ? vlen - off : 200;
        pos += (size_t)sprintf(out + pos, " \"%.*s\"", (int)n, sp + 1 + off);
        if (vlen == 0)
            break;
    }
    return out;
}

static char *records[64];
static size_t nrecords;

static void load_records(void)
{
    FILE *fp;
    char line[4096];

    if (nrecords > 0)
        return;
    for (size_t i = 0; rfc_keys[i]; i++)
        records[nrecords++] = local_data(rfc_keys[i]);
    fp = fopen(tu_path("data/dkim/keys.txt"), "r");
    ck_assert_msg(fp != NULL, "cannot open keys.txt");
    while (fgets(line, sizeof(line), fp) && nrecords + 1 < sizeof(records) / sizeof(records[0])) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        records[nrecords++] = local_data(line);
    }
    fclose(fp);
    records[nrecords] = NULL;
}

static void free_records(void)
{
    for (size_t i = 0; i < nrecords; i++)
        free(records[i]);
    nrecords = 0;
}

static dns_t *new_dns(const char *upstream, unsigned timeout_ms)
{
    dns_options o;
    char err[256] = "";
    dns_t *d;

    load_records();
    memset(&o, 0, sizeof(o));
    o.upstream = upstream;
    o.timeout_ms = timeout_ms;
    o.local_zones = zones;
    o.local_data = (const char *const *)records;
    d = dns_new(&o, err, sizeof(err));
    ck_assert_msg(d != NULL, "dns_new: %s", err);
    return d;
}

/* ---- reading a message ------------------------------------------------- */

typedef struct msg {
    char **names;
    char **values;  /* as after the colon, folds kept (CRLF) */
    size_t n;
    char *body;
    size_t bodylen;
} msg;

/* Read a fixture; bare LF become CRLF (the RFC 8463 files are LF).  With
 * lf_folds, header folds are given as bare LF (as Postfix does). */
static msg *msg_read(const char *rel, bool lf_folds)
{
    FILE *fp = fopen(tu_path(rel), "rb");
    msg *m = xcalloc(1, sizeof(*m));
    char *raw = NULL, *crlf, *p, *hend;
    size_t len = 0, cap = 0, o = 0;
    int c;

    ck_assert_msg(fp != NULL, "cannot open %s", rel);
    while ((c = fgetc(fp)) != EOF) {
        if (len + 2 >= cap)
            raw = xrealloc(raw, cap = cap * 2 + 4096);
        raw[len++] = (char)c;
    }
    fclose(fp);
    crlf = xmalloc(2 * len + 1);
    for (size_t i = 0; i < len; i++) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
            crlf[o++] = '\r';
        crlf[o++] = raw[i];
    }
    crlf[o] = '\0';
    free(raw);
    hend = strstr(crlf, "\r\n\r\n");
    ck_assert_ptr_nonnull(hend);
    m->body = xstrdup(hend + 4);
    m->bodylen = strlen(m->body);
    hend[2] = '\0';
    p = crlf;
    while (*p) {
        char *colon = strchr(p, ':'), *end = p;
        /* the field ends at a CRLF not followed by white space */
        for (;;) {
            end = strstr(end, "\r\n");
            ck_assert_ptr_nonnull(end);
            if (end[2] != ' ' && end[2] != '\t')
                break;
            end += 2;
        }
        ck_assert_ptr_nonnull(colon);
        m->names = xreallocarray(m->names, m->n + 1, sizeof(char *));
        m->values = xreallocarray(m->values, m->n + 1, sizeof(char *));
        m->names[m->n] = xstrndup(p, (size_t)(colon - p));
        m->values[m->n] = xstrndup(colon + 1, (size_t)(end - colon - 1));
        if (lf_folds) {
            char *v = m->values[m->n], *w = v;
            for (char *r = v; *r; r++)
                if (!(r[0] == '\r' && r[1] == '\n'))
                    *w++ = *r;
            *w = '\0';
        }
        m->n++;
        p = end + 2;
    }
    free(crlf);
    return m;
}

static void msg_free(msg *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->names[i]);
        free(m->values[i]);
    }
    free(m->names);
    free(m->values);
    free(m->body);
    free(m);
}

/* ---- running the verifier --------------------------------------------- */

static dns_t *dns;
static dkimcheck_sig *sigs;
static size_t nsigs;

static void setup(void)
{
    dns = new_dns("127.0.0.1@1", 3000);
    sigs = NULL;
    nsigs = 0;
}

static void teardown(void)
{
    dkimcheck_sigs_free(sigs, nsigs);
    sigs = NULL;
    nsigs = 0;
    dns_free(dns);
    dns = NULL;
    free_records();
}

/* Verify a fixture with options (NULL: defaults), body in chunks of
 * chunk bytes; results in sigs/nsigs. */
static dkimcheck_result verify_with(dns_t *d, const char *rel, const dkimcheck_options *opt, size_t chunk,
                                    bool lf_folds)
{
    char err[256] = "";
    dkimcheck_lib *lib = dkimcheck_lib_new(d, opt, err, sizeof(err));
    msg *m = msg_read(rel, lf_folds);
    dkimcheck_t *v;
    dkimcheck_result r;

    ck_assert_msg(lib != NULL, "dkimcheck_lib_new: %s", err);
    v = dkimcheck_new(lib, "TEST");
    for (size_t i = 0; i < m->n; i++)
        dkimcheck_header(v, m->names[i], m->values[i]);
    dkimcheck_eoh(v);
    for (size_t off = 0; off < m->bodylen; off += chunk)
        dkimcheck_body(v, (const unsigned char *)m->body + off,
                       m->bodylen - off < chunk ? m->bodylen - off : chunk);
    dkimcheck_sigs_free(sigs, nsigs);
    r = dkimcheck_eom(v, &sigs, &nsigs);
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
    msg_free(m);
    return r;
}

static dkimcheck_result verify(const char *rel)
{
    return verify_with(dns, rel, NULL, 4096, false);
}

/* The result for domain d (the only signature of it). */
static const dkimcheck_sig *sig_of(const char *d)
{
    for (size_t i = 0; i < nsigs; i++)
        if (sigs[i].domain && strcmp(sigs[i].domain, d) == 0)
            return &sigs[i];
    ck_abort_msg("no signature for %s", d);
    return NULL;
}

#define ck_result(got, want) \
    ck_assert_msg((got) == (want), "result %s, expected %s", dkimcheck_result_name(got), \
                  dkimcheck_result_name(want))

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_rfc8463_ed25519_and_rsa)
{
    const dkimcheck_sig *s;

    ck_result(verify("data/dkim/rfc8463-A3-signed.eml"), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 2);
    ck_result(sigs[0].result, DKIMCHECK_PASS);
    ck_result(sigs[1].result, DKIMCHECK_PASS);
    s = &sigs[0];
    ck_assert_str_eq(s->domain, "football.example.com");
    ck_assert_str_eq(s->selector, "brisbane");
    ck_assert_str_eq(s->algorithm, "ed25519-sha256");
    ck_assert_str_eq(s->identity, "@football.example.com");
    ck_assert_str_eq(s->b, "9/dsDChY");
    ck_assert_str_eq(sigs[1].selector, "test");
    ck_assert_str_eq(sigs[1].algorithm, "rsa-sha256");
    ck_assert_str_eq(sigs[1].b, "icKcLSEZ");
    ck_assert_uint_eq(sigs[1].keybits, 1024);
    ck_assert(!s->partial);
}
END_TEST

START_TEST(test_rfc8463_body_altered)
{
    /* the RFC's unsigned message with the signatures of the signed one
     * would need editing; alter the signed one's body in memory instead */
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    msg *m = msg_read("data/dkim/rfc8463-A3-signed.eml", false);
    dkimcheck_t *v = dkimcheck_new(lib, NULL);

    for (size_t i = 0; i < m->n; i++)
        dkimcheck_header(v, m->names[i], m->values[i]);
    dkimcheck_eoh(v);
    ck_assert(dkimcheck_wants_body(v));
    m->body[0] = 'h'; /* "Hi." -> "hi." */
    dkimcheck_body(v, (const unsigned char *)m->body, m->bodylen);
    ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_FAIL);
    ck_assert_uint_eq(nsigs, 2);
    ck_result(sigs[0].result, DKIMCHECK_FAIL);
    ck_result(sigs[1].result, DKIMCHECK_FAIL);
    ck_assert_str_eq(sigs[0].reason, "body hash mismatch");
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
    msg_free(m);
}
END_TEST

START_TEST(test_pass_relaxed_and_simple)
{
    ck_result(verify("data/dkim/pass-relaxed.eml"), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 1);
    ck_assert_str_eq(sigs[0].domain, "signer.example");
    ck_assert_str_eq(sigs[0].identity, "@signer.example");
    ck_assert_str_eq(sigs[0].selector, "sel2048");
    ck_assert_uint_eq(sigs[0].keybits, 2048);
    ck_assert_ptr_null(sigs[0].reason);
    ck_result(verify("data/dkim/pass-simple.eml"), DKIMCHECK_PASS);
    /* RFC 6376 rsa-sha256 with the RFC's 1024-bit "test" key, simple/relaxed */
    ck_result(verify("data/dkim/rsa1024.eml"), DKIMCHECK_PASS);
}
END_TEST

START_TEST(test_streamed_in_small_chunks)
{
    /* one byte at a time: CRLF and trailing blank lines split across chunks */
    ck_result(verify_with(dns, "data/dkim/pass-simple.eml", NULL, 1, false), DKIMCHECK_PASS);
    ck_result(verify_with(dns, "data/dkim/pass-relaxed.eml", NULL, 3, false), DKIMCHECK_PASS);
}
END_TEST

START_TEST(test_lf_folded_headers)
{
    /* Postfix hands folded header values with bare LF */
    ck_result(verify_with(dns, "data/dkim/pass-simple.eml", NULL, 4096, true), DKIMCHECK_PASS);
    ck_result(verify_with(dns, "data/dkim/rfc8463-A3-signed.eml", NULL, 4096, true), DKIMCHECK_PASS);
}
END_TEST

START_TEST(test_body_altered)
{
    ck_result(verify("data/dkim/body-altered.eml"), DKIMCHECK_FAIL);
    ck_assert_uint_eq(nsigs, 1);
    ck_assert_str_eq(sigs[0].reason, "body hash mismatch");
}
END_TEST

START_TEST(test_header_altered)
{
    ck_result(verify("data/dkim/header-altered.eml"), DKIMCHECK_FAIL);
    ck_assert_uint_eq(nsigs, 1);
    ck_assert_str_eq(sigs[0].reason, "signature did not verify");
}
END_TEST

START_TEST(test_key_missing)
{
    ck_result(verify("data/dkim/nokey.eml"), DKIMCHECK_PERMERROR);
    ck_assert_str_eq(sigs[0].reason, "no key");
    ck_assert_str_eq(sigs[0].selector, "missing");
}
END_TEST

START_TEST(test_key_revoked)
{
    ck_result(verify("data/dkim/revoked.eml"), DKIMCHECK_PERMERROR);
    ck_assert_str_eq(sigs[0].reason, "key revoked");
}
END_TEST

/* A resolver forwarding to a UDP socket on 127.0.0.1 that never answers
 * (*fd: the socket, for the caller to close). */
static dns_t *silent_dns(int *fd, unsigned timeout_ms)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    char up[64];

    *fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(*fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(*fd, (struct sockaddr *)&sin, &sl), 0);
    snprintf(up, sizeof(up), "127.0.0.1@%d", ntohs(sin.sin_port));
    return new_dns(up, timeout_ms);
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

START_TEST(test_dns_timeout)
{
    dns_t *slow;
    struct timespec t0;
    long ms;
    int fd;

    slow = silent_dns(&fd, 300);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_result(verify_with(slow, "data/dkim/timeout.eml", NULL, 4096, false), DKIMCHECK_TEMPERROR);
    ms = ms_since(&t0);
    ck_assert_str_eq(sigs[0].reason, "key lookup timed out");
    ck_assert_str_eq(sigs[0].domain, "slow.example.net");
    ck_assert_msg(ms < 2000, "took %ld ms with a 300 ms DNS timeout", ms);
    dns_free(slow);
    close(fd);
}
END_TEST

START_TEST(test_servfail_is_temperror)
{
    /* slow.example.net is outside the local zones: the upstream 127.0.0.1@1
     * refuses the connection, which is a server failure, not "no key" */
    ck_result(verify("data/dkim/timeout.eml"), DKIMCHECK_TEMPERROR);
    ck_assert_str_eq(sigs[0].reason, "key lookup failed");
}
END_TEST

START_TEST(test_two_signatures_one_bad)
{
    ck_result(verify("data/dkim/two-sigs.eml"), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 2);
    ck_result(sig_of("signer.example")->result, DKIMCHECK_PASS);
    ck_result(sig_of("other.example")->result, DKIMCHECK_FAIL);
    /* header order: the last signer's field is on top */
    ck_assert_str_eq(sigs[0].domain, "signer.example");
}
END_TEST

START_TEST(test_length_with_appended_body)
{
    ck_result(verify("data/dkim/length-appended.eml"), DKIMCHECK_PASS);
    ck_assert(sigs[0].partial);
    ck_assert_str_eq(sigs[0].reason, "l= covers part of the body");
    ck_result(verify("data/dkim/pass-relaxed.eml"), DKIMCHECK_PASS);
    ck_assert(!sigs[0].partial);
}
END_TEST

START_TEST(test_expired)
{
    ck_result(verify("data/dkim/expired.eml"), DKIMCHECK_PERMERROR);
    ck_assert_str_eq(sigs[0].reason, "signature expired");
}
END_TEST

START_TEST(test_future_and_clock_skew)
{
    dkimcheck_options o = {0};

    /* t= ten years ahead: beyond a 300 s skew */
    o.clock_skew = 300;
    ck_result(verify_with(dns, "data/dkim/future.eml", &o, 4096, false), DKIMCHECK_PERMERROR);
    ck_assert_str_eq(sigs[0].reason, "signature in the future");
    /* a skew wider than that accepts it */
    o.clock_skew = 20u * 365 * 86400;
    ck_result(verify_with(dns, "data/dkim/future.eml", &o, 4096, false), DKIMCHECK_PASS);
}
END_TEST

START_TEST(test_small_key)
{
    dkimcheck_options o = {0};

    ck_result(verify("data/dkim/small-key.eml"), DKIMCHECK_POLICY);
    ck_assert_str_eq(sigs[0].reason, "key too small");
    o.min_key_bits = 512;
    ck_result(verify_with(dns, "data/dkim/small-key.eml", &o, 4096, false), DKIMCHECK_PASS);
    ck_assert_uint_eq(sigs[0].keybits, 512);
    /* the 2048-bit key is below a minimum of 4096 */
    o.min_key_bits = 4096;
    ck_result(verify_with(dns, "data/dkim/pass-relaxed.eml", &o, 4096, false), DKIMCHECK_POLICY);
}
END_TEST

/* RFC 8301 3.1: an rsa-sha1 signature is never valid.  The fixture's key
 * record allows sha1 (no h=), so libopendkim alone would pass it. */
START_TEST(test_rsa_sha1_never_passes)
{
    ck_result(verify("data/dkim/rsa-sha1.eml"), DKIMCHECK_POLICY);
    ck_assert_uint_eq(nsigs, 1);
    ck_assert_str_eq(sigs[0].reason, "rsa-sha1 not allowed by RFC 8301");
    ck_assert_str_eq(sigs[0].algorithm, "rsa-sha1");
    ck_assert_str_eq(sigs[0].domain, "signer.example");
    ck_assert_str_eq(sigs[0].selector, "test");
    /* the same key and message with rsa-sha256 pass: only the algorithm counts */
    ck_result(verify("data/dkim/rsa1024.eml"), DKIMCHECK_PASS);
}
END_TEST

/* Beside a good rsa-sha256 signature: that one passes, the rsa-sha1 one
 * is policy. */
START_TEST(test_rsa_sha1_beside_sha256)
{
    ck_result(verify("data/dkim/rsa-sha1-and-sha256.eml"), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 2);
    ck_result(sigs[0].result, DKIMCHECK_POLICY);
    ck_assert_str_eq(sigs[0].algorithm, "rsa-sha1");
    ck_result(sigs[1].result, DKIMCHECK_PASS);
    ck_assert_str_eq(sigs[1].algorithm, "rsa-sha256");
    ck_assert_ptr_null(sigs[1].reason);
}
END_TEST

/* No key lookup for a signature that cannot pass: a key server failing
 * gives policy, never temperror (which a rule could defer mail on), and a
 * key server that never answers costs no wait. */
START_TEST(test_rsa_sha1_no_key_lookup)
{
    struct timespec t0;
    dns_t *slow;
    long ms;
    int fd;

    ck_result(verify("data/dkim/rsa-sha1-timeout.eml"), DKIMCHECK_POLICY);
    ck_assert_str_eq(sigs[0].reason, "rsa-sha1 not allowed by RFC 8301");
    ck_assert_str_eq(sigs[0].domain, "slow.example.net");
    slow = silent_dns(&fd, 2000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_result(verify_with(slow, "data/dkim/rsa-sha1-timeout.eml", NULL, 4096, false), DKIMCHECK_POLICY);
    ms = ms_since(&t0);
    ck_assert_msg(ms < 1000, "took %ld ms: the key was looked up (DNS timeout 2000 ms)", ms);
    dns_free(slow);
    close(fd);
}
END_TEST

START_TEST(test_required_headers)
{
    static const char *const fs[] = {"From", "subject", NULL};
    static const char *const f[] = {"from", NULL};
    dkimcheck_options o = {0};

    o.required_headers = fs;
    ck_result(verify_with(dns, "data/dkim/no-subject-signed.eml", &o, 4096, false), DKIMCHECK_POLICY);
    ck_assert_str_eq(sigs[0].reason, "required header not signed");
    ck_result(verify_with(dns, "data/dkim/pass-relaxed.eml", &o, 4096, false), DKIMCHECK_PASS);
    o.required_headers = f;
    ck_result(verify_with(dns, "data/dkim/no-subject-signed.eml", &o, 4096, false), DKIMCHECK_PASS);
}
END_TEST

START_TEST(test_max_signatures)
{
    dkimcheck_options o = {0};
    size_t pass = 0, policy = 0;

    ck_result(verify("data/dkim/six-sigs.eml"), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 6);
    for (size_t i = 0; i < nsigs; i++) {
        pass += sigs[i].result == DKIMCHECK_PASS;
        policy += sigs[i].result == DKIMCHECK_POLICY;
    }
    ck_assert_uint_eq(pass, 5);
    ck_assert_uint_eq(policy, 1);
    /* the one not verified is the sixth from the top, the first signer */
    ck_result(sig_of("s1.signer.example")->result, DKIMCHECK_POLICY);
    ck_assert_str_eq(sig_of("s1.signer.example")->reason, "beyond max_signatures");
    ck_assert_str_eq(sig_of("s1.signer.example")->selector, "sel2048");
    o.max_signatures = 1;
    ck_result(verify_with(dns, "data/dkim/six-sigs.eml", &o, 4096, false), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 6);
    ck_result(sig_of("s6.signer.example")->result, DKIMCHECK_PASS);
    ck_result(sig_of("s5.signer.example")->result, DKIMCHECK_POLICY);
}
END_TEST

/* Thousands of signatures: bounded work and bounded output (the results
 * become the A-R header). */
START_TEST(test_signature_flood_bounded)
{
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    dkimcheck_t *v = dkimcheck_new(lib, "F");

    for (int i = 0; i < 3000; i++)
        dkimcheck_header(v, "DKIM-Signature", " v=1; a=rsa-sha256; d=a.example; s=b; h=from; bh=; b=");
    dkimcheck_header(v, "From", " a@signer.example");
    dkimcheck_eoh(v);
    dkimcheck_body(v, (const unsigned char *)"\r\n", 2);
    dkimcheck_eom(v, &sigs, &nsigs);
    ck_assert_uint_ge(nsigs, 1);
    ck_assert_uint_le(nsigs, 5 + 10); /* default max_signatures + the listed extras */
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
}
END_TEST

START_TEST(test_unsigned)
{
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    msg *m = msg_read("data/dkim/unsigned.eml", false);
    dkimcheck_t *v = dkimcheck_new(lib, "U");

    for (size_t i = 0; i < m->n; i++)
        dkimcheck_header(v, m->names[i], m->values[i]);
    dkimcheck_eoh(v);
    ck_assert(!dkimcheck_wants_body(v));
    ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_NONE);
    ck_assert_uint_eq(nsigs, 0);
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
    msg_free(m);
}
END_TEST

START_TEST(test_malformed_signature)
{
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    dkimcheck_t *v = dkimcheck_new(lib, "M");

    dkimcheck_header(v, "DKIM-Signature", " v=1; a=rsa-sha256; d=x;(evil; s=sel; bh=; b=");
    dkimcheck_header(v, "From", " a@signer.example");
    dkimcheck_eoh(v);
    dkimcheck_body(v, (const unsigned char *)"x\r\n", 3);
    ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_NEUTRAL);
    ck_assert_uint_eq(nsigs, 1);
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
}
END_TEST

/* s=/d= that make no DNS name: the signer's error (permerror), never a
 * temperror that would outrank a real fail in the aggregate. */
START_TEST(test_bad_selector_is_permerror)
{
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    dkimcheck_t *v = dkimcheck_new(lib, "S");

    dkimcheck_header(v, "DKIM-Signature",
                     " v=1; a=rsa-sha256; c=relaxed/relaxed; d=signer.example; s=a..b; h=from;"
                     " bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAAAAAAAAAA");
    dkimcheck_header(v, "From", " a@signer.example");
    dkimcheck_eoh(v);
    dkimcheck_body(v, (const unsigned char *)"\r\n", 2);
    ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_PERMERROR);
    ck_assert_uint_eq(nsigs, 1);
    ck_assert_int_eq(sigs[0].result, DKIMCHECK_PERMERROR);
    ck_assert_str_eq(sigs[0].reason, "bad selector or domain");
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
}
END_TEST

START_TEST(test_abandoned_message)
{
    /* headers and part of the body, then the message is dropped (freed
     * while verifying: no leak under valgrind/ASan); the library then
     * verifies the same message, whole, as usual */
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    msg *m = msg_read("data/dkim/two-sigs.eml", false);
    dkimcheck_t *v = dkimcheck_new(lib, "A");

    for (size_t i = 0; i < m->n; i++)
        dkimcheck_header(v, m->names[i], m->values[i]);
    dkimcheck_eoh(v);
    dkimcheck_body(v, (const unsigned char *)m->body, 5);
    ck_assert(dkimcheck_wants_body(v)); /* dropped in the middle */
    dkimcheck_free(v);
    v = dkimcheck_new(lib, "A2");
    for (size_t i = 0; i < m->n; i++)
        dkimcheck_header(v, m->names[i], m->values[i]);
    dkimcheck_eoh(v);
    dkimcheck_body(v, (const unsigned char *)m->body, m->bodylen);
    ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_PASS);
    ck_assert_uint_eq(nsigs, 2);
    ck_result(sig_of("signer.example")->result, DKIMCHECK_PASS);
    ck_result(sig_of("other.example")->result, DKIMCHECK_FAIL);
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
    msg_free(m);
}
END_TEST

/* VmHWM (peak resident set) of this process in kB, or -1. */
static long vm_hwm_kb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(fp);
    return kb;
}

/* A 50 MB body streamed in 64 KB chunks (as MTAs send them) is
 * hashed without being kept: the peak RSS grows by far less than the body.
 * (5 MB under valgrind, which is slow and has its own RSS.) */
START_TEST(test_large_body_bounded_memory)
{
    const char *pre = getenv("LD_PRELOAD");
    size_t total = (pre && strstr(pre, "vgpreload")) ? 5u << 20 : 50u << 20, sent = 0;
    char err[256];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    msg *m = msg_read("data/dkim/pass-relaxed.eml", false);
    dkimcheck_t *v = dkimcheck_new(lib, "BIG");
    unsigned char *chunk = xmalloc(65536);
    long before, after;

    /* lines of 78 characters, CRLF */
    for (size_t i = 0; i < 65536; i++)
        chunk[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : (unsigned char)('a' + i % 26);
    for (size_t i = 0; i < m->n; i++)
        dkimcheck_header(v, m->names[i], m->values[i]);
    dkimcheck_eoh(v);
    ck_assert(dkimcheck_wants_body(v));
    before = vm_hwm_kb();
    while (sent < total) {
        dkimcheck_body(v, chunk, 65536);
        sent += 65536;
    }
    /* the whole body was hashed: the body hash does not match */
    ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_FAIL);
    ck_assert_str_eq(sigs[0].reason, "body hash mismatch");
    after = vm_hwm_kb();
    ck_assert_int_ge(before, 0);
    fprintf(stderr, "dkim: %zu MB body streamed: peak RSS %ld kB before, %ld kB after (+%ld kB)\n",
            total >> 20, before, after, after - before);
    ck_assert_msg(after - before < 8192, "peak RSS grew by %ld kB for a %zu MB body", after - before,
                  total >> 20);
    free(chunk);
    dkimcheck_free(v);
    dkimcheck_lib_free(lib);
    msg_free(m);
}
END_TEST

/* Issue 6 (fuzz_dkim, tests/fuzz/findings/README): an h= that names every
 * field of the message and one name more made libopendkim 2.11.0's
 * dkim_canon_selecthdrs() write 8 zero bytes past its table (heap
 * corruption).  The minimized trigger (tests/fuzz/corpus/dkim/
 * h-selects-every-field) and a signed message with such a hostile second
 * signature, with 0..7 padding fields, many times (without the fix: glibc
 * aborts, or valgrind reports the invalid write).  The good signature
 * still passes and the hostile one gets libopendkim's own verdict. */
START_TEST(test_h_selects_every_field)
{
    char err[256], h[512], pad[16];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));
    msg *m = msg_read("data/dkim/pass-relaxed.eml", false);

    ck_assert_msg(lib != NULL, "%s", err);
    for (int round = 0; round < 200; round++) {
        /* the fuzzer's minimized input: one field, h= selects it and more */
        dkimcheck_t *v = dkimcheck_new(lib, "H1");
        dkimcheck_header(v, "DKIM-Signature",
                         "v=1; a=rsa-sha256;d=m;s=l;h=from:dkim-signature:x;bh=A;b=-");
        dkimcheck_eoh(v);
        dkimcheck_body(v, (const unsigned char *)"\r\n", 2);
        dkimcheck_sigs_free(sigs, nsigs);
        dkimcheck_eom(v, &sigs, &nsigs);
        ck_assert_uint_eq(nsigs, 1);
        ck_assert_int_ne(sigs[0].result, DKIMCHECK_PASS);
        dkimcheck_free(v);
    }
    for (int npad = 0; npad < 8; npad++) {
        /* hostile: every field of the message (the good signature, its own
         * field, the five signed ones, the padding) and one name more */
        snprintf(h, sizeof(h), " v=1; a=rsa-sha256; d=other.example; s=sel2048; bh=AAAA; b=AAAA;"
                               " h=dkim-signature:dkim-signature:from:to:subject:date:message-id");
        for (int p = 0; p < npad; p++)
            strncat(h, ":x-pad", sizeof(h) - strlen(h) - 1);
        strncat(h, ":x-not-there", sizeof(h) - strlen(h) - 1);
        for (int round = 0; round < 25; round++) {
            dkimcheck_t *v = dkimcheck_new(lib, "H2");
            dkimcheck_header(v, "DKIM-Signature", h);
            for (size_t i = 0; i < m->n; i++)
                dkimcheck_header(v, m->names[i], m->values[i]);
            for (int p = 0; p < npad; p++) {
                snprintf(pad, sizeof(pad), " %d", p);
                dkimcheck_header(v, "X-Pad", pad);
            }
            dkimcheck_eoh(v);
            dkimcheck_body(v, (const unsigned char *)m->body, m->bodylen);
            dkimcheck_sigs_free(sigs, nsigs);
            ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_PASS);
            ck_assert_uint_eq(nsigs, 2);
            ck_result(sig_of("signer.example")->result, DKIMCHECK_PASS);
            ck_result(sig_of("other.example")->result, DKIMCHECK_FAIL);
            dkimcheck_free(v);
        }
    }
    dkimcheck_lib_free(lib);
    msg_free(m);
}
END_TEST

/* Issue 6: libopendkim's dkim_qp_decode() reads past an i= that ends in
 * "=" or "=X", and leaves an i= of more than 256 octets unterminated on
 * the stack.  Such a signature is never handed to libopendkim: neutral
 * (a syntax error, RFC 8601 2.7.1), with its d= and s= reported; a valid
 * quoted-printable i= is verified as before. */
START_TEST(test_malformed_i_tag)
{
    static const char *const bad[] = {
        "v=1;d=a.example;s=s;i==",                       /* the fuzzer's, minimized */
        " v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA; i=@a.example=",
        " v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA; i=@a.example=4",
        " v=1; a=rsa-sha256; d=a.example; s=s; h=from; i = @a.exa mple= 4 ; bh=AAAA; b=AAAA",
        " v=1; a=rsa-sha256; d=a.example; s=s; h=from; bh=AAAA; b=AAAA; i=@a.example=G0",
    };
    char err[256], longi[400];
    dkimcheck_lib *lib = dkimcheck_lib_new(dns, NULL, err, sizeof(err));

    ck_assert_msg(lib != NULL, "%s", err);
    for (size_t c = 0; c <= sizeof(bad) / sizeof(bad[0]); c++) {
        dkimcheck_t *v = dkimcheck_new(lib, "I");
        const char *val = c < sizeof(bad) / sizeof(bad[0]) ? bad[c] : longi;
        if (c == sizeof(bad) / sizeof(bad[0])) { /* an i= of 302 octets */
            memset(longi, 'a', sizeof(longi));
            memcpy(longi, "v=1; d=a.example; s=s; i=@", 26);
            memcpy(longi + 26 + 300, ".", 2);
        }
        /* white space before the colon: still a signature to libopendkim */
        dkimcheck_header(v, c == 1 ? "DKIM-Signature " : "DKIM-Signature", val);
        dkimcheck_header(v, "From", " a@a.example");
        dkimcheck_eoh(v);
        dkimcheck_body(v, (const unsigned char *)"\r\n", 2);
        dkimcheck_sigs_free(sigs, nsigs);
        ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_NEUTRAL);
        ck_assert_uint_eq(nsigs, 1);
        ck_assert_str_eq(sigs[0].reason, "malformed i= tag");
        ck_assert_str_eq(sigs[0].domain, "a.example");
        ck_assert_str_eq(sigs[0].selector, "s");
        dkimcheck_free(v);
    }
    /* a valid quoted-printable i= is verified: a fail (b= is no signature) */
    {
        dkimcheck_t *v = dkimcheck_new(lib, "I2");
        dkimcheck_header(v, "DKIM-Signature", " v=1; a=rsa-sha256; d=other.example; s=sel2048; h=from;"
                                              " bh=AAAA; b=AAAA; i=a=2Eb@other.example");
        dkimcheck_header(v, "From", " a@other.example");
        dkimcheck_eoh(v);
        dkimcheck_body(v, (const unsigned char *)"\r\n", 2);
        dkimcheck_sigs_free(sigs, nsigs);
        ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_FAIL);
        ck_assert_str_eq(sigs[0].identity, "a=2Eb@other.example");
        dkimcheck_free(v);
    }
    /* a bare CR before a valid i= at the end (found by fuzzing after the
     * check above): libopendkim would cut one octet off the end, "=65" to
     * "=6", and read past it; the CR is made CRLF before it gets there */
    for (int round = 0; round < 2; round++) {
        dkimcheck_t *v = dkimcheck_new(lib, "I3");
        dkimcheck_header(v, "DKIM-Signature", round ? " v=1; a=rsa-sha256;\r d=other.example; s=sel2048;"
                                                      " h=from; bh=AAAA; b=AAAA; i=@other.exampl=65\r"
                                                    : " v=1; a=rsa-sha256;\r d=other.example; s=sel2048;"
                                                      " h=from; bh=AAAA; b=AAAA; i=@other.exampl=65");
        dkimcheck_header(v, "From", " a@other.example");
        dkimcheck_eoh(v);
        dkimcheck_body(v, (const unsigned char *)"\r\n", 2);
        dkimcheck_sigs_free(sigs, nsigs);
        ck_result(dkimcheck_eom(v, &sigs, &nsigs), DKIMCHECK_FAIL);
        ck_assert_str_eq(sigs[0].reason, "signature did not verify");
        dkimcheck_free(v);
    }
    dkimcheck_lib_free(lib);
}
END_TEST

START_TEST(test_aggregate_and_names)
{
    dkimcheck_sig s[3];
    dkimcheck_result r;

    memset(s, 0, sizeof(s));
    ck_result(dkimcheck_aggregate(s, 0), DKIMCHECK_NONE);
    s[0].result = DKIMCHECK_FAIL;
    s[1].result = DKIMCHECK_TEMPERROR;
    s[2].result = DKIMCHECK_PERMERROR;
    ck_result(dkimcheck_aggregate(s, 3), DKIMCHECK_TEMPERROR);
    ck_result(dkimcheck_aggregate(s, 1), DKIMCHECK_FAIL);
    s[2].result = DKIMCHECK_PASS;
    ck_result(dkimcheck_aggregate(s, 3), DKIMCHECK_PASS);
    s[0].result = DKIMCHECK_POLICY;
    s[1].result = DKIMCHECK_NEUTRAL;
    ck_result(dkimcheck_aggregate(s, 2), DKIMCHECK_POLICY);
    ck_assert(dkimcheck_result_parse("PermError", &r));
    ck_result(r, DKIMCHECK_PERMERROR);
    ck_assert(dkimcheck_result_parse("none", &r));
    ck_assert(!dkimcheck_result_parse("unset", &r));
    ck_assert(!dkimcheck_result_parse("softfail", &r));
    ck_assert_str_eq(dkimcheck_result_name(DKIMCHECK_POLICY), "policy");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dkimcheck");
    TCase *tc = tcase_create("verify");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rfc8463_ed25519_and_rsa);
    tcase_add_test(tc, test_rfc8463_body_altered);
    tcase_add_test(tc, test_pass_relaxed_and_simple);
    tcase_add_test(tc, test_streamed_in_small_chunks);
    tcase_add_test(tc, test_lf_folded_headers);
    tcase_add_test(tc, test_body_altered);
    tcase_add_test(tc, test_header_altered);
    tcase_add_test(tc, test_key_missing);
    tcase_add_test(tc, test_key_revoked);
    tcase_add_test(tc, test_dns_timeout);
    tcase_add_test(tc, test_servfail_is_temperror);
    tcase_add_test(tc, test_two_signatures_one_bad);
    tcase_add_test(tc, test_length_with_appended_body);
    tcase_add_test(tc, test_expired);
    tcase_add_test(tc, test_future_and_clock_skew);
    tcase_add_test(tc, test_small_key);
    tcase_add_test(tc, test_rsa_sha1_never_passes);
    tcase_add_test(tc, test_rsa_sha1_beside_sha256);
    tcase_add_test(tc, test_rsa_sha1_no_key_lookup);
    tcase_add_test(tc, test_required_headers);
    tcase_add_test(tc, test_max_signatures);
    tcase_add_test(tc, test_signature_flood_bounded);
    tcase_add_test(tc, test_unsigned);
    tcase_add_test(tc, test_malformed_signature);
    tcase_add_test(tc, test_bad_selector_is_permerror);
    tcase_add_test(tc, test_abandoned_message);
    tcase_add_test(tc, test_large_body_bounded_memory);
    tcase_add_test(tc, test_h_selects_every_field);
    tcase_add_test(tc, test_malformed_i_tag);
    tcase_add_test(tc, test_aggregate_and_names);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

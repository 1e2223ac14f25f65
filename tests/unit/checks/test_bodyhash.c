/*
 * test_bodyhash.c - unit tests of policy/checks/bodyhash.c, the DKIM body hash
 * that replaces libopendkim's body canonicalization in dkimcheck.c.
 *
 * Known answers (empty bodies, RFC 6376 3.4.5's example), chunk-split
 * independence, bh= parsing, and a differential test against the oracle
 * we replaced: libopendkim signs 400 pseudo-random bodies (white space runs,
 * empty lines, bare CR and LF, trailing blank lines) with simple and
 * relaxed body canonicalization, and the bh= it writes must match our hash
 * of the same body fed in random chunks.  libopendkim gets each body in one
 * chunk: its canonicalizer drops a byte after a bare CR that ends a chunk
 * on an empty line (relaxed), a bug of its own that ours must not copy.
 * Bodies end with CRLF, as every body from an MTA does (for a body without
 * one, libopendkim hashes no line end; RFC 6376 3.4.3 and ours add one).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha2.h>
#include <opendkim/dkim.h>

#include "bodyhash.h"
#include "testutil.h"
#include "xalloc.h"

static void digest_of(bodyhash_canon canon, const char *body, size_t len, size_t chunk,
                      uint8_t out[BODYHASH_SIZE])
{
    bodyhash_t *h = bodyhash_new(canon);

    for (size_t off = 0; off < len;) {
        size_t n = chunk == 0 || len - off < chunk ? len - off : chunk;
        bodyhash_update(h, (const unsigned char *)body + off, n);
        off += n;
    }
    bodyhash_final(h, out);
    bodyhash_free(h);
}

static void b64(const uint8_t d[BODYHASH_SIZE], char out[BASE64_ENCODE_RAW_LENGTH(BODYHASH_SIZE) + 1])
{
    base64_encode_raw(out, BODYHASH_SIZE, d);
    out[BASE64_ENCODE_RAW_LENGTH(BODYHASH_SIZE)] = '\0';
}

static void ck_hash(bodyhash_canon canon, const char *body, const char *want_b64)
{
    uint8_t d[BODYHASH_SIZE];
    char got[64];

    digest_of(canon, body, strlen(body), 0, d);
    b64(d, got);
    ck_assert_msg(strcmp(got, want_b64) == 0, "%s of [%s]: %s, want %s",
                  canon == BODYHASH_SIMPLE ? "simple" : "relaxed", body, got, want_b64);
}

/* sha256 of a canonical form, to state expectations as text. */
static void sha_b64(const char *canon, char out[64])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];

    sha256_init(&c);
    sha256_update(&c, strlen(canon), (const uint8_t *)canon);
    sha256_digest(&c, sizeof(d), d);
    b64(d, out);
}

static void ck_canon(bodyhash_canon canon, const char *body, const char *want_canon)
{
    char want[64];

    sha_b64(want_canon, want);
    ck_hash(canon, body, want);
}

START_TEST(test_empty_bodies)
{
    /* RFC 6376 3.4.3: an empty simple body is one CRLF; 3.4.4 (errata
     * 1384): an empty relaxed body is empty. */
    ck_hash(BODYHASH_SIMPLE, "", "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
    ck_hash(BODYHASH_RELAXED, "", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    ck_canon(BODYHASH_SIMPLE, "\r\n\r\n\r\n", "\r\n");
    ck_canon(BODYHASH_RELAXED, "\r\n \t \r\n\r\n", "");
}
END_TEST

START_TEST(test_rfc6376_example)
{
    /* RFC 6376 3.4.5 */
    const char *body = " C \r\nD \t E\r\n\r\n\r\n";
    ck_canon(BODYHASH_RELAXED, body, " C\r\nD E\r\n");
    ck_canon(BODYHASH_SIMPLE, body, " C \r\nD \t E\r\n");
}
END_TEST

START_TEST(test_line_ends)
{
    /* bare CR and bare LF end lines (libopendkim's FIXCRLF) */
    ck_canon(BODYHASH_SIMPLE, "a\nb\rc\r\n", "a\r\nb\r\nc\r\n");
    ck_canon(BODYHASH_RELAXED, "a \nb\t\rc\r\n", "a\r\nb\r\nc\r\n");
    ck_canon(BODYHASH_SIMPLE, "a\r\r\nb\r\n", "a\r\n\r\nb\r\n");
    /* no line end after the last line: one is added */
    ck_canon(BODYHASH_SIMPLE, "a\r\nb", "a\r\nb\r\n");
    ck_canon(BODYHASH_RELAXED, "a\r\nb  ", "a\r\nb\r\n");
    ck_canon(BODYHASH_SIMPLE, "a\r", "a\r\n");
    /* empty lines inside stay, at the end they go */
    ck_canon(BODYHASH_SIMPLE, "\r\n\r\na\r\n\r\nb\r\n\r\n", "\r\n\r\na\r\n\r\nb\r\n");
    ck_canon(BODYHASH_RELAXED, " \r\n\t\r\na b\r\n \r\n", "\r\n\r\na b\r\n");
    /* white space only lines are not empty for simple */
    ck_canon(BODYHASH_SIMPLE, "a\r\n \r\n", "a\r\n \r\n");
}
END_TEST

START_TEST(test_chunking_does_not_matter)
{
    static const char body[] = "  x \t y\r\n\r\n\r\nz\r\r\n \n\t\r\nend \r\n\r\n\r";
    uint8_t whole[2][BODYHASH_SIZE], part[BODYHASH_SIZE];

    for (int c = 0; c < 2; c++) {
        digest_of((bodyhash_canon)c, body, sizeof(body) - 1, 0, whole[c]);
        for (size_t chunk = 1; chunk < sizeof(body); chunk++) {
            digest_of((bodyhash_canon)c, body, sizeof(body) - 1, chunk, part);
            ck_assert_msg(memcmp(part, whole[c], BODYHASH_SIZE) == 0, "canon %d chunk %zu differs", c,
                          chunk);
        }
    }
}
END_TEST

START_TEST(test_matches)
{
    uint8_t d[BODYHASH_SIZE];
    char s[64], folded[96];

    digest_of(BODYHASH_SIMPLE, "hello\r\n", 7, 0, d);
    b64(d, s);
    ck_assert(bodyhash_matches(d, s));
    /* folding white space inside bh= */
    snprintf(folded, sizeof(folded), "%.10s\r\n\t %.20s %s", s, s + 10, s + 30);
    ck_assert(bodyhash_matches(d, folded));
    s[5] = s[5] == 'A' ? 'B' : 'A';
    ck_assert(!bodyhash_matches(d, s));
    ck_assert(!bodyhash_matches(d, NULL));
    ck_assert(!bodyhash_matches(d, ""));
    ck_assert(!bodyhash_matches(d, "!!!!"));
    /* a sha1-sized value never matches */
    ck_assert(!bodyhash_matches(d, "2jmj7l5rSw0yVb/vlWAYkK/YBwk="));
}
END_TEST

/* ---- differential: libopendkim's signing canonicalization ------------- */

static char *read_file(const char *rel)
{
    FILE *fp = fopen(tu_path(rel), "r");
    char *buf = xmalloc(16384);
    size_t n;

    ck_assert_msg(fp != NULL, "cannot open %s", rel);
    n = fread(buf, 1, 16383, fp);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* The bh= libopendkim writes for body (one chunk), canonicalization bc. */
static char *opendkim_bh(DKIM_LIB *lib, const char *key, dkim_canon_t bc, const char *body, size_t len)
{
    static const char *const hdrs[] = {"From: a@signer.example", "Subject: t", NULL};
    DKIM_STAT st;
    DKIM *dk = dkim_sign(lib, (const u_char *)"t", NULL, (dkim_sigkey_t)key, (const u_char *)"test",
                         (const u_char *)"signer.example", DKIM_CANON_RELAXED, bc, DKIM_SIGN_RSASHA256, -1, &st);
    u_char hdr[4096];
    char *bh, *end;

    ck_assert_msg(dk != NULL && st == DKIM_STAT_OK, "dkim_sign: %d", st);
    for (int i = 0; hdrs[i]; i++)
        ck_assert_int_eq(dkim_header(dk, (u_char *)hdrs[i], strlen(hdrs[i])), DKIM_STAT_OK);
    ck_assert_int_eq(dkim_eoh(dk), DKIM_STAT_OK);
    if (len)
        ck_assert_int_eq(dkim_body(dk, (u_char *)body, len), DKIM_STAT_OK);
    ck_assert_int_eq(dkim_eom(dk, NULL), DKIM_STAT_OK);
    ck_assert_int_eq(dkim_getsighdr(dk, hdr, sizeof(hdr), 0), DKIM_STAT_OK);
    dkim_free(dk);
    bh = strstr((char *)hdr, "bh=");
    ck_assert_ptr_nonnull(bh);
    bh = xstrdup(bh + 3);
    if ((end = strchr(bh, ';')) != NULL)
        *end = '\0';
    return bh;
}

/* xorshift: a fixed sequence, so a failure can be reproduced. */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

static size_t random_body(char *buf, size_t max)
{
    static const char *const atoms[] = {"a", "bc", " ", "\t", "  ", " \t ", "\r\n", "\r\n",
                                        "\r\n\r\n", "\n", "\r", "xyz ", "\r\n \r\n", "\x80", "."};
    size_t n = 0, target = rnd(300);

    while (n < target && n + 8 < max) {
        const char *a = atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))];
        memcpy(buf + n, a, strlen(a));
        n += strlen(a);
    }
    /* every body from an MTA ends with CRLF; some with empty lines too */
    memcpy(buf + n, "\r\n", 2);
    n += 2;
    for (unsigned k = rnd(3); k > 0; k--, n += 2)
        memcpy(buf + n, "\r\n", 2);
    return n;
}

START_TEST(test_differential_against_libopendkim)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    unsigned flags = DKIM_LIBFLAGS_FIXCRLF;
    /* a 1024-bit key: only bh= matters here, and signing stays cheap
     * enough under valgrind (libopendkim leaks the key of every ed25519
     * signature it makes, so not that) */
    char *key = read_file("data/dkim/test-rsa1024.private.pem");
    char body[512];
    int cases = 0;

    ck_assert_ptr_nonnull(lib);
    ck_assert_int_eq(dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)), DKIM_STAT_OK);
    for (int i = 0; i < 400; i++) {
        size_t len = random_body(body, sizeof(body) - 8);
        for (int c = 0; c < 2; c++) {
            uint8_t d[BODYHASH_SIZE];
            char *bh = opendkim_bh(lib, key, c ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE, body, len);

            digest_of(c ? BODYHASH_RELAXED : BODYHASH_SIMPLE, body, len, 1 + rnd(40), d);
            if (!bodyhash_matches(d, bh)) {
                char esc[2048];
                size_t e = 0;
                for (size_t k = 0; k < len && e + 5 < sizeof(esc); k++)
                    e += (size_t)snprintf(esc + e, sizeof(esc) - e,
                                          body[k] == '\r' ? "\\r" : body[k] == '\n' ? "\\n" : body[k] == '\t' ? "\\t" : "%c",
                                          body[k]);
                ck_abort_msg("case %d %s: libopendkim bh=%s differs for [%s]", i, c ? "relaxed" : "simple", bh,
                             esc);
            }
            free(bh);
            cases++;
        }
    }
    ck_assert_int_eq(cases, 800);
    free(key);
    dkim_close(lib);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bodyhash");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_empty_bodies);
    tcase_add_test(tc, test_rfc6376_example);
    tcase_add_test(tc, test_line_ends);
    tcase_add_test(tc, test_chunking_does_not_matter);
    tcase_add_test(tc, test_matches);
    tcase_add_test(tc, test_differential_against_libopendkim);
    suite_add_tcase(s, tc);
    return tu_run(s);
}

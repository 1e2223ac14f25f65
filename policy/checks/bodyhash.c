/*
 * bodyhash.c - the DKIM body hash (bodyhash.h).
 *
 * One pass, constant memory: bytes go through two small state machines.
 * The first makes line ends of CRLF, bare CR and bare LF (a CR is held until
 * the next byte shows which).  The second canonicalizes lines:
 *   simple   every line as it is; empty lines are held back and written
 *            only when a non-empty line follows (RFC 6376 3.4.3: empty
 *            lines at the end of the body are ignored); an empty body is
 *            one CRLF;
 *   relaxed  white space (SP, HTAB) runs become one SP, white space at the
 *            end of a line goes, and so lines of white space only are empty
 *            lines, held back like above (3.4.4); an empty body stays empty.
 * A body whose last line has no line end gets a CRLF (3.4.3, 3.4.4).
 * Output goes through a buffer into nettle's SHA-256.
 *
 * SECURITY: the body is hostile input; nothing here allocates per byte or
 * per line, and the held-back empty lines are a counter.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha2.h>

#include "bodyhash.h"
#include "xalloc.h"

#define OUT_SIZE 4096

struct bodyhash {
    bodyhash_canon canon;
    struct sha256_ctx sha;
    bool cr;           /* a CR whose line end is not known yet */
    bool content;      /* the current line has written content */
    bool wsp;          /* relaxed: white space pending in the line */
    bool wrote;        /* anything written at all */
    uint64_t blanks;   /* empty lines held back */
    size_t olen;
    unsigned char out[OUT_SIZE];
};

bodyhash_t *bodyhash_new(bodyhash_canon canon)
{
    bodyhash_t *h = xcalloc(1, sizeof(*h));

    h->canon = canon;
    sha256_init(&h->sha);
    return h;
}

void bodyhash_free(bodyhash_t *h)
{
    free(h);
}

static void bh_flush(bodyhash_t *h)
{
    if (h->olen > 0) {
        sha256_update(&h->sha, h->olen, h->out);
        h->olen = 0;
    }
}

static inline void bh_put(bodyhash_t *h, unsigned char c)
{
    if (h->olen == OUT_SIZE)
        bh_flush(h);
    h->out[h->olen++] = c;
    h->wrote = true;
}

static void bh_crlf(bodyhash_t *h)
{
    bh_put(h, '\r');
    bh_put(h, '\n');
}

/* A line ended (CRLF, bare CR or bare LF). */
static inline void bh_line_end(bodyhash_t *h)
{
    if (h->content)
        bh_crlf(h);
    else
        h->blanks++;
    h->content = false;
    h->wsp = false;
}

/* The first content of a line: the empty lines before it count now. */
static void bh_line_start(bodyhash_t *h)
{
    for (; h->blanks > 0; h->blanks--)
        bh_crlf(h);
    h->content = true;
}

static inline void bh_byte(bodyhash_t *h, unsigned char c)
{
    if (h->canon == BODYHASH_RELAXED) {
        if (c == ' ' || c == '\t') {
            h->wsp = true;
            return;
        }
        if (!h->content)
            bh_line_start(h);
        if (h->wsp) {
            bh_put(h, ' ');
            h->wsp = false;
        }
    } else if (!h->content) {
        bh_line_start(h);
    }
    bh_put(h, c);
}

/* Bytes that need the state machines: CR, LF, and for relaxed SP, HTAB. */
static const bool special_simple[256] = {['\r'] = true, ['\n'] = true};
static const bool special_relaxed[256] = {['\r'] = true, ['\n'] = true, [' '] = true, ['\t'] = true};

/* A run of plain bytes inside a line with content: copied as they are. */
static void bh_run(bodyhash_t *h, const unsigned char *p, size_t n)
{
    while (n > 0) {
        size_t room = OUT_SIZE - h->olen, k = n < room ? n : room;
        memcpy(h->out + h->olen, p, k);
        h->olen += k;
        p += k;
        n -= k;
        if (h->olen == OUT_SIZE)
            bh_flush(h);
    }
}

void bodyhash_update(bodyhash_t *h, const unsigned char *p, size_t n)
{
    const bool *special = h->canon == BODYHASH_RELAXED ? special_relaxed : special_simple;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];

        /* The common case first: more of a line already under way, up to
         * the next special byte; for relaxed a single SP between two plain
         * bytes stays as it is, so it does not end the run. */
        if (h->content && !h->cr && !h->wsp && !special[c]) {
            size_t j = i + 1;
            while (j < n) {
                if (!special[p[j]])
                    j++;
                else if (p[j] == ' ' && j + 1 < n && !special[p[j + 1]])
                    j += 2;
                else
                    break;
            }
            bh_run(h, p + i, j - i);
            i = j - 1;
            continue;
        }

        if (h->cr) {
            h->cr = false;
            bh_line_end(h); /* CRLF, or a bare CR */
            if (c == '\n')
                continue;
        }
        if (c == '\r')
            h->cr = true;
        else if (c == '\n')
            bh_line_end(h); /* a bare LF */
        else
            bh_byte(h, c);
    }
}

void bodyhash_final(bodyhash_t *h, uint8_t digest[BODYHASH_SIZE])
{
    if (h->cr) {
        h->cr = false;
        bh_line_end(h);
    }
    if (h->content) /* no line end after the last line */
        bh_line_end(h);
    if (h->canon == BODYHASH_SIMPLE && !h->wrote)
        bh_crlf(h);
    bh_flush(h);
    sha256_digest(&h->sha, BODYHASH_SIZE, digest);
}

bool bodyhash_matches(const uint8_t digest[BODYHASH_SIZE], const char *bh)
{
    char clean[128];
    uint8_t dec[BASE64_DECODE_LENGTH(sizeof(clean))];
    size_t n = 0, declen = sizeof(dec);
    struct base64_decode_ctx ctx;

    if (bh == NULL)
        return false;
    for (const char *p = bh; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            continue;
        if (n == sizeof(clean))
            return false;
        clean[n++] = *p;
    }
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &declen, dec, n, clean) || !base64_decode_final(&ctx))
        return false;
    return declen == BODYHASH_SIZE && memcmp(dec, digest, BODYHASH_SIZE) == 0;
}

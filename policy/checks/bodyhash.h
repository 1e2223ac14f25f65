/*
 * bodyhash.h - the DKIM body hash (RFC 6376 3.4.3, 3.4.4, 3.7): "simple"
 * or "relaxed" body canonicalization of a streamed message body, hashed
 * with SHA-256 (nettle).  Bare CR and bare LF count as line ends, as
 * libopendkim's DKIM_LIBFLAGS_FIXCRLF makes them.  Used by dkimcheck.c in
 * place of libopendkim's own body canonicalization (see there).
 */
#ifndef MXG_BODYHASH_H
#define MXG_BODYHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BODYHASH_SIZE 32 /* SHA-256 */

typedef enum { BODYHASH_SIMPLE, BODYHASH_RELAXED } bodyhash_canon;

typedef struct bodyhash bodyhash_t;

/* A new hash over an empty body; never NULL (xalloc). */
bodyhash_t *bodyhash_new(bodyhash_canon canon);
/* Add a chunk of the body (any split: lines may span chunks). */
void bodyhash_update(bodyhash_t *h, const unsigned char *p, size_t n);
/* The hash of the whole body; no update after it. */
void bodyhash_final(bodyhash_t *h, uint8_t digest[BODYHASH_SIZE]);
void bodyhash_free(bodyhash_t *h);

/* Does bh (a bh= tag value: base64, folding white space allowed) decode to
 * exactly digest? */
bool bodyhash_matches(const uint8_t digest[BODYHASH_SIZE], const char *bh);

#endif

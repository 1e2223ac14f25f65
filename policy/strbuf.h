/*
 * strbuf.h - a growing NUL-terminated string, for the modules that build
 * text (decision line, Authentication-Results, SPF record rewrite, metrics
 * exposition).  A zeroed strbuf is empty; allocation never fails (xalloc).
 */
#ifndef MXG_STRBUF_H
#define MXG_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *s;    /* NUL-terminated once anything was added; NULL before */
    size_t len; /* bytes in s, without the NUL */
    size_t cap; /* bytes allocated */
} strbuf;

void strbuf_add(strbuf *b, const char *p, size_t n);
void strbuf_adds(strbuf *b, const char *p);
void strbuf_addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string (caller frees; "" when empty); b is empty afterwards. */
char *strbuf_take(strbuf *b);

#endif

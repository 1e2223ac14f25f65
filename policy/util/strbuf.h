/*
 * strbuf.h - a growing NUL-terminated string, for the modules that build
 * text (decision line, Authentication-Results, SPF record rewrite, metrics
 * exposition), and the quoting of one value for a key=value log line.  A zeroed strbuf is empty; allocation never fails (xalloc).
 */
#ifndef MXG_STRBUF_H
#define MXG_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *s;    /* NUL-terminated once anything was added; NULL before */
    size_t len; /* bytes in s, without the NUL */
    size_t cap; /* bytes allocated */
} strbuf;

/* The value of one hex digit (0-9, a-f, A-F), or -1. */
int strbuf_hexval(char c);

void strbuf_add(strbuf *b, const char *p, size_t n);
void strbuf_adds(strbuf *b, const char *p);
void strbuf_addf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string (caller frees; "" when empty); b is empty afterwards. */
char *strbuf_take(strbuf *b);


/* Bytes of output a value may take (escapes counted as written, never
 * split); a longer value is cut there and "..." appended (inside the quotes
 * when quoted).  A cut mail_from thus ends in "..." instead of ">". */
#define STRBUF_QUOTE_MAX 256

/* One value for a key=value log line (the decision line, and every log
 * line that carries client input), in a new string (caller frees):
 * NULL gives "-" (unknown); a value that is empty or contains a space, '"',
 * '\\', '=', a control byte (< 0x20, 0x7f) or a byte >= 0x80 is written as
 * "..." with '"' and '\\' backslash-escaped and control/non-ASCII bytes as
 * \xHH (lower-case hex); anything else is written as is.  The result never
 * contains a control byte.  Bounded by STRBUF_QUOTE_MAX. */
char *strbuf_quote(const char *v);

#endif

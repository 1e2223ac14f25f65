/*
 * strbuf.c - a growing NUL-terminated string.
 */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strbuf.h"
#include "xalloc.h"

static void strbuf_reserve(strbuf *b, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
    }
}

void strbuf_add(strbuf *b, const char *p, size_t n)
{
    strbuf_reserve(b, n);
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void strbuf_adds(strbuf *b, const char *p)
{
    strbuf_add(b, p, strlen(p));
}

void strbuf_addf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    strbuf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(strbuf *b)
{
    char *s = b->s ? b->s : xstrdup("");

    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

static bool strbuf_needs_quote(const char *v)
{
    /* Empty, and a real "-" (which bare would read as "unknown"). */
    if (*v == '\0' || strcmp(v, "-") == 0)
        return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || *p == '=')
            return true;
    return false;
}

char *strbuf_quote(const char *v)
{
    static const char hex[] = "0123456789abcdef";
    strbuf b = {0};
    bool quote;

    if (v == NULL)
        return xstrdup("-");
    quote = strbuf_needs_quote(v);
    if (quote)
        strbuf_adds(&b, "\"");
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[4];
        size_t n;

        if (*p < 0x20 || *p >= 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[*p >> 4];
            esc[3] = hex[*p & 0xf];
            n = 4;
        } else if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            n = 2;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        if (b.len - (quote ? 1 : 0) + n > STRBUF_QUOTE_MAX) {
            strbuf_adds(&b, "...");
            break;
        }
        strbuf_add(&b, esc, n);
    }
    if (quote)
        strbuf_adds(&b, "\"");
    return b.s;
}

int strbuf_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * xalloc.h - allocation that succeeds or does not return.
 *
 * Out of memory is not an error path threaded through every caller: these
 * log a fatal message and exit with status 1 (log_fatal(), log.h); the
 * MTA's milter_default_action then decides what happens to the message in
 * flight.
 */
#ifndef MXG_XALLOC_H
#define MXG_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Resize p to an array of nmemb elements of size bytes each (like
 * xrealloc); nmemb * size overflowing counts as out of memory. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns NULL for NULL, else a copy. */
char *xstrdup_or_null(const char *s);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

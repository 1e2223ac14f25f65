/*
 * dname.h - the syntax of domain names as mxguard takes them from its
 * config and from mail (HELO and envelope domains, From domains, DKIM d=,
 * DNS list zones): labels of letters, digits, '-' and '_' (for service
 * labels such as _dmarc), 1 to 63 octets each, at most 253 octets in all.
 * One place, so every check agrees on what a domain name is.
 */
#ifndef MXG_DNAME_H
#define MXG_DNAME_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4 in text form: a name of at most 253 octets (255 on the
 * wire) without its trailing dot, labels of at most 63. */
#define DNAME_MAX 253
#define DNAME_BUFSZ (DNAME_MAX + 1) /* a name and its NUL */
#define DNAME_LABEL_MAX 63

/* Is name[0..len) such a name (no trailing dot, any letter case)? */
bool dname_valid(const char *name, size_t len);
/* Drop one trailing dot, check the rest with dname_valid() and copy it in
 * lower case into out, which has outsz bytes (the name and its NUL must
 * fit).  false (out undefined) otherwise. */
bool dname_normalize(const char *name, char *out, size_t outsz);

#endif

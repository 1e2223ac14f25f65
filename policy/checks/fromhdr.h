/*
 * fromhdr.h - the RFC5322.From header field: which domain, if any, a
 * message claims as its author.  The one parser of From values in mxguard
 * (DMARC and the "from" DNS lists use it).
 *
 * Outcomes (fromhdr_status), each with its DMARC consequence (dmarccheck.h):
 *   ok                one From field; one mailbox, or several mailboxes
 *                     that all have the same domain: that domain is
 *                     evaluated
 *   none              no From field at all: dmarc=permerror
 *   multiple          several From fields (RFC 5322 allows one; the
 *                     CVE-2019-16378 class): dmarc=permerror, never skipped
 *   multiple_domains  one From field with mailboxes of different domains:
 *                     dmarc=permerror
 *   no_domain         no mailbox ("undisclosed:;"), or one without "@domain"
 *                     (a bare local part, an unterminated address):
 *                     dmarc=permerror
 *   ip_literal        user@[192.0.2.1]: no DNS domain to hold a policy:
 *                     dmarc=permerror
 *   invalid           syntax the parser cannot make sense of (unbalanced
 *                     quotes, comments or brackets, several angle-addrs in
 *                     one mailbox, a domain that is neither LDH labels nor a
 *                     valid IDN, more than FROMHDR_MAX_MAILBOXES mailboxes,
 *                     a value longer than FROMHDR_MAX_LEN): dmarc=permerror
 *
 * What is understood: display names as atoms or quoted-strings (an @, a <
 * or a comma inside quotes is text), RFC 2047 encoded-words in display names
 * (not decoded: they are atoms, the address is what counts), comments
 * (nested, with quoted-pairs), folding (CRLF or LF followed by blanks is
 * white space), angle-addrs with an obsolete source route ("<@a,@b:u@d>"),
 * groups ("name: a@d, b@d;", RFC 6854) whose mailboxes count like any other,
 * a leading "From:" pasted into the value (a group named "From"), a trailing
 * root dot, upper case (lowered), UTF-8 domains (converted to A-labels with
 * libidn2, IDNA2008 non-transitional; an invalid U-label is "invalid"),
 * A-labels as given.
 *
 * SECURITY: the value is hostile input.  The parser is a single bounded
 * pass (FROMHDR_MAX_LEN bytes, FROMHDR_MAX_MAILBOXES mailboxes, comment
 * nesting FROMHDR_MAX_DEPTH) over a NUL-terminated string and writes only
 * into the caller's buffer with its size.
 */
#ifndef MXG_FROMHDR_H
#define MXG_FROMHDR_H

#include <stdbool.h>
#include <stddef.h>

#include "dname.h"

#define FROMHDR_MAX_LEN 16384     /* longer values are invalid */
#define FROMHDR_MAX_MAILBOXES 64  /* more mailboxes are invalid */
#define FROMHDR_MAX_DEPTH 16      /* deeper comment nesting is invalid */
#define FROMHDR_DOMAIN_MAX DNAME_BUFSZ /* room for a domain and its NUL */
#define FROMHDR_LOCAL_MAX 256     /* room for a local part kept in address */

typedef enum fromhdr_status {
    FROMHDR_UNSET = 0, /* not evaluated */
    FROMHDR_OK,
    FROMHDR_NONE,
    FROMHDR_MULTIPLE,
    FROMHDR_MULTIPLE_DOMAINS,
    FROMHDR_NO_DOMAIN,
    FROMHDR_IP_LITERAL,
    FROMHDR_INVALID,
} fromhdr_status;

/* "ok", "none", "multiple", "multiple_domains", "no_domain", "ip_literal",
 * "invalid"; "unset" for UNSET. */
const char *fromhdr_status_name(fromhdr_status st);
/* Parse a status name (not "unset"). */
bool fromhdr_status_parse(const char *name, fromhdr_status *out);

/* What one From value holds. */
typedef struct fromhdr_value {
    fromhdr_status status;   /* OK, MULTIPLE_DOMAINS, NO_DOMAIN, IP_LITERAL or INVALID */
    char domain[FROMHDR_DOMAIN_MAX]; /* OK: the domain, lower-case A-labels; else
                                      * the first domain seen, or "" */
    char address[FROMHDR_LOCAL_MAX + FROMHDR_DOMAIN_MAX]; /* the first mailbox's
                              * "local@domain" when it has a domain (local
                              * part as written, domain as above), else "" */
    size_t nmailboxes;       /* mailboxes found */
    bool group;              /* group syntax was used */
} fromhdr_value;

/* Parse one From field value (as received, possibly folded; NULL counts
 * as empty).  Always fills *out. */
void fromhdr_parse(const char *value, fromhdr_value *out);

/* The message's From verdict, fed field by field. */
typedef struct fromhdr_msg {
    size_t nfields;          /* From fields seen */
    fromhdr_value first;     /* the first one */
} fromhdr_msg;

void fromhdr_msg_reset(fromhdr_msg *m);
/* One more From field of the message. */
void fromhdr_msg_add(fromhdr_msg *m, const char *value);
/* The verdict: NONE without a field, MULTIPLE with several, else the
 * first field's status. */
fromhdr_status fromhdr_msg_status(const fromhdr_msg *m);
/* The domain to evaluate when the status is OK, else NULL. */
const char *fromhdr_msg_domain(const fromhdr_msg *m);
/* The author's address "local@domain" when the status is OK and the field
 * holds one mailbox, else NULL (e.g. to recognize our own report mail). */
const char *fromhdr_msg_address(const fromhdr_msg *m);

#endif

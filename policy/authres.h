/*
 * authres.h - the RFC 8601 Authentication-Results header: formatting ours,
 * recognising existing ones that carry our authserv-id (RFC 8601 section 5:
 * those must be removed, whatever their case, folding or comments).
 *
 * SECURITY: every value that came from the network (MAIL FROM, HELO, later
 * DKIM d=) is emitted as a token when it is one, else as a quoted-string with
 * escapes, so it can never inject a ";", "(" or a result of its own.
 */
#ifndef MXG_AUTHRES_H
#define MXG_AUTHRES_H

#include <stdbool.h>

#include "facts.h"

/* The header name, for callers that insert or delete it. */
#define AUTHRES_HEADER "Authentication-Results"

/* The value of our header (without the name and colon), e.g.
 *   "mx.example.com;\n\tspf=pass smtp.mailfrom=a@example.com;\n\tspf=none smtp.helo=mx.example.net"
 * or "mx.example.com; none" when no method has a result.  Long values are
 * folded with "\n\t".  Caller frees. */
char *authres_format(const char *authserv_id, const facts_t *f);

/* Does this header value (as received, possibly folded, with comments) carry
 * authserv_id as its authserv-id?  Case-insensitive. */
bool authres_is_ours(const char *authserv_id, const char *value);

#endif

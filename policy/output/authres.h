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
 *   "mx.example.com; spf=pass smtp.mailfrom=a@example.com;\n\tspf=none smtp.helo=mx.example.net"
 * or "mx.example.com; none" when no method has a result.  Methods: spf for
 * MAIL FROM (f->spf_mfrom; smtp.mailfrom is the sender, postmaster@HELO for
 * <>) and spf for HELO (f->spf_helo); SPFCHECK_UNSET means not evaluated and
 * is left out.  dkim: one result per signature (f->dkim_sigs) with
 * header.d, header.i, header.s, header.a and header.b (first 8 characters),
 * "dkim=none" for an unsigned message, nothing when f->dkim is UNSET.  A method goes to a new line ("\n\t") when the line,
 * counting "Authentication-Results: " on the first, would pass 78
 * characters; a method longer than a line is also folded between its
 * properties.  A single overlong piece is never split.  f may be NULL.
 * Caller frees. */
char *authres_format(const char *authserv_id, const facts_t *f);

/* Does this header value (as received, possibly folded, with comments) carry
 * authserv_id as its authserv-id?  Case-insensitive.  After optional CFWS
 * (nested comments, quoted-pairs, folding), the id is a token or a
 * quoted-string; it must be followed by CFWS, ";" or the end.  Whatever
 * follows is not checked: a header that starts with our id is ours even if
 * the rest is malformed or missing (a forged partial header must not
 * survive).  An unterminated quoted-string ends at the end of the value; an
 * unterminated comment hides everything after it (not ours).  Linear time,
 * never reads past the NUL.  False for a NULL or empty authserv_id. */
bool authres_is_ours(const char *authserv_id, const char *value);

#endif

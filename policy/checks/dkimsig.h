/*
 * dkimsig.h - a DKIM-Signature header field before libopendkim sees it:
 * its name, a bounded scan for one tag's value (d= and s= of the
 * signatures beyond max_signatures), whether every i= is one that
 * libopendkim 2.11's dkim_qp_decode() can take, and the field with every
 * bare CR or LF made CRLF.  dkimcheck.c says why (its SECURITY note).
 *
 * SECURITY: the field is hostile input; every scan is bounded and copies
 * at most DKIMSIG_STR_MAX bytes.
 */
#ifndef MXG_DKIMSIG_H
#define MXG_DKIMSIG_H

#include <stdbool.h>

#define DKIMSIG_HEADER "DKIM-Signature"
#define DKIMSIG_STR_MAX 255 /* longest string copied out of a signature */
#define DKIMSIG_I_MAX 255   /* longest i= handed to libopendkim (its limit: 256) */

/* Is name DKIM-Signature as libopendkim sees it (white space before the
 * colon removed)? */
bool dkimsig_is_sig_name(const char *name);
/* Value of tag t in a DKIM-Signature value (bounded scan, white space
 * removed around it), in a new string (caller frees), or NULL. */
char *dkimsig_tag(const char *v, char t);
/* Can libopendkim's dkim_qp_decode() take every i= of this value (each "="
 * followed by two hex digits, at most DKIMSIG_I_MAX octets)? */
bool dkimsig_i_ok(const char *v);
/* "name:value" with every bare LF or bare CR made CRLF.  Caller frees. */
char *dkimsig_field(const char *name, const char *value);

#endif

/*
 * spfrecord.h - an SPF record (RFC 7208) as text, before libspf2 sees it:
 * record selection, the bounds that keep hostile records away from
 * libspf2's compiler, the RFC 7208 section 12 syntax, and the equivalent
 * record libspf2 compiles.  No DNS and no libspf2 here: spfdns.c uses it
 * on every record it fetches, the fuzzer on its own.
 *
 * SECURITY: records and explanations are published by the sender, i.e.
 * hostile.  Debian 12's libspf2 1.2.10 is not patched for CVE-2023-42118
 * (an integer underflow in its macro/record compiler), so nothing reaches
 * SPF_record_compile / SPF_record_compile_macro unless it passes these
 * checks:
 *   - printable US-ASCII only (RFC 7208 3.1: anything else is permerror),
 *   - a record of at most SPFRECORD_MAX_RECORD (2048) octets,
 *   - at most SPFRECORD_MAX_TERMS (128) terms,
 *   - each term at most SPFRECORD_MAX_TERM (255) octets, the size of one
 *     libspf2 data string (SPF_MAX_STR_LEN) and well under its 511-octet
 *     per-mechanism buffer,
 *   - at most SPFRECORD_MAX_TERM_MACROS (16) '%' per term and
 *     SPFRECORD_MAX_MACROS (32) per record.
 * Explanation texts: at most 512 octets and 16 '%', printable ASCII, and
 * at most SPFRECORD_MAX_TERM (255) octets once each space is written "%_"
 * for libspf2 (its macro compiler writes into a 511-octet stack buffer
 * without a correct bound: the fuzzer overflowed it with 541 octets),
 * else the default explanation is used (RFC 6.2: as if there were no exp=).
 */
#ifndef MXG_SPFRECORD_H
#define MXG_SPFRECORD_H

#include <stdbool.h>
#include <stddef.h>

#define SPFRECORD_MAX_RECORD 2048
#define SPFRECORD_MAX_TERMS 128
#define SPFRECORD_MAX_TERM 255
#define SPFRECORD_MAX_TERM_MACROS 16
#define SPFRECORD_MAX_MACROS 32
#define SPFRECORD_MAX_EXP 512
#define SPFRECORD_MAX_EXP_MACROS 16

/* Is this a domain we check (RFC 7208 4.3): labels of 1..63 octets, at
 * least two labels, at most 253 octets, not an address literal (a
 * trailing dot is allowed)? */
bool spfrecord_domain_ok(const char *d);
/* Printable US-ASCII only? */
bool spfrecord_printable(const char *s, size_t len);
/* RFC 7208 4.5: is this TXT string an SPF version 1 record? */
bool spfrecord_is_spf1(const char *s, size_t len);
/* The bounds above on a record; false with the reason in why. */
bool spfrecord_bounds_ok(const char *rec, size_t len, char *why, size_t whylen);
/* macro-string (RFC 7208 7.1) over s[0..n); exp_text allows c, r, t.
 * *ends_macro tells whether the last token was a macro-expand. */
bool spfrecord_macro_string(const char *s, size_t n, bool exp_text, bool *ends_macro);
/* Check a record (that passed spfrecord_bounds_ok) against RFC 7208
 * section 12 and write the equivalent record libspf2 compiles into *out
 * (caller frees): known terms in order, unknown modifiers dropped,
 * redirect= last and dropped when an "all" is present (RFC 7208 6.1), the
 * target of an a/mx term with a CIDR length of 0 suffixed with marker (for
 * a client address of family v6 or not).  False with a reason for a
 * syntax error (permerror). */
bool spfrecord_normalize(const char *rec, size_t len, bool v6, const char *marker, char **out, char *why,
                         size_t whylen);
/* The mechanisms and modifiers libspf2 must compile from a record written
 * by spfrecord_normalize. */
void spfrecord_count(const char *norm, int *mechs, int *mods);
/* An exp= explanation text within the bounds above and of valid syntax,
 * with each space written "%_" as libspf2's macro compiler takes it
 * (caller frees); NULL when refused. */
char *spfrecord_exp_macro(const char *txt, size_t len);

#endif

/*
 * rua.h - where a DMARC policy domain wants its aggregate reports: the rua
 * tag's value (RFC 9989 4.7, RFC 9990 3) read into mail destinations, and
 * the verification of a destination outside the policy domain (RFC 9990
 * 3.3: TXT "<policy-domain>._report._dmarc.<destination-domain>").
 *
 * The value is a comma-separated list of URIs, each with an optional size
 * limit "!" 1*DIGIT [k|m|g|t] (units of 2^10, 2^20, 2^30, 2^40 bytes);
 * white space around the commas is dropped.  Only mailto: URIs (RFC 6068,
 * scheme in any case) make destinations; other schemes (https:, ...) are
 * counted and ignored.  The address is percent-decoded and must then be a
 * single dot-atom local part "@" a domain name (dname.h), so it is safe in
 * a To: header, as a sendmail argument and as a directory name (no '/',
 * no leading '.'; '!' and '%' refused too: routing tricks); "?hfields"
 * after it are dropped.
 * A malformed URI is counted and skipped, never fatal; a duplicate address
 * is kept once; at most max destinations are taken (the rest counted).
 *
 * SECURITY: the value comes from the DNS and is hostile: every field is
 * length-bounded, nothing but the address characters above is let through.
 */
#ifndef MXG_RUA_H
#define MXG_RUA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dname.h"

#define RUA_LOCAL_MAX 64                          /* RFC 5321 4.5.3.1.1 */
#define RUA_ADDR_BUFSZ (RUA_LOCAL_MAX + 1 + DNAME_BUFSZ) /* local@domain and its NUL */
#define RUA_URI_MAX 1024                          /* bytes of one URI that are read */

typedef struct rua_dest {
    char addr[RUA_ADDR_BUFSZ];   /* local@domain, the domain in lower case */
    char domain[DNAME_BUFSZ];    /* the domain part */
    bool has_limit;              /* a "!size" limit was given */
    uint64_t max_size;           /* that limit in bytes (UINT64_MAX past it) */
} rua_dest;

/* What rua_parse() left out. */
typedef struct rua_stats {
    size_t other_scheme; /* URIs of other schemes (not mailto:) */
    size_t malformed;    /* URIs that could not be read */
    size_t duplicate;    /* addresses already taken */
    size_t over_max;     /* mailto: destinations past max */
} rua_stats;

/* Read value (NUL-terminated; NULL reads as "") into out[0..max): returns
 * how many destinations were taken, in the order written.  stats may be
 * NULL. */
size_t rua_parse(const char *value, rua_dest *out, size_t max, rua_stats *stats);

/* Must a report for policy_domain to dest_domain be verified (RFC 9990
 * 3.3)?  False only when dest_domain is policy_domain or under it; true
 * otherwise, also when dest_domain is a parent of policy_domain
 * (cust.provider.example -> provider.example, evil.co.uk -> co.uk): RFC
 * 9990 compares organizational domains, and without the tree walk or the
 * PSL here a parent may be another organization (a public suffix), so it
 * is asked.  Both are domain names, a trailing dot and letter case
 * ignored. */
bool rua_external(const char *policy_domain, const char *dest_domain);

/* "<policy-domain>._report._dmarc.<dest-domain>" in lower case into out
 * (outsz bytes): false when it is not a domain name of at most DNAME_MAX
 * octets (it cannot be asked, so the destination cannot be verified). */
bool rua_verify_name(const char *policy_domain, const char *dest_domain, char *out, size_t outsz);

#endif

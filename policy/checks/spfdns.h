/*
 * spfdns.h - the DNS layer libspf2 evaluates a record through: a custom
 * SPF_dns_server_t whose hooks use mxguard's dns_t (never libspf2's res_*
 * resolver), one per check, with the RFC 7208 4.6.4 limits that libspf2
 * lacks:
 *   lookup   A, AAAA, MX, PTR (and TXT if ever asked) -> SPF_dns_rr_t
 *   get_spf  the SPF record of a domain: TXT only (RFC 7208 dropped type
 *            SPF), RFC 4.5 record selection, the bounds of spfrecord.h,
 *            then SPF_record_compile
 *   get_exp  the exp= explanation: bounded, compiled, expanded
 *
 * Limits, counted across include/redirect (libspf2 counts per record and
 * resets inside include):
 *   - at most 10 terms that query DNS (include, a, mx, ptr, exists,
 *     redirect); the lookup of the 11th is refused;
 *   - at most 2 void lookups (NXDOMAIN / NODATA) for those terms;
 *   - the address lookups for the names of one mx or ptr term (and of the
 *     %{p} macro) are not terms: they are recognised as the in-order
 *     lookups of the names the MX/PTR answer just returned;
 *   - PTR answers are cut to their first 10 names (RFC: ignore the rest);
 *   - an overall time limit (SPFDNS_MAX_SECONDS).
 * When a limit is exceeded the lookup answers TRY_AGAIN, which makes
 * libspf2 stop at once; spfdns_stopped() tells the caller why, so that it
 * forces the final result (permerror, or temperror for the time limit).
 *
 * libspf2 1.2.10 silently drops mechanisms: SPF_c_mech_add refuses a
 * mechanism when the compiled mechanisms before it plus its 4-octet header
 * exceed SPF_MAX_MECH_LEN (511), returning SPF_E_BIG_MECH without adding
 * an error to the response, and SPF_record_compile ignores that return and
 * reports success.  The record is then evaluated without its tail (a
 * trailing "-all" or redirect= is lost: neutral instead of fail).  The
 * limit is in compiled octets, so the count depends on the terms: ip4 8
 * octets, ip6 20, bare a/mx/ptr/all 4, a/mx with a CIDR 8, a term with a
 * domain-spec 4 + its pieces (literal: 4 + length, macro: 4, each rounded
 * up to 8; include:i.example 20); measured on Debian 12: 63 ip4 terms and
 * "-all" compile, 64 do not; 25 ip6 terms and "-all" do, 26 not.  These
 * sizes are libspf2's internals, so instead of recomputing them, every
 * compiled record is checked: its num_mech and num_mod must equal the
 * mechanisms and modifiers of the record we handed it (spfrecord_count),
 * else the record is permerror ("too large for libspf2"), exact at the
 * limit and whatever the term kinds.
 *
 * Ownership: a layer borrows dns; the caller keeps it until
 * spfdns_free(), after the SPF_server_t that uses it is freed.
 */
#ifndef MXG_SPFDNS_H
#define MXG_SPFDNS_H

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "dns.h"

/* RFC 7208 4.6.4: an overall limit of at least 20 seconds; past it the
 * result is temperror.  A lookup started before it may still take one DNS
 * timeout. */
#define SPFDNS_MAX_SECONDS 20

/* Why the check was cut short by the layer. */
typedef enum spfdns_stop {
    SPFDNS_STOP_NONE = 0,
    SPFDNS_STOP_DNS_TERMS, /* more than 10 DNS-querying terms */
    SPFDNS_STOP_VOID,      /* more than 2 void lookups */
    SPFDNS_STOP_MX,        /* an mx term with more than 10 MX records */
    SPFDNS_STOP_TIME,      /* the overall time limit passed */
} spfdns_stop;

typedef struct spfdns spfdns_t;

/* A layer for one check; its clock starts now. */
spfdns_t *spfdns_new(dns_t *dns);
void spfdns_free(spfdns_t *l);
/* The SPF_dns_server_t to give SPF_server_new_dns() (owned by l). */
SPF_dns_server_t *spfdns_server(spfdns_t *l);
/* The request being evaluated (its client address answers mx/0, a/0). */
void spfdns_set_request(spfdns_t *l, SPF_request_t *req);
/* Why the layer stopped the evaluation, SPFDNS_STOP_NONE if it did not. */
spfdns_stop spfdns_stopped(const spfdns_t *l);
/* Why a record was refused ("multiple SPF records", ...), or "". */
const char *spfdns_detail(const spfdns_t *l);

#endif

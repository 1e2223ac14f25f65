/*
 * dnsbl.h - weighted DNS block- and allow-lists (RFC 5782 DNSxLs): lists of
 * client addresses (IPv4 reversed octets, IPv6 reversed nibbles) and of
 * domains (HELO name, envelope sender domain, From header domain), each with
 * a weight (negative for allow-lists) and a filter of the 127.x.y.z answers
 * that count.
 *
 * Two objects:
 *  - dnsbl_conf_t: the configured lists, parsed from mxguard.conf, owned by
 *    the conf_t and immutable like it.
 *  - dnsbl_lookup_t: the lookups of one SMTP connection.  Queries start as
 *    soon as their input is known (dnsbl_lookup_client at connect, _helo at
 *    HELO, _sender at MAIL FROM, _from at end of headers), all lists of one
 *    stage at once, through the one DNS layer (dns.h); a result is waited
 *    for only when something asks for it (score, listed, matches), never
 *    longer than the list timeout.  A timeout, SERVFAIL or a malformed
 *    answer counts as not listed and is logged.  Every started query is
 *    owned by the lookup and waited for before it is dropped: by a new HELO
 *    (helo queries), a new message (sender and from queries),
 *    dnsbl_lookup_end_message() or dnsbl_lookup_free().
 *
 * Nothing is queried for trusted or SASL-authenticated clients, nor for
 * client addresses that are private, loopback, link-local or otherwise
 * special-purpose (skipped without a log line, as mxguard.conf(5) says; nor
 * is such a client's HELO name queried).  Authentication is only known at
 * MAIL FROM: the client-address queries sent at connect are then
 * disregarded for that message.
 *
 * SECURITY: the inputs (client address, HELO, sender, From) come from the
 * SMTP client and the answers from the network.  Names are checked before
 * a query is built; only A records of 4 bytes are read; a TXT reason is
 * fetched only for a reply that uses it and is sanitized (printable ASCII,
 * no CR/LF or controls, DNSBL_TXT_MAX bytes) before it reaches an SMTP
 * reply or a log line.
 */
#ifndef MXG_DNSBL_H
#define MXG_DNSBL_H

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

#include "cfgload.h"
#include "dns.h"
#include "facts.h"
#include "fromhdr.h"

/* Bound of a sanitized TXT reason in a reply or log line. */
#define DNSBL_TXT_MAX 160
/* At most this many lists may be configured (bounded work per connection). */
#define DNSBL_MAX_LISTS 64

typedef enum dnsbl_kind {
    DNSBL_IP = 0, /* client address */
    DNSBL_HELO,   /* HELO/EHLO name */
    DNSBL_SENDER, /* domain of MAIL FROM */
    DNSBL_FROM,   /* domain of the From header */
    DNSBL_NKINDS,
} dnsbl_kind;

typedef struct dnsbl_conf dnsbl_conf_t;
typedef struct dnsbl_lookup dnsbl_lookup_t;

/* Build the lists from the libconfig list "dnsbl" and the group
 * "dnsbl_options" (either may be NULL).  Reports every error through errfn
 * and returns NULL if there was any.  No lists gives an empty conf. */
dnsbl_conf_t *dnsbl_conf_from_config(const config_setting_t *lists, const config_setting_t *options,
                                     cfgload_error_fn errfn, void *arg);
void dnsbl_conf_free(dnsbl_conf_t *c);
size_t dnsbl_conf_count(const dnsbl_conf_t *c);
/* Is a list of this name configured? */
bool dnsbl_conf_has(const dnsbl_conf_t *c, const char *name);
/* The stage from which the result of list name (NULL: of every list, i.e.
 * the score) is known: connect for ip lists, helo, mail for sender lists,
 * data (end of headers) for from lists; the latest over its kinds.
 * STAGE_CONNECT when there are no lists. */
facts_stage dnsbl_conf_stage(const dnsbl_conf_t *c, const char *name);

/* ---- pure helpers (tested on their own) ---- */

/* Query name of an IP address under zone: "2.0.0.127.zone" (IPv4) or 32
 * reversed nibbles (IPv6).  False for a bad address or a too long name. */
bool dnsbl_ip_qname(const char *addr, const char *zone, char *out, size_t outsz);
/* Query name of a domain under zone: lower-cased, trailing dot removed,
 * LDH/underscore labels only, at most 253 octets.  False otherwise. */
bool dnsbl_domain_qname(const char *domain, const char *zone, char *out, size_t outsz);
/* Is this client address one that is never queried (private, loopback,
 * link-local, unspecified, shared, multicast, reserved, and their
 * IPv4-mapped forms)?  True also for a NULL or unparsable address. */
bool dnsbl_addr_special(const dnsbl_conf_t *c, const char *addr);
/* Make a TXT reason safe for a reply or a log line: printable ASCII only
 * (every other byte becomes a space, runs of blanks collapse), at most
 * DNSBL_TXT_MAX bytes (cut with "..."); out has room for DNSBL_TXT_MAX+1. */
void dnsbl_txt_sanitize(const char *in, size_t len, char *out);
/* The domain to query for a From header value parsed by fromhdr.h: one
 * plain mailbox ("Name <user@example.com>", "user@example.com", comments
 * allowed); false when there is none, several, a group, or not a plain
 * domain. */
bool dnsbl_from_domain(const fromhdr_value *v, char *out, size_t outsz);

/* ---- one connection ---- */

/* c and dns are borrowed: both must outlive the lookup. */
dnsbl_lookup_t *dnsbl_lookup_new(const dnsbl_conf_t *c, dns_t *dns);
/* Wait for every query still in flight and free everything. */
void dnsbl_lookup_free(dnsbl_lookup_t *l);

/* Connect: start the ip lists, unless trusted or a special address. */
void dnsbl_lookup_client(dnsbl_lookup_t *l, const char *addr, bool trusted);
/* HELO: start the helo lists (dropping those of an earlier HELO). */
void dnsbl_lookup_helo(dnsbl_lookup_t *l, const char *helo);
/* MAIL FROM: a new message.  Starts the sender lists for domain (may be
 * "" for <>: nothing to query); for an authenticated client nothing is
 * started and every result counts as not listed until the message ends. */
void dnsbl_lookup_sender(dnsbl_lookup_t *l, const char *domain, bool authenticated);
/* End of headers: start the from lists for domain (NULL: none found). */
void dnsbl_lookup_from(dnsbl_lookup_t *l, const char *domain);
/* The message ended: wait for and drop its sender and from queries. */
void dnsbl_lookup_end_message(dnsbl_lookup_t *l);

/* Wait for the queries of every list whose result is known from a stage
 * up to upto (dnsbl_conf_stage) and write their results into out, which
 * is (re)made to hold every configured list on first use.  Lists already
 * known in out are not asked again; nothing to do for a NULL l. */
void dnsbl_lookup_result(dnsbl_lookup_t *l, facts_stage upto, facts_dnsbl *out);
/* Expand ${dnsbl} (name of the listed list with the highest weight),
 * ${dnsbl_zone}, ${dnsbl_answer} and ${dnsbl_txt} (its TXT reason, fetched
 * now, sanitized; "" when none) in a reply text; other text is copied.  The
 * result is printable ASCII of at most 400 bytes.  Caller frees. */
char *dnsbl_lookup_expand(dnsbl_lookup_t *l, const char *text);

/* One query of the lookup, for mxguard explain. */
typedef struct dnsbl_query_info {
    const char *list;   /* list name */
    const char *zone;
    const char *kind;   /* "ip", "helo", "sender", "from" */
    int weight;
    const char *qname;  /* the name queried */
    dns_status status;  /* its DNS outcome */
    bool listed;        /* an answer passed the list's filter */
    const char *answer; /* that answer ("127.0.0.2"), or "" */
    bool counted;       /* counts for the current message (not an authenticated one) */
} dnsbl_query_info;
/* Call fn for every query of the connection and current message, in start
 * order, after waiting for it. */
void dnsbl_lookup_each(dnsbl_lookup_t *l, void (*fn)(const dnsbl_query_info *q, void *arg), void *arg);

#endif

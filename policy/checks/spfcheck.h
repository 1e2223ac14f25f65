/*
 * spfcheck.h - SPF (RFC 7208) evaluation with libspf2 over mxguard's DNS.
 *
 * libspf2 does the record parsing and evaluation; its DNS lookups go through
 * a custom SPF_dns_server_t layer on top of dns_t (never libspf2's res_*
 * resolver).  This module adds what libspf2 lacks: the RFC 7208 void lookup
 * limit (4.6.4), and a bound on what reaches libspf2's record compiler
 * (Debian 12's libspf2 is not patched for CVE-2023-42118).
 *
 * SECURITY: SPF records are sender-published, hostile input.
 */
#ifndef MXG_SPFCHECK_H
#define MXG_SPFCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "dns.h"

typedef enum spfcheck_result {
    SPFCHECK_UNSET = 0, /* not evaluated (yet, or skipped) */
    SPFCHECK_NONE,
    SPFCHECK_NEUTRAL,
    SPFCHECK_PASS,
    SPFCHECK_FAIL,
    SPFCHECK_SOFTFAIL,
    SPFCHECK_TEMPERROR,
    SPFCHECK_PERMERROR,
} spfcheck_result;

/* "none", "pass", ... as in RFC 7208 / RFC 8601; "unset" for UNSET. */
const char *spfcheck_result_name(spfcheck_result r);
/* Parse a result name (case-insensitive); false if unknown.  "unset" is not
 * accepted. */
bool spfcheck_result_parse(const char *name, spfcheck_result *out);

typedef struct spfcheck_input {
    const char *client_ip;  /* text IPv4 or IPv6 address */
    const char *helo;       /* HELO/EHLO argument, may be NULL */
    const char *mail_from;  /* envelope sender without <>, "" for null sender */
    const char *receiver;   /* our host name, for the %{r} macro; may be NULL */
} spfcheck_input;

typedef struct spfcheck_output {
    spfcheck_result result;
    char *domain;       /* the domain checked (caller frees), may be NULL */
    char *explanation;  /* fail explanation (sanitized, caller frees), or NULL */
    char *reason;       /* short human reason, e.g. "mechanism -all matched"
                         * or "void lookup limit exceeded" (caller frees) */
} spfcheck_output;

void spfcheck_output_clear(spfcheck_output *out);

/* Check the MAIL FROM identity.  For a null sender, RFC 7208 2.4: the identity
 * is postmaster@HELO.  Returns the result (also stored in out->result). */
spfcheck_result spfcheck_mailfrom(dns_t *dns, const spfcheck_input *in, spfcheck_output *out);
/* Check the HELO identity (RFC 7208 2.3).  A HELO that is not a domain name
 * (address literal, no dot) gives NONE. */
spfcheck_result spfcheck_helo(dns_t *dns, const spfcheck_input *in, spfcheck_output *out);

#endif

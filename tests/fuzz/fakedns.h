/*
 * fakedns.h - an in-process stand-in for policy/dns/dns.c for the fuzz
 * harnesses: every dns_t answers from a zone text set by the harness, at
 * once, without threads or sockets.  The real rdata helpers
 * (dns_rdata_txt, dns_rdata_name) and dns_answer_free are kept, so the
 * checks' answer handling is the shipped one.
 *
 * Zone text, one record a line ("\n"), fields separated by one space:
 *   NAME TXT text...        one TXT RR; text is cut into 255-octet strings,
 *                           a "|" starts a new character-string
 *   NAME A 192.0.2.1        NAME AAAA 2001:db8::1
 *   NAME MX 10 mx.example   NAME PTR host.example
 *   NAME NX                 NXDOMAIN for every type
 *   NAME SERVFAIL           NAME TIMEOUT
 * NAME "*" matches every name.  A name with records but none of the asked
 * type is NODATA; a name without any line is NXDOMAIN.  Names compare
 * case-insensitively, without a trailing dot.
 *
 * SECURITY: test code only; bounded by the zone text's length.
 */
#ifndef MXG_FAKEDNS_H
#define MXG_FAKEDNS_H

#include <stddef.h>

/* Answer from zone (copied; len octets, need not be NUL-terminated). */
void fakedns_set_zone(const char *zone, size_t len);
/* Queries answered since the last fakedns_set_zone(). */
unsigned fakedns_queries(void);

#endif

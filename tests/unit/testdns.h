/*
 * testdns.h - a DNS server for the Check unit tests: Debian's unbound
 * ($UNBOUND_SERVER, see TESTS_ENVIRONMENT in Makefile.am) on 127.0.0.1 at
 * a free port, answering only from the unbound "server:" lines given
 * (local-zone / local-data / ...), recursing and forwarding nothing.  The
 * resolver under test (policy/dns/dns.c) forwards to it, as mxguard forwards to
 * an operator's resolver.  A missing unbound fails the test (never a skip).
 */
#ifndef MXG_TESTDNS_H
#define MXG_TESTDNS_H

#include <sys/types.h>

typedef struct tdns {
    pid_t pid;
    int port;
    char dir[64];       /* private temporary directory */
    char upstream[32];  /* "127.0.0.1@PORT", for dns_options.upstream */
} tdns;

/* Start the server with the given "server:" lines (each a full line, e.g.
 * "local-zone: \".\" static\n").  Fails the running test on error. */
void tdns_start(tdns *t, const char *clauses);
/* unbound-control ARGS for this server; input (or NULL) goes to its stdin.
 * Returns its output (caller frees); fails the test if it exits non-zero. */
char *tdns_control(const tdns *t, const char *args, const char *input);
/* Ask the server directly (one UDP query, no resolver in between, 2 s):
 * its rcode, the number of answer records of that type and how many of
 * them have an empty rdata.  Fails the test if no reply comes. */
void tdns_query(const tdns *t, const char *name, int rrtype, int *rcode, int *count, int *empty);
/* Stop the server and remove its files. */
void tdns_stop(tdns *t);

#endif

/*
 * explain.h - "mxguard explain": run one stored message through the same
 * session, checks, DNS layer and policy table as the daemon, without an
 * MTA, and print the evidence, every rule walk, the verdict, the reply, the
 * Authentication-Results header and the decision line the daemon would log.
 */
#ifndef MXG_EXPLAIN_H
#define MXG_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>

/* The envelope found in a message's own headers, for flags not given.
 * Strings are owned (explain_envelope_clear). */
typedef struct explain_envelope {
    char *client_addr; /* "[IP]" of the topmost Received "from" clause */
    char *client_name; /* the name before it in that clause, if not "unknown" */
    char *helo;        /* the "from NAME" of that clause */
    char *mail_from;   /* Return-Path address ("" for <>) */
    char *rcpt;        /* "for <ADDR>" of that Received, else Delivered-To,
                        * X-Original-To, the first To address */
} explain_envelope;

/* Read the envelope from the headers of a message held in memory (LF or
 * CRLF lines; the header block ends at the first empty line).  Fields not
 * found stay NULL. */
void explain_envelope_from_headers(const char *msg, size_t len, explain_envelope *env);
void explain_envelope_clear(explain_envelope *env);

/* The subcommand: mxguard explain -c FILE [--client IP] [--client-name
 * NAME] [--helo NAME] [--mail-from ADDR] [--rcpt ADDR]... [--auth-user
 * USER] MESSAGE.eml; returns the exit status (0 done, 1 error, 2 usage). */
int explain_main(int argc, char **argv);

#endif

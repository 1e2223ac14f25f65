/*
 * facts.h - the evidence gathered about one SMTP transaction: what the MTA
 * told us and what the checks found.  It is the input of the policy table
 * (rules.h), the Authentication-Results header (authres.h) and the decision
 * line (declog.h).  Nothing here knows the milter protocol.
 *
 * Ownership: every string is owned by the facts_t and freed by
 * facts_reset_message() (message fields) or facts_free() (all).
 */
#ifndef MXG_FACTS_H
#define MXG_FACTS_H

#include <stdbool.h>
#include <stddef.h>

#include "dkimcheck.h"
#include "dmarccheck.h"
#include "spfcheck.h"

/* SMTP stages in transaction order.  A fact is known from its stage on. */
typedef enum facts_stage {
    STAGE_CONNECT = 0,
    STAGE_HELO,
    STAGE_MAIL,
    STAGE_RCPT,
    STAGE_DATA, /* end of headers */
    STAGE_EOM,  /* end of message: body-based results known */
} facts_stage;

const char *facts_stage_name(facts_stage s); /* "connect", "helo", ... */

/* One configured DNS list, for the current message. */
typedef struct facts_dnsbl_list {
    char *name;             /* the list's name */
    int weight;             /* its weight (negative: an allow-list) */
    bool known;             /* its queries were waited for: listed is final */
    bool listed;            /* an answer that counts passed the list's filter */
    char answer[16];        /* that answer ("127.0.0.2"), or "" */
} facts_dnsbl_list;

typedef struct facts_dnsbl {
    bool evaluated;         /* something was queried that counts for this message */
    facts_dnsbl_list *v;    /* every configured list, in config order */
    size_t n;               /* 0: none configured (or not filled yet) */
} facts_dnsbl;

/* Sum of the weights of the lists known to have matched. */
int facts_dnsbl_score(const facts_dnsbl *d);
/* The list of that name, or NULL. */
const facts_dnsbl_list *facts_dnsbl_find(const facts_dnsbl *d, const char *name);
/* Is the result of list name (NULL: of every list) final? */
bool facts_dnsbl_known(const facts_dnsbl *d, const char *name);
/* "zen:127.0.0.2,dbl:127.0.1.2": the lists that matched, in config order,
 * or NULL when none did.  Caller frees. */
char *facts_dnsbl_matches(const facts_dnsbl *d);
/* Forget every list. */
void facts_dnsbl_clear(facts_dnsbl *d);

typedef struct facts {
    facts_stage stage;      /* latest stage reached */
    /* connection (kept across transactions of one connection) */
    char *client_addr;      /* text address, NULL if not an IP client */
    char *client_name;      /* name the MTA reports ("unknown" if none) */
    bool trusted;           /* client_addr in trusted_networks */
    char *helo;             /* HELO/EHLO argument, NULL before HELO */
    spfcheck_result spf_helo; /* HELO identity; UNSET if not evaluated */
    bool spf_helo_done;     /* spf_helo evaluated for this connection */
    /* message (reset on every MAIL FROM, end of message and abort) */
    char *queue_id;         /* MTA's queue id, NULL until known */
    bool authenticated;     /* SASL-authenticated client */
    char *auth_user;        /* SASL login name, or NULL */
    char *mail_from;        /* envelope sender without <>, "" for <> */
    char *sender_domain;    /* domain of mail_from, "" for <> */
    spfcheck_result spf_mfrom; /* MAIL FROM identity; UNSET if not evaluated */
    char *spf_domain;       /* domain the MAIL FROM check used */
    char *spf_reason;       /* short reason of the MAIL FROM result */
    const char *rcpt;       /* the recipient being evaluated at RCPT, or NULL */
    char **rcpts;           /* accepted recipients */
    size_t nrcpts;
    size_t nrcpts_rejected; /* recipients refused by a rule */
    /* DKIM (known at end of message) */
    dkimcheck_result dkim;  /* aggregate over the signatures; UNSET if not evaluated */
    dkimcheck_sig *dkim_sigs; /* one result per signature, in header order */
    size_t ndkim_sigs;
    /* DMARC (known at end of message; dmarc.result UNSET: not evaluated) */
    dmarccheck_output dmarc;
    /* DNS lists (dnsbl.h): filled by the session once a stage's lookups
     * are done (dnsbl_lookup_result); plain values, nothing here waits */
    facts_dnsbl dnsbl;
} facts_t;

facts_t *facts_new(void);
void facts_free(facts_t *f);
/* Forget everything of the current message, keep the connection. */
void facts_reset_message(facts_t *f);
/* Replace a string field: free the old value, store a copy of val (or NULL). */
void facts_set(char **field, const char *val);
void facts_add_rcpt(facts_t *f, const char *rcpt);
/* Domain part of an address ("" if none); points into addr. */
const char *facts_addr_domain(const char *addr);

#endif

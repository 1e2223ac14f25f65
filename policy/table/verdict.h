/*
 * verdict.h - what the policy decides for a message or a recipient: an
 * action with its SMTP reply.  The policy table (rules.h) makes verdicts;
 * the session turns them into replies, the decision line (declog.h) and
 * the metrics read them.  Its own header so that the outputs need not
 * include the policy table.
 */
#ifndef MXG_VERDICT_H
#define MXG_VERDICT_H

#include <stdbool.h>

typedef enum verdict_action {
    ACTION_ACCEPT = 0,
    ACTION_REJECT,
    ACTION_TEMPFAIL,
    ACTION_QUARANTINE, /* MTA's hold queue (Postfix: postqueue -j shows it) */
    ACTION_DISCARD,
} verdict_action;

const char *verdict_action_name(verdict_action a); /* "accept", "reject", ... */
bool verdict_action_parse(const char *name, verdict_action *out);

/* A verdict points into the rules_t it came from: it stays valid as long as
 * the config snapshot that owns the rules. */
typedef struct verdict {
    verdict_action action;
    const char *rule;  /* name of the rule, or "default" */
    const char *code;  /* "550"; set for reject and tempfail, else NULL */
    const char *xcode; /* "5.7.1"; set for reject and tempfail, else NULL */
    const char *text;  /* reply text (reject/tempfail) or quarantine reason */
    bool dry_run;      /* only in the dry-run callback */
} verdict_t;

#endif

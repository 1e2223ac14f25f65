/*
 * rules.h - the policy table: an ordered list of named rules over the facts
 * of a message, first match wins, a default action when none matches.
 *
 * Each condition of a rule is known from some SMTP stage on (client address
 * at connect, SPF of MAIL FROM at MAIL, recipient at RCPT, body checks at end
 * of message).  Evaluation at a stage walks the rules in order: a rule whose
 * conditions all hold matches; a rule with a false condition is skipped; a
 * rule with a condition not yet known stops the walk (RULES_PENDING), since
 * no rule below it may fire before it is decided.  A dry-run rule that
 * matches is reported through the callback and the walk goes on.
 *
 * At STAGE_RCPT the recipient conditions test the recipient being evaluated
 * (facts->rcpt); at later stages they hold if any accepted recipient matches.
 */
#ifndef MXG_RULES_H
#define MXG_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

#include "facts.h"

typedef enum rules_action {
    ACTION_ACCEPT = 0,
    ACTION_REJECT,
    ACTION_TEMPFAIL,
    ACTION_QUARANTINE, /* MTA's hold queue (Postfix: postqueue -j shows it) */
    ACTION_DISCARD,
} rules_action;

const char *rules_action_name(rules_action a); /* "accept", "reject", ... */
bool rules_action_parse(const char *name, rules_action *out);

/* A verdict points into the rules_t it came from: it stays valid as long as
 * the config snapshot that owns the rules. */
typedef struct rules_verdict {
    rules_action action;
    const char *rule;  /* name of the rule, or "default" */
    const char *code;  /* "550"; set for reject and tempfail, else NULL */
    const char *xcode; /* "5.7.1"; set for reject and tempfail, else NULL */
    const char *text;  /* reply text (reject/tempfail) or quarantine reason */
    bool dry_run;      /* only in the dry-run callback */
} rules_verdict;

typedef enum rules_outcome {
    RULES_PENDING = 0, /* a rule cannot be decided yet at this stage */
    RULES_DECIDED,     /* *verdict holds the rule that fired or the default */
} rules_outcome;

typedef void (*rules_dryrun_fn)(const rules_verdict *would, void *arg);

typedef struct rules rules_t;

/* Error callback of the loaders: file, line and reason. */
typedef void (*rules_error_fn)(const char *file, int line, const char *reason, void *arg);

/* Build the table from the libconfig list "rules" (may be NULL: no rules)
 * and the setting "default_action" (may be NULL: accept).  Reports every
 * error through errfn and returns NULL if there was any. */
rules_t *rules_from_config(const config_setting_t *list, const config_setting_t *dflt,
                           rules_error_fn errfn, void *arg);
void rules_free(rules_t *r);
size_t rules_count(const rules_t *r);

/* Evaluate at f->stage.  Dry-run rules that match call dryrun (may be NULL),
 * in table order, before the verdict is known; a dry-run rule whose
 * condition is unknown is passed over (it never decides, so it holds back
 * no rule below it) and reported at a later evaluation.  On RULES_PENDING
 * *verdict is zeroed (rule NULL) and the callbacks made were for rules above
 * the pending one: keep those of the evaluation whose verdict is applied. */
rules_outcome rules_eval(const rules_t *r, const facts_t *f, rules_verdict *verdict,
                         rules_dryrun_fn dryrun, void *arg);

#endif

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

#include "cfgload.h"

#include "facts.h"
#include "verdict.h"

typedef enum rules_outcome {
    RULES_PENDING = 0, /* a rule cannot be decided yet at this stage */
    RULES_DECIDED,     /* *verdict holds the rule that fired or the default */
} rules_outcome;

typedef void (*rules_dryrun_fn)(const verdict_t *would, void *arg);

typedef struct rules rules_t;

/* Build the table from the libconfig list "rules" (may be NULL: no rules)
 * and the setting "default_action" (may be NULL: accept).  Reports every
 * error through errfn and returns NULL if there was any. */
rules_t *rules_from_config(const config_setting_t *list, const config_setting_t *dflt,
                           cfgload_error_fn errfn, void *arg);
void rules_free(rules_t *r);
size_t rules_count(const rules_t *r);

/* Evaluate at f->stage.  Dry-run rules that match call dryrun (may be NULL),
 * in table order, before the verdict is known; a dry-run rule whose
 * condition is unknown is passed over (it never decides, so it holds back
 * no rule below it) and reported at a later evaluation.  On RULES_PENDING
 * *verdict is zeroed (rule NULL) and the callbacks made were for rules above
 * the pending one: keep those of the evaluation whose verdict is applied. */
rules_outcome rules_eval(const rules_t *r, const facts_t *f, verdict_t *verdict,
                         rules_dryrun_fn dryrun, void *arg);

/* ---- explanation (mxguard explain) ---- */

/* What the walk did with one rule. */
typedef enum rules_step {
    RULES_STEP_MATCH = 0,   /* every condition holds: the rule decides */
    RULES_STEP_DRYRUN,      /* a dry-run rule whose conditions hold: would fire */
    RULES_STEP_NOMATCH,     /* a condition is false (cond): skipped */
    RULES_STEP_PENDING,     /* a condition is not known yet (cond): the walk stops */
    RULES_STEP_PASSED_OVER, /* a dry-run rule with a condition not known yet */
    RULES_STEP_NOT_REACHED, /* below the rule that decided or stopped the walk */
    RULES_STEP_DEFAULT,     /* no rule decided: the default action */
} rules_step;

typedef struct rules_explain_item {
    rules_step step;
    const char *rule;            /* rule name ("default" for RULES_STEP_DEFAULT) */
    int line;                    /* config line of the rule, 0 for the default */
    bool dry_run;
    const verdict_t *verdict; /* the rule's own verdict (action, reply) */
    const char *cond;            /* NOMATCH, PENDING, PASSED_OVER: the condition as
                                  * configured, e.g. "spf = [ \"fail\" ]"; else NULL */
    size_t nconds;               /* conditions of the rule (0: always) */
    const char *actual;          /* NOMATCH: the value the condition was tested
                                  * against, e.g. "the score is 0, below 5", or
                                  * NULL; valid during the callback only */
} rules_explain_item;

typedef void (*rules_explain_fn)(const rules_explain_item *item, void *arg);

/* rules_eval(), reporting every rule of the table (and the default) to
 * explain (may be NULL) as the walk treats it.  The same walk: the outcome
 * and verdict are those of rules_eval(). */
rules_outcome rules_eval_explain(const rules_t *r, const facts_t *f, verdict_t *verdict,
                                 rules_dryrun_fn dryrun, void *arg, rules_explain_fn explain,
                                 void *xarg);

#endif

/*
 * rulecond.h - one condition of a rule's match group ("spf = [ \"fail\" ]",
 * "dnsbl_score = 5", "rcpt_domain = [ ... ]", ...): parsed from its
 * libconfig setting, evaluated against the facts of a message in three
 * values, TRUE, FALSE or UNKNOWN (the stage that provides the fact has not
 * been reached, or its result is not in the facts yet).  The policy table
 * (rules.c) holds them; mxguard.conf(5) lists the kinds.
 *
 * Ownership: a condition owns its values and its text; rulecond_free()
 * frees them.
 */
#ifndef MXG_RULECOND_H
#define MXG_RULECOND_H

#include <libconfig.h>

#include "cfgload.h"
#include "facts.h"

typedef struct rulecond rulecond_t;

typedef enum rulecond_value { RULECOND_FALSE = 0, RULECOND_TRUE, RULECOND_UNKNOWN } rulecond_value;

/* The condition of setting s, whose name is its kind.  Errors go through
 * cx; a condition with errors is still returned (to be freed), NULL only
 * for an unknown kind. */
rulecond_t *rulecond_parse(cfgload_t *cx, const config_setting_t *s);
void rulecond_free(rulecond_t *c);
rulecond_value rulecond_eval(const rulecond_t *c, const facts_t *f);
/* For explain: the value the condition was tested against, e.g. "the
 * score is 0, below 5", into buf ("" for kinds that do not say). */
void rulecond_show(const rulecond_t *c, const facts_t *f, char *buf, size_t len);
/* "name = value" as configured, for explain. */
const char *rulecond_text(const rulecond_t *c);

#endif

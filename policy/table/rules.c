/*
 * rules.c - the policy table: building it from the libconfig "rules" list
 * and evaluating it over the facts of a message.
 *
 * A rule is a name, conditions (rulecond.h: one table of kinds, where a
 * new check adds one row), an action and its reply.
 *
 * Evaluation is three-valued per condition: TRUE, FALSE, or UNKNOWN (the
 * stage that provides the fact has not been reached).  A rule with any FALSE
 * condition is skipped; otherwise any UNKNOWN makes the walk stop PENDING;
 * otherwise the rule matches.
 *
 * SECURITY: the facts (addresses, domains) come from the SMTP client; the
 * conditions only compare them, nothing of them is copied into the verdict.  Verdict texts come from the config and are
 * checked at load to be printable ASCII without CR/LF.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfgload.h"
#include "rulecond.h"
#include "rules.h"
#include "xalloc.h"

#define RULES_TEXT_MAX 200

/* ---- the table -------------------------------------------------------- */

typedef struct rules_rule {
    char *name;
    int line;               /* line of the rule, for duplicate-name errors */
    rulecond_t **conds;     /* all must hold; none: always */
    size_t nconds;
    bool dry_run;
    verdict_t verdict;  /* points into the fields below */
    char code[4];           /* "550" */
    char xcode[16];         /* "5.7.1" */
    char *text;             /* reply text or quarantine reason */
} rules_rule;

struct rules {
    rules_rule *v;
    size_t n;
    rules_rule dflt;        /* default action; name "default", no conditions */
};

/* ---- building ---------------------------------------------------------- */

static void rules_rule_clear(rules_rule *r)
{
    for (size_t i = 0; i < r->nconds; i++) {
        rulecond_free(r->conds[i]);
    }
    free(r->conds);
    free(r->name);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

void rules_free(rules_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        rules_rule_clear(&r->v[i]);
    free(r->v);
    rules_rule_clear(&r->dflt);
    free(r);
}

size_t rules_count(const rules_t *r)
{
    return r ? r->n : 0;
}

/* Reply text or quarantine reason: printable ASCII, 1..200 chars. */
static bool rules_text_check(cfgload_t *cx, const config_setting_t *s, const char *what, const char *text)
{
    size_t len = strlen(text);

    if (len == 0) {
        cfgload_err(cx, s, "%s is empty", what);
        return false;
    }
    if (len > RULES_TEXT_MAX) {
        cfgload_err(cx, s, "%s is longer than %d characters", what, RULES_TEXT_MAX);
        return false;
    }
    for (const char *p = text; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch > 0x7e) {
            cfgload_err(cx, s, "%s contains a control or non-ASCII character (only printable ASCII)", what);
            return false;
        }
    }
    return true;
}

/* "D.D.D" per RFC 3463: class digit, subject and detail of 1-3 digits. */
static bool rules_xcode_valid(const char *x)
{
    const char *p = x;

    if (!(p[0] == '2' || p[0] == '4' || p[0] == '5') || p[1] != '.')
        return false;
    p += 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            p++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* Set the default reply of an action that has one; else clear it. */
static void rules_set_defaults(rules_rule *r, verdict_action a)
{
    r->verdict.action = a;
    r->verdict.code = r->verdict.xcode = r->verdict.text = NULL;
    if (a == ACTION_REJECT) {
        snprintf(r->code, sizeof(r->code), "550");
        snprintf(r->xcode, sizeof(r->xcode), "5.7.1");
        r->text = xstrdup("Message rejected by policy");
    } else if (a == ACTION_TEMPFAIL) {
        snprintf(r->code, sizeof(r->code), "451");
        snprintf(r->xcode, sizeof(r->xcode), "4.7.1");
        r->text = xstrdup("Message deferred by policy, try again later");
    } else if (a == ACTION_QUARANTINE) {
        r->text = xasprintf("mxguard rule %s", r->name);
    }
}

/* Point the verdict at the rule's own strings. */
static void rules_link_verdict(rules_rule *r)
{
    verdict_action a = r->verdict.action;

    r->verdict.rule = r->name;
    r->verdict.dry_run = false;
    r->verdict.code = (a == ACTION_REJECT || a == ACTION_TEMPFAIL) ? r->code : NULL;
    r->verdict.xcode = (a == ACTION_REJECT || a == ACTION_TEMPFAIL) ? r->xcode : NULL;
    r->verdict.text = (a == ACTION_REJECT || a == ACTION_TEMPFAIL || a == ACTION_QUARANTINE) ? r->text
                                                                                             : NULL;
}

/* reply code = N: 400..599 and, with an action, of its class. */
static bool rules_reply_code(cfgload_t *cx, const config_setting_t *m, bool have_action, verdict_action a,
                             int *code)
{
    long long v;

    if (config_setting_type(m) != CONFIG_TYPE_INT && config_setting_type(m) != CONFIG_TYPE_INT64) {
        cfgload_err(cx, m, "reply code: expected an integer");
        return false;
    }
    v = config_setting_get_int64(m);
    if (v < 400 || v > 599) {
        cfgload_err(cx, m, "reply code %lld out of range (400..599)", v);
        return false;
    }
    *code = (int)v;
    if (have_action && a == ACTION_REJECT && *code / 100 != 5) {
        cfgload_err(cx, m, "reply code %d does not fit action reject (needs 5xx)", *code);
        return false;
    }
    if (have_action && a == ACTION_TEMPFAIL && *code / 100 != 4) {
        cfgload_err(cx, m, "reply code %d does not fit action tempfail (needs 4xx)", *code);
        return false;
    }
    return true;
}

/* reply xcode = "D.D.D"; false (reported) when it is not one. */
static bool rules_reply_xcode(cfgload_t *cx, const config_setting_t *m)
{
    if (config_setting_type(m) != CONFIG_TYPE_STRING) {
        cfgload_err(cx, m, "reply xcode: expected a string \"D.D.D\"");
        return false;
    }
    if (!rules_xcode_valid(config_setting_get_string(m))) {
        cfgload_err(cx, m, "reply xcode \"%s\" is invalid (expected D.D.D, e.g. \"5.7.1\")",
                    config_setting_get_string(m));
        return false;
    }
    return true;
}

/* The class of the enhanced code must be the first digit of the code
 * (given, or the action's default). */
static bool rules_reply_class(cfgload_t *cx, const config_setting_t *xcode_s, int code, bool have_action,
                              verdict_action a)
{
    int klass = code ? code / 100 : (have_action ? (a == ACTION_REJECT ? 5 : 4) : 0);
    const char *x;

    if (xcode_s == NULL || klass == 0)
        return true;
    x = config_setting_get_string(xcode_s);
    if (x[0] - '0' == klass)
        return true;
    if (code)
        cfgload_err(cx, xcode_s, "reply xcode \"%s\" does not match code %d (class %d)", x, code, klass);
    else
        cfgload_err(cx, xcode_s, "reply xcode \"%s\" does not fit action %s (class %d)", x, verdict_action_name(a),
                    klass);
    return false;
}

/* reply = { code; xcode; text; }: check it, and fill r when have_action. */
static void rules_parse_reply(cfgload_t *cx, const config_setting_t *s, rules_rule *r, bool have_action)
{
    verdict_action a = r->verdict.action;
    const config_setting_t *xcode_s = NULL, *text_s = NULL;
    int code = 0;
    bool ok = true;

    if (!config_setting_is_group(s)) {
        cfgload_err(cx, s, "reply: expected a group { code = ...; xcode = \"...\"; text = \"...\"; }");
        return;
    }
    if (have_action && a != ACTION_REJECT && a != ACTION_TEMPFAIL) {
        cfgload_err(cx, s, "reply is not allowed with action %s%s", verdict_action_name(a),
                    a == ACTION_QUARANTINE ? " (use reason = \"...\")" : "");
        have_action = false; /* still check its contents */
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        const char *key = config_setting_name(m);

        if (strcmp(key, "code") == 0) {
            ok &= rules_reply_code(cx, m, have_action, a, &code);
        } else if (strcmp(key, "xcode") == 0) {
            bool good = rules_reply_xcode(cx, m);
            ok &= good;
            xcode_s = good ? m : NULL;
        } else if (strcmp(key, "text") == 0) {
            text_s = m;
            if (config_setting_type(m) != CONFIG_TYPE_STRING) {
                cfgload_err(cx, m, "reply text: expected a string");
                ok = false;
            } else if (!rules_text_check(cx, m, "reply text", config_setting_get_string(m))) {
                ok = false;
            }
        } else {
            cfgload_err(cx, m, "unknown key \"%s\" in reply (code, xcode, text)", key);
            ok = false;
        }
    }
    ok &= rules_reply_class(cx, xcode_s, code, have_action, a);
    if (!ok || !have_action)
        return;
    /* Defaults of the action are already in r; override what was given,
     * deriving the xcode class from the code when only the code is given. */
    if (code) {
        snprintf(r->code, sizeof(r->code), "%d", code);
        if (xcode_s == NULL)
            r->xcode[0] = (char)('0' + code / 100);
    }
    if (xcode_s)
        snprintf(r->xcode, sizeof(r->xcode), "%s", config_setting_get_string(xcode_s));
    if (text_s) {
        free(r->text);
        r->text = xstrdup(config_setting_get_string(text_s));
    }
}

static void rules_parse_match(cfgload_t *cx, const config_setting_t *s, rules_rule *r)
{
    if (!config_setting_is_group(s)) {
        cfgload_err(cx, s, "match: expected a group { condition = ...; ... }");
        return;
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        rulecond_t *c = rulecond_parse(cx, m);

        if (c == NULL)
            continue;
        r->conds = xreallocarray(r->conds, r->nconds + 1, sizeof(rulecond_t *));
        r->conds[r->nconds++] = c; /* kept even if bad, so it is freed */
    }
}

/* Parse one rule group into r; duplicates are checked by the caller. */
static void rules_parse_rule(cfgload_t *cx, const config_setting_t *g, rules_rule *r)
{
    const config_setting_t *name_s = NULL, *action_s = NULL, *match_s = NULL, *reply_s = NULL,
                           *reason_s = NULL, *dry_s = NULL;
    bool have_action = false;

    r->line = (int)config_setting_source_line(g);
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *key = config_setting_name(m);

        if (strcmp(key, "name") == 0)
            name_s = m;
        else if (strcmp(key, "action") == 0)
            action_s = m;
        else if (strcmp(key, "match") == 0)
            match_s = m;
        else if (strcmp(key, "reply") == 0)
            reply_s = m;
        else if (strcmp(key, "reason") == 0)
            reason_s = m;
        else if (strcmp(key, "dry_run") == 0)
            dry_s = m;
        else
            cfgload_err(cx, m, "unknown key \"%s\" in rule (name, match, action, reply, reason, dry_run)", key);
    }

    /* name */
    if (name_s == NULL) {
        cfgload_err(cx, g, "rule has no name (name = \"...\"; is required)");
    } else if (config_setting_type(name_s) != CONFIG_TYPE_STRING) {
        cfgload_err(cx, name_s, "rule name: expected a string");
    } else {
        const char *n = config_setting_get_string(name_s);
        if (!cfgload_name_valid(n))
            cfgload_err(cx, name_s, "rule name \"%s\" is invalid (1 to %d characters of A-Z a-z 0-9 _ . -)", n,
                      CFGLOAD_NAME_MAX);
        else if (strcmp(n, "default") == 0)
            cfgload_err(cx, name_s, "rule name \"default\" is reserved (it names the default action)");
        else
            r->name = xstrdup(n);
    }
    if (r->name == NULL)
        r->name = xasprintf("#%d", r->line);

    /* action */
    if (action_s == NULL) {
        cfgload_err(cx, g, "rule \"%s\" has no action", r->name);
    } else if (config_setting_type(action_s) != CONFIG_TYPE_STRING) {
        cfgload_err(cx, action_s, "action: expected a string");
    } else if (!verdict_action_parse(config_setting_get_string(action_s), &r->verdict.action)) {
        cfgload_err(cx, action_s, "unknown action \"%s\" (accept, reject, tempfail, quarantine, discard)",
                  config_setting_get_string(action_s));
    } else {
        have_action = true;
        rules_set_defaults(r, r->verdict.action);
    }

    if (match_s)
        rules_parse_match(cx, match_s, r);
    if (reply_s)
        rules_parse_reply(cx, reply_s, r, have_action);
    if (reason_s) {
        if (have_action && r->verdict.action != ACTION_QUARANTINE) {
            cfgload_err(cx, reason_s, "reason is only allowed with action quarantine%s",
                      (r->verdict.action == ACTION_REJECT || r->verdict.action == ACTION_TEMPFAIL)
                          ? " (use reply = { ... })"
                          : "");
        } else if (config_setting_type(reason_s) != CONFIG_TYPE_STRING) {
            cfgload_err(cx, reason_s, "reason: expected a string");
        } else if (rules_text_check(cx, reason_s, "reason", config_setting_get_string(reason_s)) &&
                   have_action) {
            free(r->text);
            r->text = xstrdup(config_setting_get_string(reason_s));
        }
    }
    if (dry_s)
        cfgload_bool(cx, dry_s, "dry_run", &r->dry_run);
}

/* cfgload_groups() callback: one rule group appended to the table. */
static const char *rules_parse_group(cfgload_t *cx, const config_setting_t *g, int *line, void *arg)
{
    rules_t *r = arg;
    rules_rule rule;

    memset(&rule, 0, sizeof(rule));
    rules_parse_rule(cx, g, &rule);
    r->v = xreallocarray(r->v, r->n + 1, sizeof(rules_rule));
    r->v[r->n++] = rule;
    *line = rule.line;
    return rule.name;
}

rules_t *rules_from_config(const config_setting_t *list, const config_setting_t *dflt,
                           cfgload_error_fn errfn, void *arg)
{
    cfgload_t cx = {errfn, arg, 0};
    rules_t *r = xcalloc(1, sizeof(rules_t));
    verdict_action da = ACTION_ACCEPT;

    r->dflt.name = xstrdup("default");
    if (dflt) {
        if (config_setting_type(dflt) != CONFIG_TYPE_STRING)
            cfgload_err(&cx, dflt, "default_action: expected a string");
        else if (!verdict_action_parse(config_setting_get_string(dflt), &da))
            cfgload_err(&cx, dflt,
                      "unknown default_action \"%s\" (accept, reject, tempfail, quarantine, discard)",
                      config_setting_get_string(dflt));
    }
    rules_set_defaults(&r->dflt, da);
    rules_link_verdict(&r->dflt);

    cfgload_groups(&cx, list, "rules", "rule", "{ name = ...; ... }", "rule", rules_parse_group, r);
    /* The verdicts point at the rules' own fields: link them once the
     * array has stopped moving. */
    for (size_t i = 0; i < r->n; i++)
        rules_link_verdict(&r->v[i]);
    if (cx.nerrors > 0) {
        rules_free(r);
        return NULL;
    }
    return r;
}

/* ---- evaluation -------------------------------------------------------- */

/* *why: the condition that made it FALSE, or the first UNKNOWN one. */
static rulecond_value rules_rule_eval(const rules_rule *r, const facts_t *f, const rulecond_t **why)
{
    bool unknown = false;

    *why = NULL;
    for (size_t i = 0; i < r->nconds; i++) {
        const rulecond_t *c = r->conds[i];
        rulecond_value v = rulecond_eval(c, f);
        if (v == RULECOND_UNKNOWN) {
            if (!unknown)
                *why = c;
            unknown = true;
        } else if (v == RULECOND_FALSE) {
            *why = c;
            return RULECOND_FALSE;
        }
    }
    return unknown ? RULECOND_UNKNOWN : RULECOND_TRUE;
}

/* Report one rule to the explain callback. */
static void rules_report(rules_explain_fn explain, void *xarg, const rules_rule *rule, rules_step step,
                         const rulecond_t *why, const facts_t *f)
{
    char actual[160] = "";
    rules_explain_item it = {
        .step = step,
        .rule = rule->name,
        .line = step == RULES_STEP_DEFAULT ? 0 : rule->line,
        .dry_run = rule->dry_run,
        .verdict = &rule->verdict,
        .cond = why ? rulecond_text(why) : NULL,
        .nconds = rule->nconds,
    };
    if (explain == NULL)
        return;
    if (step == RULES_STEP_NOMATCH && why != NULL) {
        rulecond_show(why, f, actual, sizeof(actual));
        it.actual = actual[0] ? actual : NULL;
    }
    explain(&it, xarg);
}

/* The rules below index i were not looked at. */
static void rules_report_rest(const rules_t *r, size_t i, rules_explain_fn explain, void *xarg)
{
    for (; explain && i < r->n; i++)
        rules_report(explain, xarg, &r->v[i], RULES_STEP_NOT_REACHED, NULL, NULL);
}

rules_outcome rules_eval_explain(const rules_t *r, const facts_t *f, verdict_t *verdict,
                                 rules_dryrun_fn dryrun, void *arg, rules_explain_fn explain, void *xarg)
{
    memset(verdict, 0, sizeof(*verdict));
    for (size_t i = 0; i < r->n; i++) {
        const rules_rule *rule = &r->v[i];
        const rulecond_t *why;

        switch (rules_rule_eval(rule, f, &why)) {
        case RULECOND_FALSE:
            rules_report(explain, xarg, rule, RULES_STEP_NOMATCH, why, f);
            continue;
        case RULECOND_UNKNOWN:
            /* A dry-run rule never decides, so it cannot hold back the
             * rules below it; it is reported once it is known. */
            if (rule->dry_run) {
                rules_report(explain, xarg, rule, RULES_STEP_PASSED_OVER, why, f);
                continue;
            }
            rules_report(explain, xarg, rule, RULES_STEP_PENDING, why, f);
            rules_report_rest(r, i + 1, explain, xarg);
            return RULES_PENDING;
        case RULECOND_TRUE:
            break;
        }
        if (rule->dry_run) {
            rules_report(explain, xarg, rule, RULES_STEP_DRYRUN, NULL, f);
            if (dryrun) {
                verdict_t would = rule->verdict;
                would.dry_run = true;
                dryrun(&would, arg);
            }
            continue;
        }
        rules_report(explain, xarg, rule, RULES_STEP_MATCH, NULL, f);
        rules_report_rest(r, i + 1, explain, xarg);
        *verdict = rule->verdict;
        return RULES_DECIDED;
    }
    rules_report(explain, xarg, &r->dflt, RULES_STEP_DEFAULT, NULL, f);
    *verdict = r->dflt.verdict;
    return RULES_DECIDED;
}

rules_outcome rules_eval(const rules_t *r, const facts_t *f, verdict_t *verdict, rules_dryrun_fn dryrun,
                         void *arg)
{
    return rules_eval_explain(r, f, verdict, dryrun, arg, NULL, NULL);
}

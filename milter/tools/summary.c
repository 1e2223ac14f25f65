/*
 * summary.c - "mxguard summary": read decision lines, print counts per
 * action, per rule (fired, and dry-run would-fire), per check result, top
 * envelope-sender and From domains per action, and the time range.
 *
 * Input: a syslog file (RFC 3164 "Mmm dd hh:mm:ss host mxguard[pid]: ..."
 * or RFC 3339 "2026-01-02T03:04:05.123+00:00 host mxguard[pid]: ..."), the
 * daemon's log_file (the RFC 3339 form, log_format_line()), the daemon's
 * stderr ("mxguard: decision ..."), or bare "decision ..." lines
 * (journalctl -o cat).  Each decision line is parsed by declog_parse(), the
 * inverse of the daemon's own quoting.
 *
 * SECURITY: log lines carry values that came from SMTP clients (HELO, MAIL
 * FROM).  They are only counted and printed back: in text output through
 * strbuf_quote() (no control byte reaches the terminal), in JSON as escaped
 * strings.  Memory grows with the number of distinct names, not lines.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "declog.h"
#include "strbuf.h"
#include "summary.h"
#include "xalloc.h"

#define SUMMARY_MALFORMED_SHOWN 5
#define SUMMARY_LINE_MAX (64 * 1024)

/* A counter set: names with counts, found through a tsearch() tree and
 * kept in insertion order in an array for printing. */
typedef struct sm_count {
    char *name;
    long n;
} sm_count;

typedef struct sm_counts {
    void *root;      /* tsearch tree of sm_count* by name */
    sm_count **v;    /* insertion order */
    size_t n;
} sm_counts;

static int sm_cmp(const void *a, const void *b)
{
    return strcmp(((const sm_count *)a)->name, ((const sm_count *)b)->name);
}

static void sm_add(sm_counts *c, const char *name, long by)
{
    sm_count key = {(char *)name, 0}, **found, *e;

    found = tfind(&key, &c->root, sm_cmp);
    if (found != NULL) {
        (*found)->n += by;
        return;
    }
    e = xcalloc(1, sizeof(*e));
    e->name = xstrdup(name);
    e->n = by;
    if (tsearch(e, &c->root, sm_cmp) == NULL) {
        free(e->name);
        free(e);
        return;
    }
    c->v = xreallocarray(c->v, c->n + 1, sizeof(*c->v));
    c->v[c->n++] = e;
}

static void sm_noop(void *p)
{
    (void)p;
}

static void sm_clear(sm_counts *c)
{
    tdestroy(c->root, sm_noop);
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i]->name);
        free(c->v[i]);
    }
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* Highest count first, then by name: a stable report. */
static int sm_order(const void *a, const void *b)
{
    const sm_count *x = *(sm_count *const *)a, *y = *(sm_count *const *)b;

    if (x->n != y->n)
        return x->n > y->n ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A sorted copy of the entries (caller frees the array only). */
static sm_count **sm_sorted(const sm_counts *c)
{
    sm_count **v = xcalloc(c->n + 1, sizeof(*v));

    if (c->n > 0)
        memcpy(v, c->v, c->n * sizeof(*v));
    qsort(v, c->n, sizeof(*v), sm_order);
    return v;
}

/* The checks counted per result: decision keys, in line order.  A value
 * with commas counts each part; "RESULT:DOMAIN" (dkim) and "LIST:ANSWER"
 * (dnsbl) count the part before the colon. */
static const char *const sm_checks[] = {"spf", "spf_helo", "dnsbl", "dkim", "dmarc"};
#define SM_NCHECKS (sizeof(sm_checks) / sizeof(sm_checks[0]))
#define SM_NACTIONS 5

static const char *const sm_actions[SM_NACTIONS] = {"accept", "reject", "tempfail", "quarantine", "discard"};

typedef struct sm_malformed {
    long lineno;
    char *why;
} sm_malformed;

struct summary {
    summary_options o;
    long lines;            /* input lines */
    long other_programs;   /* lines of other programs: skipped */
    long other_mxguard;    /* mxguard lines that are not decision lines */
    long malformed;        /* decision lines that do not parse */
    sm_malformed shown[SUMMARY_MALFORMED_SHOWN];
    size_t nshown;
    long untimed_skipped;  /* --since given, line without a time stamp */
    long before_since;     /* older than --since */
    long filtered_rule;    /* not about --rule */
    long decisions;        /* counted */
    time_t first, last;    /* time range of the counted lines (0: none) */
    long untimed;          /* counted lines without a time stamp */
    sm_counts action;
    sm_counts stage;
    sm_counts fired;       /* rule that decided */
    sm_counts dry;         /* dry-run rule that would have fired */
    sm_counts check[SM_NCHECKS]; /* per check: result (or list) -> count */
    sm_counts sender[SM_NACTIONS]; /* envelope sender domain per action */
    sm_counts from[SM_NACTIONS];   /* From header domain per action */
    bool have_from;        /* some line had a from_domain key */
};

summary_t *summary_new(const summary_options *o)
{
    summary_t *s = xcalloc(1, sizeof(*s));

    if (o != NULL)
        s->o = *o;
    if (s->o.top == 0)
        s->o.top = 10;
    return s;
}

void summary_free(summary_t *s)
{
    if (s == NULL)
        return;
    sm_clear(&s->action);
    sm_clear(&s->stage);
    sm_clear(&s->fired);
    sm_clear(&s->dry);
    for (size_t i = 0; i < SM_NCHECKS; i++)
        sm_clear(&s->check[i]);
    for (size_t i = 0; i < SM_NACTIONS; i++) {
        sm_clear(&s->sender[i]);
        sm_clear(&s->from[i]);
    }
    for (size_t i = 0; i < s->nshown; i++)
        free(s->shown[i].why);
    free(s);
}

/* ---- time stamps ------------------------------------------------------ */

/* RFC 3339 at p ("2026-01-02T03:04:05[.frac](Z|+hh:mm)"); *end after it. */
static bool sm_time_iso(const char *p, time_t *out, const char **end)
{
    struct tm tm;
    const char *q;
    long off = 0;

    memset(&tm, 0, sizeof(tm));
    q = strptime(p, "%Y-%m-%dT%H:%M:%S", &tm);
    if (q == NULL)
        return false;
    if (*q == '.' || *q == ',')
        for (q++; isdigit((unsigned char)*q); q++)
            ;
    if (*q == 'Z') {
        q++;
    } else if ((*q == '+' || *q == '-') && isdigit((unsigned char)q[1]) && isdigit((unsigned char)q[2])) {
        int sign = *q == '-' ? -1 : 1;
        long hh = (q[1] - '0') * 10 + (q[2] - '0'), mm = 0;
        q += 3;
        if (*q == ':')
            q++;
        if (isdigit((unsigned char)q[0]) && isdigit((unsigned char)q[1])) {
            mm = (q[0] - '0') * 10 + (q[1] - '0');
            q += 2;
        }
        off = sign * (hh * 3600 + mm * 60);
    } else {
        /* No zone: local time. */
        tm.tm_isdst = -1;
        *out = mktime(&tm);
        *end = q;
        return *out != (time_t)-1;
    }
    *out = timegm(&tm) - off;
    *end = q;
    return true;
}

/* RFC 3164 at p ("Jan  2 03:04:05", local time, no year: the latest year
 * that does not put it more than a day in the future). */
static bool sm_time_bsd(const char *p, time_t now, time_t *out, const char **end)
{
    struct tm tm, nowtm;
    const char *q;

    memset(&tm, 0, sizeof(tm));
    q = strptime(p, "%b %e %H:%M:%S", &tm);
    if (q == NULL)
        return false;
    localtime_r(&now, &nowtm);
    tm.tm_year = nowtm.tm_year;
    tm.tm_isdst = -1;
    *out = mktime(&tm);
    if (*out != (time_t)-1 && *out > now + 86400) {
        tm.tm_year--;
        tm.tm_isdst = -1;
        *out = mktime(&tm);
    }
    *end = q;
    return *out != (time_t)-1;
}

bool summary_parse_since(const char *text, time_t now, time_t *out)
{
    static const char *const forms[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                        "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    char *end;
    long n;

    if (text == NULL || *text == '\0')
        return false;
    if (isdigit((unsigned char)*text)) {
        errno = 0;
        n = strtol(text, &end, 10);
        if (errno == 0 && n >= 0 && n < 100000 && end[0] != '\0' && end[1] == '\0') {
            long unit = end[0] == 'm' ? 60 : end[0] == 'h' ? 3600 : end[0] == 'd' ? 86400 : 0;
            if (unit != 0) {
                *out = now - (time_t)(n * unit);
                return true;
            }
        }
    }
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        struct tm tm;
        const char *q;

        memset(&tm, 0, sizeof(tm));
        q = strptime(text, forms[i], &tm);
        if (q != NULL && *q == '\0') {
            tm.tm_isdst = -1;
            *out = mktime(&tm);
            return *out != (time_t)-1;
        }
    }
    return false;
}

/* ---- one line ----------------------------------------------------------- */

/* Split a log line: *msg is the message after "mxguard: " or
 * "mxguard[PID]: " (or the line itself for a bare "decision ..."), *t its
 * time stamp (0: none).  False for a line of another program. */
static bool sm_split(const char *line, const char **msg, time_t *t)
{
    const char *colon, *tag, *p, *end;
    size_t taglen;
    time_t when;

    *t = 0;
    if (strncmp(line, "decision ", 9) == 0) {
        *msg = line;
        return true;
    }
    colon = strstr(line, ": ");
    if (colon == NULL)
        return false;
    for (tag = colon; tag > line && tag[-1] != ' '; tag--)
        ;
    taglen = (size_t)(colon - tag);
    if (!(taglen == 7 && strncmp(tag, "mxguard", 7) == 0) &&
        !(taglen > 9 && strncmp(tag, "mxguard[", 8) == 0 && tag[taglen - 1] == ']'))
        return false;
    *msg = colon + 2;
    p = line;
    if (tag > line && (sm_time_iso(p, &when, &end) || sm_time_bsd(p, time(NULL), &when, &end)) &&
        *end == ' ')
        *t = when;
    return true;
}

static int sm_action_index(const char *a)
{
    for (int i = 0; i < SM_NACTIONS; i++)
        if (a != NULL && strcmp(a, sm_actions[i]) == 0)
            return i;
    return -1;
}

/* Is name one of the comma-separated names in list? */
static bool sm_in_list(const char *list, const char *name)
{
    size_t len = strlen(name);

    for (const char *p = list; p != NULL && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && strncmp(p, name, len) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

/* Count each comma-separated part of val (up to a colon), once per line. */
static void sm_count_parts(sm_counts *c, const char *val)
{
    char *seen = xstrdup(",");

    if (val == NULL) {
        sm_add(c, "-", 1);
        free(seen);
        return;
    }
    for (const char *p = val; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        char *part = xstrndup(p, colon ? (size_t)(colon - p) : n);
        char *mark = xasprintf(",%s,", part);

        if (strstr(seen, mark) == NULL) {
            char *more = xasprintf("%s%s,", seen, part);
            free(seen);
            seen = more;
            sm_add(c, part, 1);
        }
        free(mark);
        free(part);
        p = comma ? comma + 1 : p + n;
    }
    free(seen);
}

/* The lower-cased domain of "<user@domain>", "<>" for the null sender,
 * "-" when unknown.  Caller frees. */
static char *sm_sender_domain(const char *mail_from)
{
    const char *at;
    char *d;
    size_t len;

    if (mail_from == NULL)
        return xstrdup("-");
    if (strcmp(mail_from, "<>") == 0)
        return xstrdup("<>");
    at = strrchr(mail_from, '@');
    if (at == NULL)
        return xstrdup("-");
    d = xstrdup(at + 1);
    len = strlen(d);
    if (len > 0 && d[len - 1] == '>')
        d[--len] = '\0';
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static void sm_malformed_line(summary_t *s, const char *why)
{
    s->malformed++;
    if (s->nshown < SUMMARY_MALFORMED_SHOWN) {
        s->shown[s->nshown].lineno = s->lines;
        s->shown[s->nshown].why = xstrdup(why);
        s->nshown++;
    }
}

/* Parse line into *d when it is an mxguard decision line; else count it as
 * another program's, another mxguard line or malformed, and return false.
 * *t: the line's time, 0 when it has none. */
static bool sm_parse_line(summary_t *s, const char *line, declog_fields *d, time_t *t)
{
    const char *msg;
    char err[128], *copy;
    size_t len = strcspn(line, "\r\n");

    copy = xstrndup(line, len);
    if (!sm_split(copy, &msg, t)) {
        s->other_programs++;
        free(copy);
        return false;
    }
    if (strncmp(msg, "decision", 8) != 0 || (msg[8] != ' ' && msg[8] != '\0')) {
        s->other_mxguard++;
        free(copy);
        return false;
    }
    if (!declog_parse(msg, d, err, sizeof(err))) {
        sm_malformed_line(s, err);
        free(copy);
        return false;
    }
    free(copy);
    return true;
}

/* Is a decision at time t by rule (dry: its dry-run rules) left out by
 * --since or --rule?  Counted under its reason if so. */
static bool sm_filtered(summary_t *s, time_t t, const char *rule, const char *dry)
{
    if (s->o.since != 0 && t == 0) {
        s->untimed_skipped++;
        return true;
    }
    if (s->o.since != 0 && t < s->o.since) {
        s->before_since++;
        return true;
    }
    if (s->o.rule != NULL && strcmp(rule, s->o.rule) != 0 && !sm_in_list(dry, s->o.rule)) {
        s->filtered_rule++;
        return true;
    }
    return false;
}

/* Count the check results and the sender and From domains of decision d
 * (action index ai). */
static void sm_count_checks(summary_t *s, const declog_fields *d, int ai)
{
    const char *v;

    for (size_t i = 0; i < SM_NCHECKS; i++) {
        const char *score;
        if (!declog_get(d, sm_checks[i], &v))
            continue;
        /* dnsbl "-" is "none listed" when a score was computed */
        if (v == NULL && strcmp(sm_checks[i], "dnsbl") == 0 && declog_get(d, "dnsbl_score", &score) &&
            score != NULL)
            v = "none";
        sm_count_parts(&s->check[i], v);
    }
    if (declog_get(d, "mail_from", &v)) {
        char *dom = sm_sender_domain(v);
        sm_add(&s->sender[ai], dom, 1);
        free(dom);
    }
    if (declog_get(d, "from_domain", &v)) {
        char *dom = xstrdup(v ? v : "-");
        for (char *p = dom; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        s->have_from = true;
        sm_add(&s->from[ai], dom, 1);
        free(dom);
    }
}

void summary_line(summary_t *s, const char *line)
{
    declog_fields d;
    const char *action, *rule, *dry, *v;
    time_t t;
    int ai;

    s->lines++;
    if (!sm_parse_line(s, line, &d, &t))
        return;
    if (!declog_get(&d, "action", &action) || (ai = sm_action_index(action)) < 0 ||
        !declog_get(&d, "rule", &rule) || rule == NULL) {
        sm_malformed_line(s, "no valid action or rule key");
        declog_fields_clear(&d);
        return;
    }
    declog_get(&d, "dry_run", &dry);
    if (sm_filtered(s, t, rule, dry))
        goto done;

    s->decisions++;
    if (t == 0) {
        s->untimed++;
    } else {
        if (s->first == 0 || t < s->first)
            s->first = t;
        if (t > s->last)
            s->last = t;
    }
    sm_add(&s->action, action, 1);
    if (declog_get(&d, "stage", &v))
        sm_add(&s->stage, v ? v : "-", 1);
    sm_add(&s->fired, rule, 1);
    for (const char *p = dry; p != NULL && *p;) {
        const char *comma = strchr(p, ',');
        char *name = xstrndup(p, comma ? (size_t)(comma - p) : strlen(p));
        sm_add(&s->dry, name, 1);
        free(name);
        p = comma ? comma + 1 : NULL;
    }
    sm_count_checks(s, &d, ai);
done:
    declog_fields_clear(&d);
}

/* ---- output ------------------------------------------------------------- */

static void sm_time_text(time_t t, char *buf, size_t len)
{
    struct tm tm;

    localtime_r(&t, &tm);
    if (strftime(buf, len, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
        snprintf(buf, len, "%lld", (long long)t);
}

/* A name for the terminal: quoted like a decision-line value. */
static void sm_text_name(FILE *fp, const char *name, int width)
{
    char *q = strbuf_quote(name);

    fprintf(fp, "%-*s", width, q);
    free(q);
}

static void sm_text_counts(FILE *fp, const char *title, const sm_counts *c, size_t limit)
{
    sm_count **v = sm_sorted(c);

    fprintf(fp, "%s\n", title);
    if (c->n == 0)
        fprintf(fp, "  (none)\n");
    for (size_t i = 0; i < c->n && (limit == 0 || i < limit); i++) {
        fprintf(fp, "  %8ld  ", v[i]->n);
        if (strcmp(v[i]->name, "-") == 0)
            fputs("- (not evaluated)", fp);
        else
            sm_text_name(fp, v[i]->name, 0);
        fputc('\n', fp);
    }
    if (limit != 0 && c->n > limit)
        fprintf(fp, "  (%zu more)\n", c->n - limit);
    free(v);
}

static void sm_json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

/* {"name": n, ...} highest first (JSON object member order is kept by
 * most readers; the values are what counts). */
static void sm_json_counts(FILE *fp, const sm_counts *c, size_t limit)
{
    sm_count **v = sm_sorted(c);

    fputc('{', fp);
    for (size_t i = 0; i < c->n && (limit == 0 || i < limit); i++) {
        if (i > 0)
            fputs(", ", fp);
        sm_json_str(fp, v[i]->name);
        fprintf(fp, ": %ld", v[i]->n);
    }
    fputc('}', fp);
    free(v);
}

static void sm_print_json(const summary_t *s, FILE *fp)
{
    char buf[64];

    fprintf(fp, "{\"lines\": %ld, \"decisions\": %ld, \"malformed\": %ld, \"other_programs\": %ld, "
                "\"other_mxguard\": %ld,\n",
            s->lines, s->decisions, s->malformed, s->other_programs, s->other_mxguard);
    fprintf(fp, " \"malformed_lines\": [");
    for (size_t i = 0; i < s->nshown; i++) {
        fprintf(fp, "%s{\"line\": %ld, \"reason\": ", i ? ", " : "", s->shown[i].lineno);
        sm_json_str(fp, s->shown[i].why);
        fputc('}', fp);
    }
    fprintf(fp, "],\n \"skipped\": {\"before_since\": %ld, \"no_timestamp\": %ld, \"other_rule\": %ld},\n",
            s->before_since, s->untimed_skipped, s->filtered_rule);
    fprintf(fp, " \"time_range\": {\"first\": ");
    if (s->first) {
        sm_time_text(s->first, buf, sizeof(buf));
        sm_json_str(fp, buf);
    } else {
        fputs("null", fp);
    }
    fputs(", \"last\": ", fp);
    if (s->last) {
        sm_time_text(s->last, buf, sizeof(buf));
        sm_json_str(fp, buf);
    } else {
        fputs("null", fp);
    }
    fprintf(fp, ", \"untimed\": %ld},\n", s->untimed);
    fputs(" \"actions\": ", fp);
    sm_json_counts(fp, &s->action, 0);
    fputs(",\n \"stages\": ", fp);
    sm_json_counts(fp, &s->stage, 0);
    fputs(",\n \"rules\": {\"fired\": ", fp);
    sm_json_counts(fp, &s->fired, 0);
    fputs(", \"dry_run\": ", fp);
    sm_json_counts(fp, &s->dry, 0);
    fputs("},\n \"checks\": {", fp);
    for (size_t i = 0, k = 0; i < SM_NCHECKS; i++) {
        if (s->check[i].n == 0)
            continue;
        fprintf(fp, "%s\"%s\": ", k++ ? ", " : "", sm_checks[i]);
        sm_json_counts(fp, &s->check[i], 0);
    }
    fputs("},\n \"sender_domains\": {", fp);
    for (size_t i = 0, k = 0; i < SM_NACTIONS; i++) {
        if (s->sender[i].n == 0)
            continue;
        fprintf(fp, "%s\"%s\": ", k++ ? ", " : "", sm_actions[i]);
        sm_json_counts(fp, &s->sender[i], s->o.top);
    }
    fputs("},\n \"from_domains\": {", fp);
    for (size_t i = 0, k = 0; i < SM_NACTIONS; i++) {
        if (s->from[i].n == 0)
            continue;
        fprintf(fp, "%s\"%s\": ", k++ ? ", " : "", sm_actions[i]);
        sm_json_counts(fp, &s->from[i], s->o.top);
    }
    fputs("}}\n", fp);
}

static void sm_print_text(const summary_t *s, FILE *fp)
{
    char a[64], b[64];

    fprintf(fp, "%ld decision(s) from %ld line(s)", s->decisions, s->lines);
    if (s->o.rule)
        fprintf(fp, " (rule %s: fired or dry-run)", s->o.rule);
    fputc('\n', fp);
    if (s->first) {
        sm_time_text(s->first, a, sizeof(a));
        sm_time_text(s->last, b, sizeof(b));
        fprintf(fp, "time range: %s .. %s", a, b);
        if (s->untimed)
            fprintf(fp, " (%ld line(s) without a time stamp)", s->untimed);
        fputc('\n', fp);
    } else {
        fprintf(fp, "time range: unknown (no time stamps)\n");
    }
    fprintf(fp, "skipped: %ld line(s) of other programs, %ld other mxguard line(s)", s->other_programs,
            s->other_mxguard);
    if (s->o.since)
        fprintf(fp, ", %ld before --since, %ld without a time stamp", s->before_since, s->untimed_skipped);
    if (s->o.rule)
        fprintf(fp, ", %ld about other rules", s->filtered_rule);
    fputc('\n', fp);
    fprintf(fp, "malformed decision lines: %ld\n", s->malformed);
    for (size_t i = 0; i < s->nshown; i++)
        fprintf(fp, "  line %ld: %s\n", s->shown[i].lineno, s->shown[i].why);
    fputc('\n', fp);
    sm_text_counts(fp, "actions:", &s->action, 0);
    sm_text_counts(fp, "stages:", &s->stage, 0);
    sm_text_counts(fp, "rules that decided:", &s->fired, 0);
    sm_text_counts(fp, "dry-run rules that would have fired:", &s->dry, 0);
    for (size_t i = 0; i < SM_NCHECKS; i++) {
        char title[64];
        if (s->check[i].n == 0)
            continue;
        snprintf(title, sizeof(title), "check %s:", sm_checks[i]);
        sm_text_counts(fp, title, &s->check[i], 0);
    }
    for (size_t i = 0; i < SM_NACTIONS; i++) {
        char title[96];
        if (s->sender[i].n == 0)
            continue;
        snprintf(title, sizeof(title), "top envelope sender domains, %s:", sm_actions[i]);
        sm_text_counts(fp, title, &s->sender[i], s->o.top);
    }
    for (size_t i = 0; i < SM_NACTIONS; i++) {
        char title[96];
        if (s->from[i].n == 0)
            continue;
        snprintf(title, sizeof(title), "top From domains, %s:", sm_actions[i]);
        sm_text_counts(fp, title, &s->from[i], s->o.top);
    }
    if (!s->have_from && s->decisions > 0)
        fprintf(fp, "(no from_domain key in these lines: From domains not counted)\n");
}

void summary_print(const summary_t *s, FILE *fp, bool json)
{
    if (json)
        sm_print_json(s, fp);
    else
        sm_print_text(s, fp);
}

/* ---- the subcommand ------------------------------------------------------ */

static void sm_usage(void)
{
    fprintf(stderr, "usage: mxguard summary [--since TIME] [--rule NAME] [--format text|json] [--top N] [FILE...]\n"
                    "  reads decision lines from the files (or stdin, or \"-\")\n"
                    "  TIME: YYYY-MM-DD[ HH:MM[:SS]] (local time) or 90m, 12h, 7d back from now\n");
}

/* Feed one stream, a line at a time (overlong lines are cut, counted once). */
static void sm_feed(summary_t *s, FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while ((n = getline(&line, &cap, in)) >= 0) {
        if (n > SUMMARY_LINE_MAX)
            line[SUMMARY_LINE_MAX] = '\0';
        summary_line(s, line);
    }
    free(line);
}

int summary_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"since", required_argument, NULL, 's'}, {"rule", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'f'}, {"top", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    summary_options o = {0};
    bool json = false;
    summary_t *s;
    int c, rc = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "s:r:f:t:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!summary_parse_since(optarg, time(NULL), &o.since)) {
                fprintf(stderr, "mxguard summary: bad --since \"%s\"\n", optarg);
                return 2;
            }
            break;
        case 'r': o.rule = optarg; break;
        case 'f':
            if (strcmp(optarg, "json") == 0) {
                json = true;
            } else if (strcmp(optarg, "text") != 0) {
                fprintf(stderr, "mxguard summary: --format is text or json\n");
                return 2;
            }
            break;
        case 't': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end != '\0' || n < 1 || n > 100000) {
                fprintf(stderr, "mxguard summary: --top is 1..100000\n");
                return 2;
            }
            o.top = (size_t)n;
            break;
        }
        default: sm_usage(); return c == 'h' ? 0 : 2;
        }
    }
    s = summary_new(&o);
    if (optind == argc)
        sm_feed(s, stdin);
    for (int i = optind; i < argc; i++) {
        FILE *in = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
        if (in == NULL) {
            fprintf(stderr, "mxguard summary: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        sm_feed(s, in);
        if (in != stdin)
            fclose(in);
    }
    summary_print(s, stdout, json);
    summary_free(s);
    return rc;
}

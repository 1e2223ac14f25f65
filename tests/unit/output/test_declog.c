/*
 * test_declog.c - the decision line: keys and order, "-" for unknowns,
 * quoting (and that a parser gets the original value back), the length
 * bound, the reply of each action, dry-run lists, log injection.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "declog.h"
#include "strbuf.h"
#include "facts.h"
#include "rules.h"
#include "testutil.h"
#include "xalloc.h"

static const char *const keys[] = {
    "stage", "queue_id", "client_addr", "client_name", "helo", "mail_from", "rcpts", "rcpts_rejected",
    "spf", "spf_domain", "spf_helo", "dnsbl_score", "dnsbl", "dkim", "dkim_reason", "dmarc", "dmarc_policy", "dmarc_aligned", "from_domain", "rule", "dry_run", "action", "reply", "elapsed_ms",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- a parser for the line, independent of declog.c ---------------------- */

typedef struct parsed {
    size_t n;
    char *key[32];
    char *raw[32]; /* value as written */
} parsed;

/* Split "decision k=v k=v ..." into keys and raw values; fails the test on
 * anything that is not that shape (e.g. a raw control byte). */
static void parse_line(const char *line, parsed *out)
{
    const char *p = line;

    memset(out, 0, sizeof(*out));
    ck_assert_msg(strncmp(p, "decision", 8) == 0, "no prefix: [%s]", line);
    p += 8;
    for (const char *c = line; *c; c++)
        ck_assert_msg((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "raw byte 0x%02x in [%s]",
                      (unsigned char)*c, line);
    while (*p) {
        const char *k, *v;

        ck_assert_msg(*p == ' ', "expected a space at [%s]", p);
        k = ++p;
        while ((*p >= 'a' && *p <= 'z') || *p == '_')
            p++;
        ck_assert_msg(*p == '=' && p > k, "bad key at [%s]", k);
        ck_assert_uint_lt(out->n, 32);
        out->key[out->n] = xstrndup(k, (size_t)(p - k));
        v = ++p;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            ck_assert_msg(*p == '"', "unterminated quote in [%s]", line);
            p++;
        } else {
            while (*p && *p != ' ')
                p++;
        }
        ck_assert_msg(p > v, "empty raw value in [%s]", line);
        out->raw[out->n++] = xstrndup(v, (size_t)(p - v));
    }
}

static void parsed_free(parsed *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->key[i]);
        free(ps->raw[i]);
    }
}

static const char *raw_of(const parsed *ps, const char *key)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->key[i], key) == 0)
            return ps->raw[i];
    ck_abort_msg("key %s missing", key);
    return NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Undo the quoting of a raw value (the operator's parser). */
static char *unquote(const char *raw)
{
    size_t n = strlen(raw), o = 0;
    char *out = xmalloc(n + 1);

    if (raw[0] != '"') {
        memcpy(out, raw, n + 1);
        return out;
    }
    ck_assert_msg(n >= 2 && raw[n - 1] == '"', "bad quoting [%s]", raw);
    for (size_t i = 1; i < n - 1; i++) {
        if (raw[i] == '\\' && raw[i + 1] == 'x') {
            int hi = hexval(raw[i + 2]), lo = hexval(raw[i + 3]);
            ck_assert_msg(hi >= 0 && lo >= 0, "bad \\x in [%s]", raw);
            out[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else if (raw[i] == '\\') {
            ck_assert_msg(raw[i + 1] == '"' || raw[i + 1] == '\\', "bad escape in [%s]", raw);
            out[o++] = raw[++i];
        } else {
            ck_assert_msg(raw[i] != '"', "bare quote inside [%s]", raw);
            out[o++] = raw[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- fixtures --------------------------------------------------------------- */

static facts_t *full_facts(void)
{
    facts_t *f = facts_new();

    f->stage = STAGE_RCPT;
    facts_set(&f->queue_id, "4XyZ1");
    facts_set(&f->client_addr, "192.0.2.1");
    facts_set(&f->client_name, "mail.example.net");
    facts_set(&f->helo, "mail.example.net");
    facts_set(&f->mail_from, "a@example.com");
    facts_add_rcpt(f, "b@example.org");
    f->spf_mfrom = SPFCHECK_PASS;
    facts_set(&f->spf_domain, "example.com");
    f->spf_helo = SPFCHECK_NONE;
    return f;
}

static char *format(const facts_t *f, const verdict_t *v, facts_stage st, const char *const *dry,
                    size_t ndry, long ms)
{
    declog_entry e = {.facts = f, .verdict = v, .stage = st, .dry_run = dry, .ndry_run = ndry, .elapsed_ms = ms};
    return declog_format(&e);
}

/* The value of key in a line ("" if absent), in a static buffer. */
static const char *key_value(const char *line, const char *key)
{
    static char buf[512];
    char pat[64];
    const char *p;
    size_t n;

    snprintf(pat, sizeof(pat), " %s=", key);
    p = strstr(line, pat);
    if (p == NULL)
        return "";
    p += strlen(pat);
    n = strcspn(p, " ");
    snprintf(buf, sizeof(buf), "%.*s", (int)n, p);
    return buf;
}

/* ---- the line -------------------------------------------------------------- */

/* dmarc, dmarc_policy, dmarc_aligned: "-" not evaluated, after dkim. */
START_TEST(test_dmarc_keys)
{
    facts_t *f = facts_new();
    char *line;

    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_ptr_nonnull(strstr(line, " dkim=- dkim_reason=- dmarc=- dmarc_policy=- dmarc_aligned=- from_domain=- rule="));
    free(line);
    f->dmarc.result = DMARCCHECK_FAIL;
    f->dmarc.policy_tag = "sp";
    f->dmarc.published = DMARCCHECK_POLICY_REJECT;
    f->dmarc.applied = DMARCCHECK_POLICY_QUARANTINE;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dmarc"), "fail");
    ck_assert_str_eq(key_value(line, "dmarc_policy"), "sp:reject/quarantine");
    ck_assert_str_eq(key_value(line, "dmarc_aligned"), "none");
    ck_assert_str_eq(key_value(line, "from_domain"), "-");
    free(line);
    snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "%s", "Signer.example");
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "from_domain"), "Signer.example");
    free(line);
    f->dmarc.result = DMARCCHECK_PASS;
    f->dmarc.spf_aligned = f->dmarc.dkim_aligned = true;
    f->dmarc.applied = DMARCCHECK_POLICY_NONE;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dmarc_aligned"), "spf+dkim");
    ck_assert_str_eq(key_value(line, "dmarc_policy"), "sp:reject/none");
    free(line);
    f->dmarc.result = DMARCCHECK_PERMERROR;
    f->dmarc.policy_tag = NULL;
    f->dmarc.dkim_aligned = false;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dmarc"), "permerror");
    ck_assert_str_eq(key_value(line, "dmarc_policy"), "-");
    ck_assert_str_eq(key_value(line, "dmarc_aligned"), "spf");
    free(line);
    facts_free(f);
}
END_TEST

/* dkim: "-" not evaluated, "none" unsigned, RESULT:DOMAIN per signature. */
START_TEST(test_dkim_key)
{
    facts_t *f = facts_new();
    dkimcheck_sig sigs[3];
    char *line;

    memset(sigs, 0, sizeof(sigs));
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dkim"), "-");
    free(line);
    f->dkim = DKIMCHECK_NONE;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dkim"), "none");
    free(line);
    sigs[0].result = DKIMCHECK_PASS;
    sigs[0].domain = (char *)"example.com";
    sigs[1].result = DKIMCHECK_FAIL;
    sigs[1].domain = (char *)"other.example";
    sigs[2].result = DKIMCHECK_PASS;
    sigs[2].partial = true;
    f->dkim = DKIMCHECK_PASS;
    f->dkim_sigs = sigs;
    f->ndkim_sigs = 3;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dkim"), "pass:example.com,fail:other.example,pass+l:?");
    ck_assert_ptr_nonnull(strstr(line, " dnsbl=- dkim=pass:example.com,"));
    ck_assert_ptr_nonnull(strstr(line, ",pass+l:? dkim_reason=- dmarc=- dmarc_policy=- dmarc_aligned=- from_domain=- rule=-"));
    free(line);
    /* a hostile d= is quoted as part of the value */
    sigs[0].domain = (char *)"x y=\"z";
    f->ndkim_sigs = 1;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_ptr_nonnull(strstr(line, " dkim=\"pass:x y=\\\"z\" dkim_reason=- dmarc=- dmarc_policy=- dmarc_aligned=- from_domain=- rule="));
    free(line);
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    facts_free(f);
}
END_TEST

/* dkim_reason: DOMAIN:REASON of each signature that did not pass. */
START_TEST(test_dkim_reason_key)
{
    facts_t *f = facts_new();
    dkimcheck_sig sigs[3];
    char *line;

    memset(sigs, 0, sizeof(sigs));
    sigs[0].result = DKIMCHECK_POLICY;
    sigs[0].domain = (char *)"example.com";
    sigs[0].reason = "rsa-sha1 not allowed by RFC 8301";
    sigs[1].result = DKIMCHECK_PASS;
    sigs[1].domain = (char *)"example.com";
    sigs[1].partial = true;
    sigs[1].reason = "l= covers part of the body";
    sigs[2].result = DKIMCHECK_FAIL;
    sigs[2].reason = "body hash mismatch";
    f->dkim = DKIMCHECK_PASS;
    f->dkim_sigs = sigs;
    f->ndkim_sigs = 3;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dkim"), "policy:example.com,pass+l:example.com,fail:?");
    ck_assert_ptr_nonnull(strstr(line, " dkim_reason=\"example.com:rsa-sha1 not allowed by RFC 8301,"
                                       "?:body hash mismatch\" dmarc="));
    free(line);
    /* all passed: "-" */
    f->ndkim_sigs = 2;
    sigs[0].result = DKIMCHECK_PASS;
    line = format(f, NULL, STAGE_EOM, NULL, 0, 1);
    ck_assert_str_eq(key_value(line, "dkim_reason"), "-");
    free(line);
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    facts_free(f);
}
END_TEST

START_TEST(test_spec_example)
{
    facts_t *f = full_facts();
    verdict_t v = {ACTION_REJECT, "spf-fail", "550", "5.7.23", "SPF validation failed", false};
    const char *dry[] = {"r1", "r2"};
    char *line = format(f, &v, STAGE_RCPT, dry, 2, 12);

    ck_assert_str_eq(line, "decision stage=rcpt queue_id=4XyZ1 client_addr=192.0.2.1 "
                           "client_name=mail.example.net helo=mail.example.net mail_from=<a@example.com> "
                           "rcpts=1 rcpts_rejected=0 spf=pass spf_domain=example.com spf_helo=none "
                           "dnsbl_score=- dnsbl=- dkim=- dkim_reason=- dmarc=- dmarc_policy=- dmarc_aligned=- from_domain=- rule=spf-fail dry_run=r1,r2 action=reject "
                           "reply=\"550 5.7.23 SPF validation failed\" elapsed_ms=12");
    free(line);
    facts_free(f);
}
END_TEST

/* Every key, in order, whatever is known. */
START_TEST(test_keys_in_order)
{
    facts_t *full = full_facts(), *empty = facts_new();
    verdict_t v = {ACTION_ACCEPT, NULL, NULL, NULL, NULL, false};
    char *lines[3];

    lines[0] = format(full, &v, STAGE_EOM, NULL, 0, 5);
    lines[1] = format(empty, NULL, STAGE_CONNECT, NULL, 0, -1);
    lines[2] = format(NULL, NULL, STAGE_EOM, NULL, 0, 0);
    for (size_t l = 0; l < 3; l++) {
        parsed ps;
        parse_line(lines[l], &ps);
        ck_assert_msg(ps.n == NKEYS, "%zu keys in [%s]", ps.n, lines[l]);
        for (size_t i = 0; i < NKEYS; i++)
            ck_assert_str_eq(ps.key[i], keys[i]);
        parsed_free(&ps);
        free(lines[l]);
    }
    facts_free(full);
    facts_free(empty);
}
END_TEST

START_TEST(test_unknowns)
{
    facts_t *f = facts_new();
    char *line = format(f, NULL, STAGE_CONNECT, NULL, 0, -1);

    ck_assert_str_eq(line, "decision stage=connect queue_id=- client_addr=- client_name=- helo=- mail_from=- "
                           "rcpts=0 rcpts_rejected=0 spf=- spf_domain=- spf_helo=- dnsbl_score=- dnsbl=- "
                           "dkim=- dkim_reason=- dmarc=- dmarc_policy=- dmarc_aligned=- from_domain=- rule=- dry_run=- "
                           "action=- reply=- elapsed_ms=-");
    free(line);
    line = format(NULL, NULL, STAGE_EOM, NULL, 0, 0);
    ck_assert_str_eq(line, "decision stage=eom queue_id=- client_addr=- client_name=- helo=- mail_from=- "
                           "rcpts=- rcpts_rejected=- spf=- spf_domain=- spf_helo=- dnsbl_score=- dnsbl=- "
                           "dkim=- dkim_reason=- dmarc=- dmarc_policy=- dmarc_aligned=- from_domain=- rule=- dry_run=- "
                           "action=- reply=- elapsed_ms=0");
    free(line);
    facts_free(f);
}
END_TEST

START_TEST(test_null_sender_and_counts)
{
    facts_t *f = full_facts();
    verdict_t v = {ACTION_ACCEPT, "default", NULL, NULL, NULL, false};
    char *line;
    parsed ps;

    facts_set(&f->mail_from, "");
    facts_add_rcpt(f, "c@example.org");
    f->nrcpts_rejected = 3;
    f->spf_mfrom = SPFCHECK_UNSET;
    f->spf_helo = SPFCHECK_TEMPERROR;
    line = format(f, &v, STAGE_EOM, NULL, 0, 1234);
    parse_line(line, &ps);
    ck_assert_str_eq(raw_of(&ps, "mail_from"), "<>");
    ck_assert_str_eq(raw_of(&ps, "rcpts"), "2");
    ck_assert_str_eq(raw_of(&ps, "rcpts_rejected"), "3");
    ck_assert_str_eq(raw_of(&ps, "spf"), "-");
    ck_assert_str_eq(raw_of(&ps, "spf_helo"), "temperror");
    ck_assert_str_eq(raw_of(&ps, "rule"), "default");
    ck_assert_str_eq(raw_of(&ps, "elapsed_ms"), "1234");
    parsed_free(&ps);
    free(line);
    facts_free(f);
}
END_TEST

/* spf and spf_helo carry every result name. */
START_TEST(test_spf_names)
{
    static const struct {
        spfcheck_result r;
        const char *name;
    } results[] = {
        {SPFCHECK_UNSET, "-"},         {SPFCHECK_NONE, "none"},         {SPFCHECK_NEUTRAL, "neutral"},
        {SPFCHECK_PASS, "pass"},       {SPFCHECK_FAIL, "fail"},         {SPFCHECK_SOFTFAIL, "softfail"},
        {SPFCHECK_TEMPERROR, "temperror"}, {SPFCHECK_PERMERROR, "permerror"},
    };
    facts_t *f = full_facts();

    for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
        char *line;
        parsed ps;

        f->spf_mfrom = results[i].r;
        f->spf_helo = results[i].r;
        line = format(f, NULL, STAGE_MAIL, NULL, 0, 0);
        parse_line(line, &ps);
        ck_assert_str_eq(raw_of(&ps, "spf"), results[i].name);
        ck_assert_str_eq(raw_of(&ps, "spf_helo"), results[i].name);
        parsed_free(&ps);
        free(line);
    }
    facts_free(f);
}
END_TEST

/* ---- reply and action per verdict ----------------------------------------- */

typedef struct reply_case {
    verdict_t v;
    const char *want_rule, *want_action, *want_reply;
} reply_case;

static const reply_case reply_cases[] = {
    {{ACTION_REJECT, "r", "550", "5.7.1", "Message rejected by policy", false}, "r", "reject",
     "\"550 5.7.1 Message rejected by policy\""},
    {{ACTION_TEMPFAIL, "t", "451", "4.7.1", "Message deferred by policy, try again later", false}, "t",
     "tempfail", "\"451 4.7.1 Message deferred by policy, try again later\""},
    {{ACTION_QUARANTINE, "q", NULL, NULL, "mxguard rule q", false}, "q", "quarantine", "\"mxguard rule q\""},
    {{ACTION_QUARANTINE, "q2", NULL, NULL, "held", false}, "q2", "quarantine", "held"},
    {{ACTION_ACCEPT, NULL, NULL, NULL, NULL, false}, "default", "accept", "-"},
    {{ACTION_ACCEPT, "ok", NULL, NULL, "ignored", false}, "ok", "accept", "-"},
    {{ACTION_DISCARD, "d", NULL, NULL, "ignored", false}, "d", "discard", "-"},
    {{ACTION_REJECT, "r", "550", NULL, "no xcode", false}, "r", "reject", "\"550 no xcode\""},
};

START_TEST(test_reply_per_action)
{
    const reply_case *c = &reply_cases[_i];
    facts_t *f = full_facts();
    char *line = format(f, &c->v, STAGE_EOM, NULL, 0, 0);
    parsed ps;

    parse_line(line, &ps);
    ck_assert_str_eq(raw_of(&ps, "rule"), c->want_rule);
    ck_assert_str_eq(raw_of(&ps, "action"), c->want_action);
    ck_assert_str_eq(raw_of(&ps, "reply"), c->want_reply);
    parsed_free(&ps);
    free(line);
    facts_free(f);
}
END_TEST

START_TEST(test_dry_run_list)
{
    const char *names[] = {"r1", "r.2", "r-3"};
    static const char *const want[] = {"-", "r1", "r1,r.2", "r1,r.2,r-3"};
    facts_t *f = full_facts();

    for (size_t n = 0; n <= 3; n++) {
        char *line = format(f, NULL, STAGE_EOM, names, n, 0);
        parsed ps;
        parse_line(line, &ps);
        ck_assert_str_eq(raw_of(&ps, "dry_run"), want[n]);
        parsed_free(&ps);
        free(line);
    }
    facts_free(f);
}
END_TEST

/* ---- quoting ------------------------------------------------------------ */

typedef struct quote_case {
    const char *in, *want;
} quote_case;

static const quote_case quote_cases[] = {
    {"abc", "abc"},
    {"<a@example.com>", "<a@example.com>"},
    {"a,b", "a,b"},
    {"-", "\"-\""},   /* a real "-" is quoted: bare "-" means unknown */
    {NULL, "-"},
    {"", "\"\""},
    {"a b", "\"a b\""},
    {" ", "\" \""},
    {"a\"b", "\"a\\\"b\""},
    {"a\\b", "\"a\\\\b\""},
    {"a=b", "\"a=b\""},
    {"a\r\nb", "\"a\\x0d\\x0ab\""},
    {"\t", "\"\\x09\""},
    {"\x01\x1f\x7f", "\"\\x01\\x1f\\x7f\""},
    {"h\xc3\xa9", "\"h\\xc3\\xa9\""},
    {"\xff", "\"\\xff\""},
    {"x\" y=1", "\"x\\\" y=1\""},
};

START_TEST(test_quote_table)
{
    const quote_case *c = &quote_cases[_i];
    char *got = strbuf_quote(c->in);

    ck_assert_msg(strcmp(got, c->want) == 0, "quote(%s): got [%s] want [%s]", c->in ? c->in : "NULL", got,
                  c->want);
    free(got);
}
END_TEST

/* Every byte value survives quoting and unquoting, and the quoted form
 * never holds a raw control byte, space outside quotes or bare quote. */
START_TEST(test_quote_roundtrip_all_bytes)
{
    char in[256], *q, *back;

    for (int i = 1; i < 256; i++)
        in[i - 1] = (char)i;
    in[255] = '\0';
    /* 255 bytes but escapes expand: check in pieces under the bound */
    for (size_t off = 0; off < 255; off += 50) {
        char piece[51];
        size_t n = 255 - off < 50 ? 255 - off : 50;

        memcpy(piece, in + off, n);
        piece[n] = '\0';
        q = strbuf_quote(piece);
        for (const char *p = q; *p; p++)
            ck_assert_msg((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f, "raw byte in [%s]", q);
        ck_assert_ptr_null(strstr(q, "..."));
        back = unquote(q);
        ck_assert_str_eq(back, piece);
        free(back);
        free(q);
    }
}
END_TEST

/* ---- length bound -------------------------------------------------------- */

static char *repeat(char c, size_t n)
{
    char *s = xmalloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(test_bound)
{
    char *s, *q, *want;

    /* exactly at the bound: untouched */
    s = repeat('a', STRBUF_QUOTE_MAX);
    q = strbuf_quote(s);
    ck_assert_str_eq(q, s);
    free(q);
    free(s);

    /* one over: cut, "..." added */
    s = repeat('a', STRBUF_QUOTE_MAX + 1);
    q = strbuf_quote(s);
    s[STRBUF_QUOTE_MAX] = '\0';
    want = xasprintf("%s...", s);
    ck_assert_str_eq(q, want);
    free(want);
    free(q);
    free(s);

    /* quoted: the content is bounded, the quotes stay */
    s = repeat(' ', 64 * 1024);
    q = strbuf_quote(s);
    s[STRBUF_QUOTE_MAX] = '\0';
    want = xasprintf("\"%s...\"", s);
    ck_assert_str_eq(q, want);
    free(want);
    free(q);
    free(s);

    /* escapes count as written and are never split */
    s = repeat('\x01', 64 * 1024);
    q = strbuf_quote(s);
    ck_assert_uint_eq(strlen(q), 1 + STRBUF_QUOTE_MAX / 4 * 4 + 3 + 1);
    ck_assert_int_eq(strncmp(q, "\"\\x01\\x01", 9), 0);
    ck_assert_str_eq(q + strlen(q) - 8, "\\x01...\"");
    free(q);
    free(s);

    s = repeat('a', STRBUF_QUOTE_MAX);
    s[STRBUF_QUOTE_MAX - 1] = '\n'; /* 255 a + an escape that does not fit */
    q = strbuf_quote(s);
    s[STRBUF_QUOTE_MAX - 1] = '\0';
    want = xasprintf("\"%s...\"", s);
    ck_assert_str_eq(q, want);
    free(want);
    free(q);
    free(s);
}
END_TEST

/* A 64 KB HELO and MAIL FROM cannot make a giant line. */
START_TEST(test_line_bound)
{
    facts_t *f = full_facts();
    char *big = repeat('h', 64 * 1024), *line;
    parsed ps;

    facts_set(&f->helo, big);
    facts_set(&f->mail_from, big);
    facts_set(&f->client_name, big);
    line = format(f, NULL, STAGE_EOM, NULL, 0, 0);
    ck_assert_uint_lt(strlen(line), 1200);
    parse_line(line, &ps);
    ck_assert_uint_eq(ps.n, NKEYS);
    ck_assert_uint_eq(strlen(raw_of(&ps, "helo")), STRBUF_QUOTE_MAX + 3);
    ck_assert_uint_eq(strlen(raw_of(&ps, "mail_from")), STRBUF_QUOTE_MAX + 3);
    ck_assert_int_eq(raw_of(&ps, "mail_from")[0], '<');
    parsed_free(&ps);
    free(line);
    free(big);
    facts_free(f);
}
END_TEST

/* ---- injection ---------------------------------------------------------- */

START_TEST(test_injection)
{
    facts_t *f = full_facts();
    verdict_t v = {ACTION_QUARANTINE, "q", NULL, NULL, "why\nnot action=accept", false};
    const char *evil_helo = "x\r\ndecision stage=eom action=accept";
    const char *evil_from = "a\" action=accept rule=\"x@example.com";
    char *line, *back;
    parsed ps;

    facts_set(&f->helo, evil_helo);
    facts_set(&f->mail_from, evil_from);
    facts_set(&f->queue_id, "Q action=accept");
    facts_set(&f->client_name, "\x1b[31mred\x1b[0m");
    line = format(f, &v, STAGE_EOM, NULL, 0, 0);
    ck_assert_ptr_null(strchr(line, '\n'));
    ck_assert_ptr_null(strchr(line, '\r'));
    ck_assert_ptr_null(strchr(line, '\x1b'));
    parse_line(line, &ps);
    ck_assert_uint_eq(ps.n, NKEYS);
    for (size_t i = 0; i < NKEYS; i++)
        ck_assert_str_eq(ps.key[i], keys[i]);
    ck_assert_str_eq(raw_of(&ps, "action"), "quarantine");
    back = unquote(raw_of(&ps, "helo"));
    ck_assert_str_eq(back, evil_helo);
    free(back);
    back = unquote(raw_of(&ps, "mail_from"));
    ck_assert_int_eq(back[0], '<');
    ck_assert_int_eq(strncmp(back + 1, evil_from, strlen(evil_from)), 0);
    ck_assert_str_eq(back + 1 + strlen(evil_from), ">");
    free(back);
    back = unquote(raw_of(&ps, "reply"));
    ck_assert_str_eq(back, "why\nnot action=accept");
    free(back);
    parsed_free(&ps);
    free(line);
    facts_free(f);
}
END_TEST

static Suite *declog_suite(void)
{
    Suite *s = suite_create("declog");
    TCase *tc = tcase_create("line");

    tcase_add_test(tc, test_dkim_reason_key);
    tcase_add_test(tc, test_spec_example);
    tcase_add_test(tc, test_dkim_key);
    tcase_add_test(tc, test_dmarc_keys);
    tcase_add_test(tc, test_keys_in_order);
    tcase_add_test(tc, test_unknowns);
    tcase_add_test(tc, test_null_sender_and_counts);
    tcase_add_test(tc, test_spf_names);
    tcase_add_loop_test(tc, test_reply_per_action, 0, (int)(sizeof(reply_cases) / sizeof(reply_cases[0])));
    tcase_add_test(tc, test_dry_run_list);
    suite_add_tcase(s, tc);

    tc = tcase_create("quote");
    tcase_add_loop_test(tc, test_quote_table, 0, (int)(sizeof(quote_cases) / sizeof(quote_cases[0])));
    tcase_add_test(tc, test_quote_roundtrip_all_bytes);
    tcase_add_test(tc, test_bound);
    tcase_add_test(tc, test_line_bound);
    tcase_add_test(tc, test_injection);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(declog_suite());
}

/*
 * facts.c - the evidence gathered about one SMTP transaction.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "facts.h"
#include "strbuf.h"
#include "xalloc.h"

const char *facts_stage_name(facts_stage s)
{
    static const char *const names[] = {"connect", "helo", "mail", "rcpt", "data", "eom"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

facts_t *facts_new(void)
{
    return xcalloc(1, sizeof(facts_t));
}

void facts_set(char **field, const char *val)
{
    char *copy = xstrdup_or_null(val);
    free(*field);
    *field = copy;
}

void facts_reset_message(facts_t *f)
{
    facts_set(&f->queue_id, NULL);
    facts_set(&f->auth_user, NULL);
    facts_set(&f->mail_from, NULL);
    facts_set(&f->sender_domain, NULL);
    facts_set(&f->spf_domain, NULL);
    facts_set(&f->spf_reason, NULL);
    for (size_t i = 0; i < f->nrcpts; i++)
        free(f->rcpts[i]);
    free(f->rcpts);
    f->rcpts = NULL;
    f->nrcpts = 0;
    f->nrcpts_rejected = 0;
    f->rcpt = NULL;
    f->authenticated = false;
    f->spf_mfrom = SPFCHECK_UNSET;
    dkimcheck_sigs_free(f->dkim_sigs, f->ndkim_sigs);
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    f->dkim = DKIMCHECK_UNSET;
    memset(&f->dmarc, 0, sizeof(f->dmarc));
    facts_dnsbl_clear(&f->dnsbl);
    if (f->stage > STAGE_HELO)
        f->stage = f->helo ? STAGE_HELO : STAGE_CONNECT;
}

void facts_free(facts_t *f)
{
    if (f == NULL)
        return;
    facts_reset_message(f);
    free(f->client_addr);
    free(f->client_name);
    free(f->helo);
    free(f);
}

void facts_add_rcpt(facts_t *f, const char *rcpt)
{
    f->rcpts = xreallocarray(f->rcpts, f->nrcpts + 1, sizeof(char *));
    f->rcpts[f->nrcpts++] = xstrdup(rcpt);
}

const char *facts_addr_domain(const char *addr)
{
    const char *at;

    if (addr == NULL)
        return "";
    at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

int facts_dnsbl_score(const facts_dnsbl *d)
{
    int score = 0;

    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].known && d->v[i].listed)
            score += d->v[i].weight;
    return score;
}

const facts_dnsbl_list *facts_dnsbl_find(const facts_dnsbl *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i].name, name) == 0)
            return &d->v[i];
    return NULL;
}

bool facts_dnsbl_known(const facts_dnsbl *d, const char *name)
{
    const facts_dnsbl_list *li;

    if (name != NULL)
        return (li = facts_dnsbl_find(d, name)) == NULL || li->known;
    for (size_t i = 0; i < d->n; i++)
        if (!d->v[i].known)
            return false;
    return true;
}

char *facts_dnsbl_matches(const facts_dnsbl *d)
{
    strbuf b = {0};

    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].known && d->v[i].listed)
            strbuf_addf(&b, "%s%s:%s", b.len ? "," : "", d->v[i].name, d->v[i].answer);
    return b.s; /* NULL when nothing was added */
}

void facts_dnsbl_clear(facts_dnsbl *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    memset(d, 0, sizeof(*d));
}

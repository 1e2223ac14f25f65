/*
 * fuzz_authres.c - Authentication-Results handling: authres_is_ours() on a
 * hostile header value, and authres_format() with hostile MAIL FROM, HELO
 * and DKIM d=/s=/i= values, whose output must never carry an unquoted ';'
 * or '(' from them (the CVE-2020-12272 class): the formatted header must
 * be recognised as ours and stay one header (no bare CR/LF).
 *
 * Input: the header value; its first NUL-separated parts also serve as
 * MAIL FROM, HELO, d=, s=.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "authres.h"
#include "facts.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_str(data, size);
    const char *part[4] = { "", "", "", "" };
    size_t np = 0, off = 0;
    facts_t *f;
    dkimcheck_sig sig;
    char *h;

    (void)authres_is_ours("mx.example.com", s);
    (void)authres_is_ours("\"mx.example.com\"", s);
    (void)authres_is_ours(s, "mx.example.com; spf=pass");

    while (np < 4 && off <= size) {
        part[np++] = (const char *)s + off;
        off += strlen(s + off) + 1;
    }
    f = facts_new();
    facts_set(&f->mail_from, part[0]);
    facts_set(&f->helo, part[1]);
    f->spf_mfrom = (spfcheck_result)(size % 8);
    f->spf_helo = (spfcheck_result)((size / 8) % 8);
    memset(&sig, 0, sizeof(sig));
    sig.result = DKIMCHECK_FAIL;
    sig.domain = (char *)part[2];
    sig.selector = (char *)part[3];
    sig.identity = (char *)part[0];
    sig.b = (char *)part[1];
    f->dkim = DKIMCHECK_FAIL;
    f->dkim_sigs = &sig;
    f->ndkim_sigs = 1;
    h = authres_format("mx.example.com", f);
    if (!authres_is_ours("mx.example.com", h))
        abort();
    for (const char *p = h; *p; p++)
        if ((*p == '\n' && p[1] != '\t') || *p == '\r')
            abort(); /* a line break that is not our folding */
    free(h);
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    facts_free(f);
    free(s);
    return 0;
}

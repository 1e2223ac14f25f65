/*
 * bench_dnsbl.c - what N DNS lists cost per connection through mxguard's
 * dnsbl module, against a DNS server on 127.0.0.1 that answers each query
 * after a fixed delay (tests/bench/delayed_dns.py; run by dnsbl.sh).
 *
 * For each connection (a distinct client address, so nothing is cached) it
 * times dnsbl_lookup_client() (all lists started at once) up to
 * dnsbl_lookup_result() (all answered, as the session fills the facts):
 * the real path.  For comparison it
 * also times the same N queries one after another (dns_lookup each), which
 * is what a serial implementation would cost.  Prints numbers; asserts
 * nothing about time.
 *
 * Usage: bench_dnsbl PORT [LISTS] [CONNECTIONS]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "dns.h"
#include "dnsbl.h"
#include "xalloc.h"

#define MAX_LISTS 64
#define MAX_CONNS 1000

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    printf("%-34s min %7.1f ms  median %7.1f ms  max %7.1f ms  (%d connections)\n", what, v[0], v[n / 2],
           v[n - 1], n);
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int nlists = argc > 2 ? atoi(argv[2]) : 10;
    int nconns = argc > 3 ? atoi(argv[3]) : 20;
    char up[64], err[256] = "", *text;
    size_t len = 0;
    dns_options o = {up, 2000, NULL, NULL, 0};
    double par[MAX_CONNS], ser[MAX_CONNS];
    dns_t *dns;
    conf_t *conf;

    if (port <= 0 || nlists < 1 || nlists > MAX_LISTS || nconns < 1 || nconns > MAX_CONNS / 2) {
        fprintf(stderr, "usage: bench_dnsbl PORT [LISTS 1..%d] [CONNECTIONS 1..%d]\n", MAX_LISTS, MAX_CONNS / 2);
        return 2;
    }
    snprintf(up, sizeof(up), "127.0.0.1@%d", port);
    dns = dns_new(&o, err, sizeof(err));
    if (dns == NULL) {
        fprintf(stderr, "dns_new: %s\n", err);
        return 1;
    }
    text = xstrdup("dnsbl_options = { timeout_ms = 2000; };\ndnsbl = (\n");
    for (int i = 0; i < nlists; i++) {
        char *line = xasprintf("%s { name = \"l%d\"; zone = \"l%d.bench\"; type = \"ip\"; weight = 1; }\n",
                               i ? "," : "", i, i);
        len = strlen(text);
        text = xrealloc(text, len + strlen(line) + 1);
        memcpy(text + len, line, strlen(line) + 1);
        free(line);
    }
    len = strlen(text);
    text = xrealloc(text, len + 4);
    memcpy(text + len, ");\n", 4);
    conf = conf_load_string(text, "bench.conf", NULL, NULL);
    free(text);
    if (conf == NULL)
        return 1;

    for (int c = 0; c < nconns; c++) {
        char addr[32];
        dnsbl_lookup_t *l;
        facts_dnsbl d = {0};
        double t0;
        int score;

        /* through the dnsbl module: all lists of the stage at once */
        snprintf(addr, sizeof(addr), "198.51.100.%d", c + 1);
        l = dnsbl_lookup_new(conf->dnsbl, dns);
        t0 = now_ms();
        dnsbl_lookup_client(l, addr, false);
        dnsbl_lookup_result(l, STAGE_CONNECT, &d);
        score = facts_dnsbl_score(&d);
        par[c] = now_ms() - t0;
        facts_dnsbl_clear(&d);
        dnsbl_lookup_free(l);
        if (score != nlists) {
            fprintf(stderr, "connection %d: score %d, want %d (server not answering?)\n", c, score, nlists);
            return 1;
        }
        /* the same queries one after another (a different address) */
        snprintf(addr, sizeof(addr), "203.0.113.%d", c + 1);
        t0 = now_ms();
        for (int i = 0; i < nlists; i++) {
            char zone[32], qname[300];
            dns_answer *a = NULL;
            snprintf(zone, sizeof(zone), "l%d.bench", i);
            if (dnsbl_ip_qname(addr, zone, qname, sizeof(qname)))
                (void)dns_lookup(dns, qname, DNS_TYPE_A, &a);
            dns_answer_free(a);
        }
        ser[c] = now_ms() - t0;
    }
    printf("%d lists per connection, server delay as given to delayed_dns.py\n", nlists);
    report("dnsbl module (parallel):", par, nconns);
    report("same queries one after another:", ser, nconns);
    conf_free(conf);
    dns_free(dns);
    return 0;
}

/*
 * dnsdata.c - the data half of the DNS interface (dns.h): status names,
 * answers, rdata helpers and the syntax of an upstream.  No resolver here:
 * dns.c is the resolver over libunbound, and a test can link its own
 * resolver (tests/fuzz/fakedns.c) with this file.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "xalloc.h"

const char *dns_status_name(dns_status st)
{
    switch (st) {
    case DNS_ANSWER: return "answer";
    case DNS_NXDOMAIN: return "nxdomain";
    case DNS_NODATA: return "nodata";
    case DNS_SERVFAIL: return "servfail";
    case DNS_TIMEOUT: return "timeout";
    case DNS_ERROR: return "error";
    }
    return "unknown";
}

/* Check a presentation-format domain name: not empty, no empty label, labels
 * of 1..63 octets, at most 255 octets in wire form.  Handles \X and \DDD. */
bool dns_name_ok(const char *name)
{
    size_t wire = 1, label = 0;
    const char *p = name;

    if (name == NULL || *name == '\0')
        return false;
    if (strcmp(name, ".") == 0)
        return true;
    while (*p != '\0') {
        if (*p == '.') {
            if (label == 0)
                return false; /* empty label (or leading dot) */
            wire += label + 1;
            label = 0;
            p++;
            continue;
        }
        if (*p == '\\') {
            p++;
            if (p[0] >= '0' && p[0] <= '9') {
                if (!(p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9'))
                    return false;
                if ((p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0') > 255)
                    return false;
                p += 3;
            } else if (*p == '\0') {
                return false;
            } else {
                p++;
            }
        } else {
            p++;
        }
        if (++label > 63)
            return false;
    }
    if (label > 0)
        wire += label + 1;
    return wire <= 255;
}

/* Split "ADDR[@PORT]": is ADDR an IPv4/IPv6 address, PORT 1..65535? */
static bool dns_parse_upstream(const char *up, char *err, size_t errlen)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *at = strrchr(up, '@');
    size_t alen = at ? (size_t)(at - up) : strlen(up);
    unsigned char buf[sizeof(struct in6_addr)];

    if (alen == 0 || alen >= sizeof(addr)) {
        snprintf(err, errlen, "bad upstream \"%s\": expected \"system\", ADDR or ADDR@PORT", up);
        return false;
    }
    memcpy(addr, up, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, buf) != 1 && inet_pton(AF_INET6, addr, buf) != 1) {
        snprintf(err, errlen, "bad upstream \"%s\": \"%s\" is not an IP address", up, addr);
        return false;
    }
    if (at) {
        const char *p = at + 1;
        unsigned long port = 0;
        if (*p == '\0') {
            snprintf(err, errlen, "bad upstream \"%s\": empty port", up);
            return false;
        }
        for (; *p; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                port = 0;
                break;
            }
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port == 0 || port > 65535) {
            snprintf(err, errlen, "bad upstream \"%s\": port must be 1..65535", up);
            return false;
        }
    }
    return true;
}

bool dns_upstream_is_system(const char *up)
{
    return up == NULL || strcmp(up, "system") == 0;
}

bool dns_upstream_valid(const char *upstream, char *err, size_t errlen)
{
    if (dns_upstream_is_system(upstream))
        return true;
    return dns_parse_upstream(upstream, err, errlen);
}

void dns_answer_free(dns_answer *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->count; i++)
        free(a->rdata[i]);
    free(a->rdata);
    free(a->rdlen);
    free(a);
}

/* ---- rdata helpers ------------------------------------------------------ */

bool dns_rdata_txt(const unsigned char *rd, size_t len, char **out, size_t *outlen)
{
    size_t pos = 0, n = 0;
    char *s;

    *out = NULL;
    if (outlen)
        *outlen = 0;
    if (rd == NULL || len == 0)
        return false; /* a TXT rdata holds at least one string */
    while (pos < len) {
        size_t l = rd[pos];
        if (l > len - pos - 1)
            return false;
        pos += 1 + l;
    }
    s = xmalloc(len + 1);
    pos = 0;
    while (pos < len) {
        size_t l = rd[pos];
        memcpy(s + n, rd + pos + 1, l);
        n += l;
        pos += 1 + l;
    }
    s[n] = '\0';
    *out = s;
    if (outlen)
        *outlen = n;
    return true;
}

bool dns_rdata_name(const unsigned char *rd, size_t len, size_t off, char *out, size_t outsz)
{
    size_t o = 0, wire = 0;

    if (rd == NULL || out == NULL || outsz == 0 || off >= len)
        return false;
    out[0] = '\0';
    for (;;) {
        size_t l;
        if (off >= len)
            return false;
        l = rd[off++];
        wire += 1 + l;
        if (wire > 255)
            return false;
        if (l == 0)
            break;
        if (l > 63) /* compression pointer or extended label: not here */
            return false;
        if (l > len - off)
            return false;
        if (o > 0) {
            if (o + 1 >= outsz)
                return false;
            out[o++] = '.';
        }
        for (size_t i = 0; i < l; i++) {
            unsigned char c = rd[off + i];
            if (c > ' ' && c < 0x7f && c != '.' && c != '\\') {
                if (o + 1 >= outsz)
                    return false;
                out[o++] = (char)c;
            } else {
                if (o + 4 >= outsz)
                    return false;
                snprintf(out + o, outsz - o, "\\%03u", (unsigned)c);
                o += 4;
            }
        }
        off += l;
    }
    out[o] = '\0';
    return true;
}

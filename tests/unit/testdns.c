/*
 * testdns.c - Debian's unbound as the tests' DNS server (see testdns.h).
 *
 * The configuration follows tests/lib/rig.sh: one thread, no DNSSEC, no
 * recursion (module-config iterator with only local zones answering),
 * remote control on a unix socket in the private directory, which is also
 * how we know it is up.  RRsets are sent in the order they were given
 * (rrset-roundrobin: no), as a zone file would: the RFC 7208 suite's
 * ptr-limit result depends on which ten PTR names come first.  Every wait
 * is bounded.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdns.h"
#include "testutil.h"
#include "xalloc.h"

/* $UNBOUND_SERVER (make check), else where Debian's package puts it (a
 * test binary run by hand or under valgrind).  Missing: the test fails. */
static const char *unbound_path(void)
{
    const char *p = getenv("UNBOUND_SERVER");
    if (p == NULL || *p == '\0')
        p = "/usr/sbin/unbound";
    ck_assert_msg(access(p, X_OK) == 0,
                  "%s (Debian's unbound) not found or not executable: run "
                  "scripts/install-deps.sh --test", p);
    return p;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Run a command line through sh (stdin from input, or /dev/null); its
 * stdout and stderr into *out (caller frees).  Returns its exit status. */
static int run_sh(const char *cmd, const char *input, char **out)
{
    char inpath[] = "/tmp/mxguard-tdns-in-XXXXXX";
    char *full;
    FILE *f;
    int st;
    size_t n = 0, cap = 1024;
    char *buf = xmalloc(cap);

    if (input != NULL) {
        int fd = mkstemp(inpath);
        size_t len = strlen(input);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq((long)write(fd, input, len), (long)len);
        close(fd);
    }
    full = xasprintf("%s <%s 2>&1", cmd, input ? inpath : "/dev/null");
    f = popen(full, "r");
    ck_assert_msg(f != NULL, "popen %s: %s", full, strerror(errno));
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (n + 1 == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    st = pclose(f);
    free(full);
    if (input != NULL)
        unlink(inpath);
    *out = buf;
    return (st != -1 && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
}

char *tdns_control(const tdns *t, const char *args, const char *input)
{
    const char *ub = unbound_path();
    const char *slash = strrchr(ub, '/');
    char *cmd, *out;
    int rc;

    cmd = xasprintf("'%.*sunbound-control' -c '%s/unbound.conf' %s",
                    slash ? (int)(slash - ub + 1) : 0, ub, t->dir, args);
    rc = run_sh(cmd, input, &out);
    ck_assert_msg(rc == 0, "%s: exit %d: %s", cmd, rc, out);
    free(cmd);
    return out;
}

static bool control_ok(const tdns *t)
{
    const char *ub = unbound_path();
    const char *slash = strrchr(ub, '/');
    char *cmd = xasprintf("'%.*sunbound-control' -c '%s/unbound.conf' status",
                          slash ? (int)(slash - ub + 1) : 0, ub, t->dir);
    char *out;
    int rc = run_sh(cmd, NULL, &out);
    free(cmd);
    free(out);
    return rc == 0;
}

static void write_conf(const tdns *t, const char *clauses)
{
    char *path = xasprintf("%s/unbound.conf", t->dir);
    FILE *f = fopen(path, "w");

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fprintf(f,
            "server:\n"
            "    verbosity: 1\n"
            "    interface: 127.0.0.1\n"
            "    port: %d\n"
            "    do-ip4: yes\n"
            "    do-ip6: no\n"
            "    do-udp: yes\n"
            "    do-tcp: yes\n"
            "    do-daemonize: no\n"
            "    username: \"\"\n"
            "    chroot: \"\"\n"
            "    directory: \"%s\"\n"
            "    pidfile: \"%s/unbound.pid\"\n"
            "    logfile: \"%s/unbound.log\"\n"
            "    use-syslog: no\n"
            "    access-control: 127.0.0.0/8 allow\n"
            "    num-threads: 1\n"
            "    outgoing-range: 32\n"
            "    so-reuseport: no\n"
            "    rrset-roundrobin: no\n"
            "    module-config: \"iterator\"\n"
            "%s"
            "remote-control:\n"
            "    control-enable: yes\n"
            "    control-interface: \"%s/control.sock\"\n"
            "    control-use-cert: no\n",
            t->port, t->dir, t->dir, t->dir, clauses, t->dir);
    ck_assert_int_eq(fclose(f), 0);
    free(path);
}

void tdns_start(tdns *t, const char *clauses)
{
    const char *ub = unbound_path();
    char tmpl[] = "/tmp/mxguard-tdns-XXXXXX";

    memset(t, 0, sizeof(*t));
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(t->dir, sizeof(t->dir), "%s", tmpl);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    for (int attempt = 0; attempt < 5; attempt++) {
        char *outpath;
        int fd;

        t->port = 20000 + rand() % 40000;
        write_conf(t, clauses);
        outpath = xasprintf("%s/unbound.out", t->dir);
        t->pid = fork();
        ck_assert_int_ge(t->pid, 0);
        if (t->pid == 0) {
            char *conf = xasprintf("%s/unbound.conf", t->dir);
            fd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execl(ub, ub, "-d", "-c", conf, (char *)NULL);
            _exit(127);
        }
        free(outpath);
        /* up when remote control answers; at most 10 s */
        for (int i = 0; i < 200; i++) {
            int st;
            if (waitpid(t->pid, &st, WNOHANG) == t->pid) {
                t->pid = 0; /* exited: port taken or bad config */
                break;
            }
            if (control_ok(t)) {
                snprintf(t->upstream, sizeof(t->upstream), "127.0.0.1@%d", t->port);
                return;
            }
            sleep_ms(50);
        }
        if (t->pid > 0) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, NULL, 0);
            t->pid = 0;
        }
    }
    {
        char *cmd = xasprintf("cat '%s/unbound.out' '%s/unbound.log'", t->dir, t->dir), *out;
        run_sh(cmd, NULL, &out);
        ck_abort_msg("the test DNS server (unbound) did not start: %s", out);
    }
}

/* Skip a (possibly compressed) name in msg at *pos; false if malformed. */
static bool skip_name(const unsigned char *msg, size_t len, size_t *pos)
{
    while (*pos < len) {
        unsigned l = msg[*pos];
        if (l == 0) {
            (*pos)++;
            return true;
        }
        if ((l & 0xc0) == 0xc0) {
            *pos += 2;
            return *pos <= len;
        }
        *pos += 1 + l;
    }
    return false;
}

void tdns_query(const tdns *t, const char *name, int rrtype, int *rcode, int *count, int *empty)
{
    unsigned char q[512], r[4096];
    size_t ql = 12, pos;
    struct sockaddr_in sin;
    struct timeval tv = { 2, 0 };
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ssize_t n;
    unsigned an;

    ck_assert_int_ge(fd, 0);
    memset(q, 0, sizeof(q));
    q[0] = 0x4d; q[1] = 0x47;  /* id */
    q[2] = 0x01;               /* RD */
    q[5] = 1;                  /* one question */
    for (const char *p = name; *p;) {
        size_t l = strcspn(p, ".");
        ck_assert(l > 0 && l < 64 && ql + l + 6 < sizeof(q));
        q[ql++] = (unsigned char)l;
        memcpy(q + ql, p, l);
        ql += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[ql++] = 0;
    q[ql++] = (unsigned char)(rrtype >> 8);
    q[ql++] = (unsigned char)rrtype;
    q[ql++] = 0;
    q[ql++] = 1; /* IN */
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)t->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    ck_assert_int_eq((long)sendto(fd, q, ql, 0, (struct sockaddr *)&sin, sizeof(sin)), (long)ql);
    n = recv(fd, r, sizeof(r), 0);
    close(fd);
    ck_assert_msg(n >= 12, "no reply from the test DNS server for %s/%d", name, rrtype);
    ck_assert(r[0] == 0x4d && r[1] == 0x47 && (r[2] & 0x80));
    *rcode = r[3] & 0x0f;
    *count = *empty = 0;
    an = (unsigned)r[6] << 8 | r[7];
    pos = 12;
    ck_assert(skip_name(r, (size_t)n, &pos));
    pos += 4; /* question type and class */
    for (unsigned i = 0; i < an; i++) {
        unsigned type, rdlen;
        ck_assert(skip_name(r, (size_t)n, &pos) && pos + 10 <= (size_t)n);
        type = (unsigned)r[pos] << 8 | r[pos + 1];
        rdlen = (unsigned)r[pos + 8] << 8 | r[pos + 9];
        pos += 10 + rdlen;
        ck_assert(pos <= (size_t)n);
        if (type == (unsigned)rrtype) {
            (*count)++;
            if (rdlen == 0)
                (*empty)++;
        }
    }
}

void tdns_stop(tdns *t)
{
    char *cmd, *out;

    if (t->pid > 0) {
        int st;
        bool gone = false;
        kill(t->pid, SIGTERM);
        for (int i = 0; i < 100 && !gone; i++) {
            gone = waitpid(t->pid, &st, WNOHANG) == t->pid;
            if (!gone)
                sleep_ms(50);
        }
        if (!gone) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, NULL, 0);
        }
        t->pid = 0;
    }
    if (t->dir[0] != '\0') {
        cmd = xasprintf("rm -rf '%s'", t->dir);
        run_sh(cmd, NULL, &out);
        free(out);
        free(cmd);
        t->dir[0] = '\0';
    }
}

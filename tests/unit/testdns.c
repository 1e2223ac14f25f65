/*
 * testdns.c - Debian's unbound as the tests' DNS server (see testdns.h).
 *
 * The configuration follows tests/lib/rig.sh: one thread, no DNSSEC, no
 * recursion (module-config iterator with only local zones answering),
 * remote control on a unix socket in the private directory, which is also
 * how we know it is up.  Every wait is bounded.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testdns.h"
#include "testutil.h"
#include "xalloc.h"

static const char *unbound_path(void)
{
    const char *p = getenv("UNBOUND_SERVER");
    ck_assert_msg(p != NULL && *p != '\0' && access(p, X_OK) == 0,
                  "UNBOUND_SERVER (Debian's unbound) not set or not executable: run "
                  "scripts/install-deps.sh --test and the tests through make check");
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

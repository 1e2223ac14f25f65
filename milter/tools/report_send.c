/*
 * report_send.c - how "mxguard report" (report.c) hands over one report:
 * a mail piped to the MTA's sendmail (posix_spawn, no shell, a deadline,
 * killed past it), or a file written under --output-dir (a temporary name,
 * then renamed).  Internal to the tool: report_send.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "report_send.h"
#include "xalloc.h"

static bool rs_write_all(int fd, const char *p, size_t len, time_t deadline)
{
    while (len > 0) {
        struct pollfd pf = {fd, POLLOUT, 0};
        long left = (long)(deadline - time(NULL));
        ssize_t n;
        if (left <= 0 || poll(&pf, 1, (int)(left * 1000)) <= 0)
            return false;
        n = write(fd, p, len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Wait for pid until deadline; killed past it.  Its wait status, or -1.
 * Sleeps in poll() on a pidfd (readable when the child exits), so a quick
 * sendmail costs no polling delay. */
static int rs_wait(pid_t pid, time_t deadline)
{
    int pfd = pidfd_open(pid, 0), st;

    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        long left = (long)(deadline - time(NULL));
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            st = -1;
            break;
        }
        if (left <= 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            st = -1;
            break;
        }
        if (pfd >= 0)
            poll(&(struct pollfd){pfd, POLLIN, 0}, 1, (int)(left < 10 ? left * 1000 : 10000));
        else
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    if (pfd >= 0)
        close(pfd);
    return st;
}

bool report_send_mail(const char *prog, const char *from, const char *to, const char *mail, size_t len,
                      unsigned timeout, char *why, size_t whysz)
{
    time_t deadline = time(NULL) + (time_t)timeout;
    int fds[2], st;
    bool wrote;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(why, whysz, "pipe: %s", strerror(errno));
        return false;
    }
    /* posix_spawn (no copy of this process's page tables as fork makes):
     * the pipe as stdin, every other descriptor past stderr closed */
    posix_spawn_file_actions_t fa;
    char *const argv[] = {(char *)prog, (char *)"-i", (char *)"-f", (char *)from, (char *)"--", (char *)to, NULL};
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
    rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (rc != 0) {
        snprintf(why, whysz, "%s: %s", prog, strerror(rc));
        close(fds[1]);
        return false;
    }
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    wrote = rs_write_all(fds[1], mail, len, deadline);
    close(fds[1]);
    st = rs_wait(pid, deadline);
    if (st == -1)
        snprintf(why, whysz, "%s: no exit within %u s", prog, timeout);
    else if (WIFSIGNALED(st))
        snprintf(why, whysz, "%s: killed by signal %d", prog, WTERMSIG(st));
    else if (WEXITSTATUS(st) != 0)
        snprintf(why, whysz, "%s: exit status %d%s", prog, WEXITSTATUS(st),
                 WEXITSTATUS(st) == 127 ? " (could not run it?)" : "");
    else if (!wrote)
        snprintf(why, whysz, "%s: did not read the whole mail", prog);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && wrote;
}

bool report_send_file(const char *dir, const char *dest, const char *filename, const unsigned char *data,
                      size_t len, char *why, size_t whysz)
{
    char *sub = xasprintf("%s/%s", dir, dest);
    char *tmp = xasprintf("%s/.%s.%ld.tmp", sub, filename, (long)getpid());
    char *path = xasprintf("%s/%s", sub, filename);
    bool ok = false;
    int fd = -1;

    if ((mkdir(dir, 0755) != 0 && errno != EEXIST) || (mkdir(sub, 0755) != 0 && errno != EEXIST)) {
        snprintf(why, whysz, "mkdir %s: %s", sub, strerror(errno));
    } else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
        snprintf(why, whysz, "%s: %s", tmp, strerror(errno));
    } else if (fchmod(fd, 0644) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
        snprintf(why, whysz, "%s: %s", tmp, strerror(errno));
    } else if (close(fd) != 0 || (fd = -1, rename(tmp, path) != 0)) {
        fd = -1;
        snprintf(why, whysz, "%s: %s", path, strerror(errno));
    } else {
        ok = true;
    }
    if (fd >= 0)
        close(fd);
    if (!ok)
        unlink(tmp);
    free(sub);
    free(tmp);
    free(path);
    return ok;
}

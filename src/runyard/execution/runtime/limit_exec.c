/* Runyard's launcher for an app's process:
 *     limit-exec [-c CGROUP_TASKS_FILE]... [-r RESOURCE=VALUE]... [-u UID:GID] [-E FD] -- PROGRAM [ARG...]
 * joins each cgroup (writes "0", itself, into its tasks file: it has one thread), sets each rlimit
 * (soft and hard; RESOURCE is one of as, nofile, cpu, fsize, nproc), then executes PROGRAM with its
 * arguments (no PATH search). Everything PROGRAM starts inherits both. With -u (run as root inside
 * the sandbox) it becomes UID:GID for good first, as util-linux `setpriv --reuid --regid
 * --clear-groups --inh-caps=-all --bounding-set=-all` would, plus no_new_privs: no supplementary
 * groups, every capability gone from every set (bounding, inheritable, ambient, permitted, effective),
 * and it checks all of it before PROGRAM runs. With -E, PROGRAM's environment
 * is read from the file descriptor FD (NUL-separated NAME=VALUE entries; FD is closed) instead of
 * this one's: inside the sandbox it hands the app its variables, which so never pass through the
 * privileged programs before it (where LD_PRELOAD and the like would act as root) nor a command line.
 * It does what a Python preexec hook would, without keeping the server from starting the process with
 * vfork; statically linked, it starts in a fraction of a millisecond.
 * With -S FD (a sandbox started ahead of its run) it first waits on the unix socket FD for the run: one
 * message whose data is the working folder and the program's arguments (NUL-separated) and which
 * carries three descriptors (SCM_RIGHTS): stdin, stdout, and the environment as with -E. It makes them
 * its stdin and stdout and the environment, and executes those arguments (no PROGRAM after "--") in
 * that folder, entered after the switch of user. End of file instead of a message (the server let the
 * sandbox go unused) exits 0 without executing anything.
 * Exit codes of its own: 125 (bad use, or a cgroup, a limit or the switch of user could not be set), 127 (PROGRAM did not execute). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

extern char **environ;

/* The environment stored in fd, NUL-separated; NULL (and a message) when it cannot be read. */
static char **read_environment(int fd) {
    size_t size = 0, cap = 65536;
    char *data = malloc(cap + 1);
    for (;;) {
        if (data == NULL) return NULL;
        if (size == cap) {
            cap *= 2;
            data = realloc(data, cap + 1);
            continue;
        }
        ssize_t got = read(fd, data + size, cap - size);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            fprintf(stderr, "limit-exec: cannot read the environment: %s\n", strerror(errno));
            return NULL;
        }
        if (got == 0) break;
        size += (size_t)got;
    }
    close(fd);
    data[size] = '\0';
    size_t count = 0;
    for (size_t i = 0; i < size; i++) if (data[i] == '\0') count++;
    char **env = calloc(count + 2, sizeof(char *));
    if (env == NULL) return NULL;
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == '\0') {
            if (i > start) env[n++] = data + start;
            start = i + 1;
        }
    }
    env[n] = NULL;
    return env;
}

static int resource_of(const char *name, size_t len) {
    static const struct { const char *name; int resource; } known[] = {
        {"as", RLIMIT_AS}, {"nofile", RLIMIT_NOFILE}, {"cpu", RLIMIT_CPU},
        {"fsize", RLIMIT_FSIZE}, {"nproc", RLIMIT_NPROC},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == len && strncmp(known[i].name, name, len) == 0) return known[i].resource;
    return -1;
}

static int join(const char *tasks) {
    int fd = open(tasks, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
        fprintf(stderr, "limit-exec: cannot join the cgroup %s: %s\n", tasks, strerror(errno));
        return -1;
    }
    close(fd);
    return 0;
}

static int limit(const char *spec) {
    const char *eq = strchr(spec, '=');
    int resource = eq ? resource_of(spec, (size_t)(eq - spec)) : -1;
    char *end = NULL;
    errno = 0;
    unsigned long long value = eq ? strtoull(eq + 1, &end, 10) : 0;
    if (resource < 0 || errno != 0 || end == eq + 1 || *end != '\0') {
        fprintf(stderr, "limit-exec: not a limit: %s\n", spec);
        return -1;
    }
    struct rlimit rl = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(resource, &rl) != 0) {
        fprintf(stderr, "limit-exec: cannot set %s: %s\n", spec, strerror(errno));
        return -1;
    }
    return 0;
}

static int fail(const char *what) {
    fprintf(stderr, "limit-exec: cannot switch to the sandbox user: %s: %s\n", what, strerror(errno));
    return -1;
}

static int capabilities(struct __user_cap_data_struct data[2]) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capget, &header, data);
}

/* Whether every capability set of this process is empty and no_new_privs is on. */
static int unprivileged(void) {
    struct __user_cap_data_struct data[2];
    if (capabilities(data) != 0) return 0;
    for (int k = 0; k < 2; k++)
        if (data[k].effective || data[k].permitted || data[k].inheritable) return 0;
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) != 0) return 0;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0) return 0;
    }
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

/* Become uid:gid for good, with no capability left in any set. */
static int switch_user(const char *spec) {
    char *end = NULL;
    errno = 0;
    unsigned long uid = strtoul(spec, &end, 10);
    if (errno != 0 || end == spec || *end != ':' || uid == 0) {
        fprintf(stderr, "limit-exec: not a UID:GID (uid not 0): %s\n", spec);
        return -1;
    }
    const char *rest = end + 1;
    unsigned long gid = strtoul(rest, &end, 10);
    if (errno != 0 || end == rest || *end != '\0' || gid == 0) {
        fprintf(stderr, "limit-exec: not a UID:GID (gid not 0): %s\n", spec);
        return -1;
    }
    if (setgroups(0, NULL) != 0) return fail("setgroups");
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0) return fail("setresgid");
    /* The bounding set needs CAP_SETPCAP, which is gone once the uid is not 0: emptied first. */
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) return fail("dropping the capability bounding set");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return fail("clearing the ambient capabilities");
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (capabilities(data) != 0) return fail("capget");
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &header, data) != 0) return fail("clearing the inheritable capabilities");
    /* From uid 0 to another (without SECBIT_KEEP_CAPS), the kernel clears the permitted, effective
     * and ambient sets. */
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0) return fail("setresuid");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("no_new_privs");
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid || eu != uid || su != uid
        || rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0 || !unprivileged()) {
        errno = EPERM;
        return fail("privileges remain after the switch");
    }
    return 0;
}

/* -S: the run's message on the socket; its arguments and folder, or NULL (and a message). */
static char **receive_run(int sock, char **cwd) {
    size_t cap = 1 << 16;
    char *data = malloc(cap + 1);
    union { char buf[CMSG_SPACE(3 * sizeof(int))]; struct cmsghdr align; } control;
    if (data == NULL) return NULL;
    struct iovec iov = {data, cap};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t got;
    do got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); while (got < 0 && errno == EINTR);
    if (got == 0) exit(0); /* let go unused */
    if (got < 0) {
        fprintf(stderr, "limit-exec: cannot receive the run: %s\n", strerror(errno));
        return NULL;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || c == NULL || c->cmsg_level != SOL_SOCKET
        || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(3 * sizeof(int))) {
        fputs("limit-exec: the run's message is not one this launcher reads\n", stderr);
        return NULL;
    }
    int fds[3];
    memcpy(fds, CMSG_DATA(c), sizeof fds);
    close(sock);
    /* dup2 clears close-on-exec on the copies: the program gets them as 0 and 1. */
    if (dup2(fds[0], 0) < 0 || dup2(fds[1], 1) < 0) {
        fprintf(stderr, "limit-exec: cannot take the run's stdin and stdout: %s\n", strerror(errno));
        return NULL;
    }
    if (fds[0] > 2) close(fds[0]);
    if (fds[1] > 2) close(fds[1]);
    char **env = read_environment(fds[2]);
    if (env == NULL) return NULL;
    environ = env;
    data[got] = '\0';
    size_t count = 0;
    for (ssize_t k = 0; k < got; k++) if (data[k] == '\0') count++;
    char **args = calloc(count + 1, sizeof(char *));
    if (args == NULL || count < 2 || data[got - 1] != '\0') {
        fputs("limit-exec: the run's message names no folder and program\n", stderr);
        return NULL;
    }
    size_t n = 0;
    for (char *p = data; p < data + got; p += strlen(p) + 1) args[n++] = p;
    args[n] = NULL;
    *cwd = args[0];
    return args + 1;
}

int main(int argc, char **argv) {
    int i = 1;
    char **run_args = NULL, *run_cwd = NULL;
    for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc) break;
        if (strcmp(argv[i], "-c") == 0) {
            if (join(argv[i + 1]) != 0) return 125;
        } else if (strcmp(argv[i], "-r") == 0) {
            if (limit(argv[i + 1]) != 0) return 125;
        } else if (strcmp(argv[i], "-u") == 0) {
            if (switch_user(argv[i + 1]) != 0) return 125;
        } else if (strcmp(argv[i], "-E") == 0) {
            char **env = read_environment(atoi(argv[i + 1]));
            if (env == NULL) return 125;
            environ = env;
        } else if (strcmp(argv[i], "-S") == 0) {
            run_args = receive_run(atoi(argv[i + 1]), &run_cwd);
            if (run_args == NULL) return 125;
        } else {
            break;
        }
    }
    if (run_args != NULL && i == argc - 1 && strcmp(argv[i], "--") == 0) {
        if (chdir(run_cwd) != 0) {
            fprintf(stderr, "limit-exec: cannot enter %s: %s\n", run_cwd, strerror(errno));
            return 125;
        }
        execv(run_args[0], run_args);
        fprintf(stderr, "limit-exec: cannot execute %s: %s\n", run_args[0], strerror(errno));
        return 127;
    }
    if (run_args != NULL || i >= argc - 1 || strcmp(argv[i], "--") != 0) {
        fputs("usage: limit-exec [-c CGROUP_TASKS]... [-r RESOURCE=VALUE]... [-S SOCKET_FD] [-u UID:GID] [-E FD] -- "
              "PROGRAM [ARG...] (none with -S)\n", stderr);
        return 125;
    }
    execv(argv[i + 1], argv + i + 1);
    fprintf(stderr, "limit-exec: cannot execute %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
}

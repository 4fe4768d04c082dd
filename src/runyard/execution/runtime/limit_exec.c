/* Runyard's memory cap for an app's process: limit-exec BYTES PROGRAM [ARG...] sets the address-space
 * limit (RLIMIT_AS, soft and hard) to BYTES, then executes PROGRAM with its arguments; no PATH search.
 * It does what util-linux `prlimit --as=BYTES:BYTES -- PROGRAM ARG...` does, without loading prlimit's
 * shared libraries first: statically linked, it starts in a fraction of the time.
 * Exit codes of its own: 125 (bad use, or the limit could not be set), 127 (PROGRAM did not execute). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fputs("usage: limit-exec BYTES PROGRAM [ARG...]\n", stderr);
        return 125;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long bytes = strtoull(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0') {
        fprintf(stderr, "limit-exec: not a number of bytes: %s\n", argv[1]);
        return 125;
    }
    struct rlimit limit = {(rlim_t)bytes, (rlim_t)bytes};
    if (setrlimit(RLIMIT_AS, &limit) != 0) {
        fprintf(stderr, "limit-exec: cannot set the memory limit: %s\n", strerror(errno));
        return 125;
    }
    execv(argv[2], argv + 2);
    fprintf(stderr, "limit-exec: cannot execute %s: %s\n", argv[2], strerror(errno));
    return 127;
}

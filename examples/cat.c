/*
 * cat.c — cat(1) with spool: `cat [FILE]...` copies each FILE (or standard
 * input when there is none, or for "-") to standard output, every read and
 * write one io_uring operation (spool_read, spool_write at offset -1: the
 * file position, so pipes and terminals work too).
 *
 *     $ ./cat /etc/hostname missing.txt
 *     myhost
 *     cat: missing.txt: No such file or directory
 *     $ echo $?
 *     1
 *
 * An error names the file and goes on with the next one; the exit status
 * is 1 if any file failed, as cat's. A write error stops everything: there
 * is nowhere left to copy to. Writing to a pipe whose reader has gone
 * raises SIGPIPE, as write(2) does (only the socket sends add
 * MSG_NOSIGNAL), so `./cat big | head` ends quietly like cat.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <spool/spool.h>

#define CHUNK (128 * 1024)

/* One task copies at a time: the buffer need not be on its 64 KiB stack. */
static char buf[CHUNK];

struct args {
    int argc;
    char **argv;
};

/* Writes all n bytes of buf to stdout. Returns: 0, or a negative errno. */
static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        int rc = spool_write(1, p, n, -1);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return -EIO; /* no progress: give up rather than spin */
        p += rc;
        n -= (size_t)rc;
    }
    return 0;
}

/* Copies fd to stdout. Returns: 0; a negative errno of a read; or 1 after
 * a write error (reported here: it names stdout, not the file). */
static int copy(int fd)
{
    for (;;) {
        int n = spool_read(fd, buf, sizeof buf, -1);
        if (n <= 0)
            return n;
        int rc = write_all(buf, (size_t)n);
        if (rc < 0) {
            fprintf(stderr, "cat: write error: %s\n", spool_strerror(rc));
            return 1;
        }
    }
}

static int cat_main(void *arg)
{
    struct args *a = arg;
    static char *stdin_only[] = {"-"};
    char **names = a->argc > 1 ? a->argv + 1 : stdin_only;
    int count = a->argc > 1 ? a->argc - 1 : 1;
    int status = 0;

    for (int i = 0; i < count; i++) {
        const char *name = names[i];
        int is_stdin = strcmp(name, "-") == 0;
        int fd = is_stdin ? 0 : spool_open(name, O_RDONLY, 0);
        if (fd < 0) {
            fprintf(stderr, "cat: %s: %s\n", name, spool_strerror(fd));
            status = 1;
            continue;
        }
        int rc = copy(fd);
        if (rc < 0) {
            fprintf(stderr, "cat: %s: %s\n", is_stdin ? "standard input" : name,
                    spool_strerror(rc));
            status = 1;
        }
        if (!is_stdin) {
            int crc = spool_close(fd);
            if (crc < 0) {
                fprintf(stderr, "cat: %s: close: %s\n", name, spool_strerror(crc));
                status = 1;
            }
        }
        if (rc == 1)
            return 1; /* stdout is broken: stop */
    }
    return status;
}

int main(int argc, char **argv)
{
    struct args a = {argc, argv};
    /* One worker: a single task copies the files one after another. */
    spool_config cfg = {.workers = 1};
    int rc = spool_run(cat_main, &a, &cfg);

    if (rc < 0) {
        fprintf(stderr, "cat: %s\n", spool_strerror(rc));
        return 1;
    }
    return rc;
}

/*
 * consumer_version.c — built by the consumer tests (install_consumer.sh,
 * subproject_consumer.sh) against spool as its users take it in: the
 * version the library reports is the one of the header it was compiled
 * with, and the one given as argv[1] (the project's), if any.
 */
#include <stdio.h>
#include <string.h>

#include <spool/spool.h>

int main(int argc, char **argv)
{
    char want[32];
    const char *got = spool_version();

    snprintf(want, sizeof want, "%d.%d.%d", SPOOL_VERSION_MAJOR, SPOOL_VERSION_MINOR,
             SPOOL_VERSION_PATCH);
    if (strcmp(got, want) != 0 || strcmp(got, SPOOL_VERSION_STRING) != 0 ||
        spool_version_number() != SPOOL_VERSION_NUMBER ||
        SPOOL_VERSION_NUMBER != SPOOL_VERSION_MAJOR * 10000 + SPOOL_VERSION_MINOR * 100 +
                                    SPOOL_VERSION_PATCH ||
        (argc > 1 && strcmp(got, argv[1]) != 0)) {
        fprintf(stderr, "version: library %s (%d), header %s (%d), project %s\n", got,
                spool_version_number(), SPOOL_VERSION_STRING, SPOOL_VERSION_NUMBER,
                argc > 1 ? argv[1] : "?");
        return 1;
    }
    printf("spool %s\n", got);
    return 0;
}

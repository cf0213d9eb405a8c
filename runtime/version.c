/*
 * version.c — spool_version, spool_version_number: the version this
 * library was built as (the header's SPOOL_VERSION_* when it was compiled).
 */
#include <spool/spool.h>

const char *spool_version(void)
{
    return SPOOL_VERSION_STRING;
}

int spool_version_number(void)
{
    return SPOOL_VERSION_NUMBER;
}

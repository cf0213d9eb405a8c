/*
 * errors.c — spool_strerror.
 */
#include <spool/spool.h>
#include <string.h>

const char *spool_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err == 0)
        return "Success";
    /* strerrordesc_np (glibc 2.32+) is thread-safe and never formats into a
     * buffer; unknown values get a fixed text. */
    const char *s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}

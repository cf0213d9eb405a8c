/*
 * errors.c — spool_strerror.
 */
#include <limits.h>
#include <spool/spool.h>
#include <string.h>

const char *spool_strerror(int err)
{
    if (err == 0)
        return "Success";
    if (err < 0) {
        if (err == INT_MIN) /* -INT_MIN does not exist */
            return "Unknown error";
        err = -err;
    }
    /* strerrordesc_np (glibc 2.32+) is thread-safe and never formats into a
     * buffer; unknown values get a fixed text. */
    const char *s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}

/* util.h — small internal helpers shared by the library files. */
#ifndef GM_UTIL_H
#define GM_UTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Copies at most n-1 bytes and always terminates. */
static inline void gm_strlcpy(char *dst, const char *src, size_t n) {
    if (!n) return;
    size_t k = strlen(src);
    if (k >= n) k = n - 1;
    memcpy(dst, src, k);
    dst[k] = 0;
}

/* Writes a formatted one-line reason into err (GM_ERR_SIZE bytes, may be NULL)
 * and returns -1, so error paths read `return gm_fail(err, "...", ...);`. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int gm_fail(char *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, 256, fmt, ap);
        va_end(ap);
        for (char *p = err; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    }
    return -1;
}
#endif

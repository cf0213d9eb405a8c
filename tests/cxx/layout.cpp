/*
 * layout.cpp — test_cxx_layout: <spool/spool.h> has one layout in C and
 * in C++. Builds layout.h's table of rows as C++ sees the header and
 * compares it, row by row, with the table layout_c.c built as C: the
 * size, alignment and offset of every public struct and of each field,
 * the bytes of each static initialiser's object, each numeric macro.
 * Prints every row that differs, both sides. Exit 0: all equal; 1: not.
 */
#include "layout.h"

#include <cstdio>
#include <cstring>

SPOOL_LAYOUT_OBJECTS

static const spool_layout_row layout_cxx[] = {SPOOL_LAYOUT_ROWS};
static const size_t layout_cxx_rows = sizeof layout_cxx / sizeof layout_cxx[0];

int main()
{
    int bad = 0;
    if (spool_layout_c_rows != layout_cxx_rows) {
        std::printf("rows: C has %zu, C++ has %zu\n", spool_layout_c_rows, layout_cxx_rows);
        return 1;
    }
    for (size_t i = 0; i < layout_cxx_rows; i++) {
        const spool_layout_row &c = spool_layout_c[i], &x = layout_cxx[i];
        const bool same = std::strcmp(c.what, x.what) == 0 && c.size == x.size &&
                          c.align == x.align && c.offset == x.offset &&
                          (c.bytes == nullptr) == (x.bytes == nullptr) &&
                          (c.bytes == nullptr || std::memcmp(c.bytes, x.bytes, x.size) == 0);
        if (!same) {
            std::printf("differs: %s: C size %llu align %llu offset %llu | "
                        "%s: C++ size %llu align %llu offset %llu%s\n",
                        c.what, (unsigned long long)c.size, (unsigned long long)c.align,
                        (unsigned long long)c.offset, x.what, (unsigned long long)x.size,
                        (unsigned long long)x.align, (unsigned long long)x.offset,
                        c.bytes && x.bytes ? " (or the initialised bytes)" : "");
            bad = 1;
        }
    }
    std::printf("test_cxx_layout (C++%ld): %zu rows (structs, fields, initialisers, values) %s\n",
                (long)__cplusplus / 100 % 100, layout_cxx_rows,
                bad ? "DIFFER between C and C++" : "agree between C and C++");
    return bad;
}

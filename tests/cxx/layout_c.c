/*
 * layout_c.c — the C side of test_cxx_layout: the table of layout.h's
 * rows as C sees <spool/spool.h> (sizes, alignments and offsets of every
 * public struct and field, the bytes of every static initialiser, the
 * value of every numeric macro). layout.cpp compares it with C++'s.
 */
#include "layout.h"

void *spool_layout_slots[8];

SPOOL_LAYOUT_OBJECTS

const struct spool_layout_row spool_layout_c[] = {SPOOL_LAYOUT_ROWS};
const size_t spool_layout_c_rows = sizeof spool_layout_c / sizeof spool_layout_c[0];

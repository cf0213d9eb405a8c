#!/usr/bin/env bash
# Checks that tests/cxx/layout.h lists every field of every struct that
# <spool/spool.h> defines, and every SPOOL_ macro it defines (but the
# include guard, SPOOL_API and the private SPOOL__ ones), so that test_cxx_layout
# compares all of them in C and C++. Prints what is missing.
# Usage: tests/cxx/layout_list.sh SPOOL_H LAYOUT_H
set -euo pipefail
header=$1 list=$2

# "struct.field" for each field of each struct the header defines: the
# lines between "typedef struct NAME {" (or "struct NAME {") and "}",
# comments left out; a declaration with several names gives each.
fields=$(awk '
    function strip(s) {
        if (incomment) {
            if (index(s, "*/") == 0) return ""
            s = substr(s, index(s, "*/") + 2); incomment = 0
        }
        gsub(/\/\*([^*]|\*[^\/])*\*\//, "", s)
        if (index(s, "/*")) { s = substr(s, 1, index(s, "/*") - 1); incomment = 1 }
        return s
    }
    {
        line = strip($0)
        if (match(line, /^(typedef )?struct [A-Za-z_0-9]+ \{/)) {
            name = line; sub(/^(typedef )?struct /, "", name); sub(/ \{.*/, "", name)
            if (line ~ /^struct /) name = "struct " name
            next
        }
        if (name == "") next
        if (line ~ /^\}/) { name = ""; next }
        if (index(line, ";") == 0) next
        decl = substr(line, 1, index(line, ";") - 1)
        if (match(decl, /\(\*[A-Za-z_0-9]+\)/)) {
            print name "." substr(decl, RSTART + 2, RLENGTH - 3); next
        }
        n = split(decl, part, ",")
        for (i = 1; i <= n; i++) {
            p = part[i]; sub(/\[.*/, "", p); sub(/[ \t]+$/, "", p)
            match(p, /[A-Za-z_0-9]+$/); print name "." substr(p, RSTART, RLENGTH)
        }
    }' "$header")
macros=$(sed -n 's/^#define \(SPOOL_[A-Za-z_0-9]*\).*/\1/p' "$header" |
    grep -v -x -e SPOOL_SPOOL_H -e SPOOL_API | grep -v '^SPOOL__' | sort -u)

missing=0
while IFS= read -r f; do
    s=${f%.*} m=${f##*.}
    if ! grep -q "FIELD($s, $m)" "$list"; then
        echo "layout_list: $f (a field of spool.h) is not in layout.h" >&2
        missing=1
    fi
done <<<"$fields"
while IFS= read -r m; do
    if ! grep -q "[(,] *$m\b" "$list"; then
        echo "layout_list: $m (a macro of spool.h) is not in layout.h" >&2
        missing=1
    fi
done <<<"$macros"
[ "$missing" = 0 ] || exit 1
echo "layout_list: layout.h names all $(wc -l <<<"$fields") fields and $(wc -l <<<"$macros") macros of spool.h"

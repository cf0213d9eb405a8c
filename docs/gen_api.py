#!/usr/bin/env python3
"""Writes docs/api.md, the API reference, from the comments of the public
header include/spool/spool.h, so that the two cannot drift: the header's
comments are the contract, and the reference is generated from them.

    python3 docs/gen_api.py            rewrite docs/api.md
    python3 docs/gen_api.py --check    exit 1 (and show the difference) if
                                       docs/api.md is not what the header
                                       generates; tests/run runs this

What it reads, in the header:
  - the file's opening comment: the reference's introduction;
  - a banner (a comment whose first line is "/* ====="): a section, titled
    by the banner's first line of text, introduced by the rest;
  - a comment followed, with no blank line between, by declarations
    (functions, typedefs, structs, enums, #defines): one entry per group,
    the declarations shown as code and the comment as their contract;
  - declarations with no comment: an entry with the code only;
  - a comment on its own (a blank line after it): text of the section.
Names that begin with spool__ or SPOOL__ are private and left out, as are
the include guard, SPOOL_API and the preprocessor's #if/#include lines.
"""
import difflib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADER = os.path.join(ROOT, "include", "spool", "spool.h")
OUTPUT = os.path.join(HERE, "api.md")

PRIVATE = re.compile(r"^(spool__|SPOOL__)")
SKIPPED_NAMES = {"SPOOL_API", "SPOOL_SPOOL_H"}
PREPROCESSOR_SKIPPED = re.compile(r"^\s*(#\s*(include|if|ifdef|ifndef|else|elif|endif|error|undef|pragma)\b"
                                  r"|extern \"C\" \{|\} /\* extern \"C\" \*/)")
BANNER = re.compile(r"^/\*\s*={10,}")
# Lines of a contract that start a paragraph of their own, in bold.
KEYWORDS = ("Returns:", "Errors:", "Errors (", "Context:", "Thread:", "Example:")
# Set in code type: what the header quotes in backticks, names and error
# codes.
CODE_TOKEN = re.compile(r"`[^`]+`|\b(?:spool|SPOOL)_\w+(?:\(\))?|-E[A-Z0-9]+\b")


def comment_text(lines):
    """The text of a /* ... */ comment given as its source lines."""
    out = []
    for i, line in enumerate(lines):
        s = line.strip()
        if i == 0:
            s = re.sub(r"^/\*+", "", s)
        if s.endswith("*/"):
            s = s[:-2]
        if i > 0:
            s = re.sub(r"^\s*\*(?!/)", "", line.rstrip())
            if s.endswith("*/"):
                s = s[:-2]
        out.append(s.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    # Dedent by the smallest indentation of the non-empty lines.
    ind = min((len(x) - len(x.lstrip()) for x in out if x.strip()), default=0)
    return [x[ind:] for x in out]


def escape(text):
    """Markdown for plain text: names and error codes in code type, the
    characters Markdown would read as markup escaped elsewhere."""
    out, pos = [], 0
    for m in CODE_TOKEN.finditer(text):
        out.append(escape_plain(text[pos:m.start()]))
        tok = m.group(0)
        out.append(tok if tok.startswith("`") else "`" + tok + "`")
        pos = m.end()
    out.append(escape_plain(text[pos:]))
    return "".join(out)


def escape_plain(s):
    s = s.replace("\\", "\\\\")
    for ch in "*_`[]<>|#":
        s = s.replace(ch, "\\" + ch)
    return s


def markdown_of(text_lines):
    """A comment's lines as Markdown paragraphs: a blank line, a contract
    keyword (Returns:, Errors:, Context:) or a "- " item starts a new one;
    other lines continue the one before."""
    paras = []  # (kind, text): kind "p" or "li"
    # A keyword after a sentence's end starts its own paragraph too
    # ("Returns: 0. Errors: -EINVAL ...").
    split = []
    for line in text_lines:
        split.extend(re.split(r"(?<=[.;)]) (?=(?:Returns|Errors|Context|Thread):)", line))
    for line in split:
        s = line.strip()
        if not s:
            paras.append(("break", ""))
            continue
        starts_keyword = s.startswith(KEYWORDS)
        starts_item = s.startswith("- ")
        if starts_item:
            paras.append(("li", s[2:]))
        elif starts_keyword or not paras or paras[-1][0] == "break":
            paras.append(("p", s))
        else:
            kind, prev = paras[-1]
            paras[-1] = (kind, prev + " " + s)
    out = []
    prev_kind = None
    for kind, text in paras:
        if kind == "break":
            prev_kind = "break"
            continue
        body = escape(text)
        if kind == "p":
            for k in KEYWORDS:
                if text.startswith(k):
                    word = k.rstrip(" (")
                    body = "**" + escape_plain(word) + "**" + escape(text[len(word):])
                    break
        if out and not (kind == "li" and prev_kind == "li"):
            out.append("")
        out.append(("- " if kind == "li" else "") + body)
        prev_kind = kind
    return "\n".join(out)


def statements(code_lines):
    """Splits declaration lines into statements: each #define (with its
    continuation lines), and everything else up to a ';' outside braces."""
    stmts, cur, depth = [], [], 0
    in_define = False
    for line in code_lines:
        s = line.strip()
        if not cur and s.startswith("#define"):
            in_define = True
        cur.append(line)
        if in_define:
            if not s.endswith("\\"):
                stmts.append(cur)
                cur, in_define = [], False
            continue
        code = re.sub(r"/\*.*?\*/", "", line)
        depth += code.count("{") + code.count("(") - code.count("}") - code.count(")")
        if depth == 0 and code.rstrip().endswith(";"):
            stmts.append(cur)
            cur = []
    if cur:
        stmts.append(cur)
    return stmts


# What a statement declares, tried in order: (pattern, how to name it);
# None for a forward declaration, which declares nothing to show.
DECLARES = [
    (r"#\s*define\s+(\w+)", lambda m: m.group(1)),
    (r"typedef\s+(?:struct|enum|union)\s+\w*\s*\{.*\}\s*(\w+)\s*;", lambda m: m.group(1)),
    (r"typedef\s+[^;]*\(\s*\*\s*(\w+)\s*\)\s*\(", lambda m: m.group(1)),
    (r"typedef\s+[^;]*?(\w+)\s*;$", lambda m: m.group(1)),
    (r"(struct|enum|union)\s+(\w+)\s*\{", lambda m: f"{m.group(1)} {m.group(2)}"),
    (r"(struct|enum|union)\s+\w+\s*;$", lambda m: None),
]


def name_of(stmt):
    """The public name a statement declares, or None."""
    text = " ".join(x.strip() for x in stmt)
    text = re.sub(r"/\*.*?\*/", "", text)
    for pattern, name in DECLARES:
        m = re.match(pattern, text)
        if m:
            return name(m)
    m = re.search(r"(\w+)\s*\(", text)  # a function
    return m.group(1) if m else None


def parse(path):
    """The header as (intro lines, [section]); a section is a dict with
    title, intro (text lines), and entries (names, code, doc lines, or
    text-only entries with no names)."""
    with open(path) as f:
        lines = f.read().split("\n")
    i = 0
    intro = []
    # The opening comment.
    if lines and lines[0].startswith("/*"):
        j = 0
        while "*/" not in lines[j]:
            j += 1
        intro = comment_text(lines[: j + 1])
        i = j + 1
    sections = [{"title": "", "intro": [], "entries": []}]
    pending_comment = None  # lines of a comment waiting for its code
    code = []

    def flush():
        nonlocal pending_comment, code
        if code:
            stmts = [s for s in statements(code)]
            names = [n for n in (name_of(s) for s in stmts) if n]
            public = [n for n in names if not PRIVATE.match(n) and n not in SKIPPED_NAMES]
            if public:
                kept = [s for s in stmts if name_of(s) in public]
                shown = []
                for s in kept:
                    shown.extend(x.rstrip() for x in s)
                shown = [re.sub(r"^SPOOL_API ", "", x) for x in shown]
                sections[-1]["entries"].append({"names": public, "code": shown,
                                                "doc": comment_text(pending_comment) if pending_comment else []})
        elif pending_comment:
            sections[-1]["entries"].append({"names": [], "code": [], "doc": comment_text(pending_comment)})
        pending_comment, code = None, []

    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if PREPROCESSOR_SKIPPED.match(s):
            i += 1
            continue
        if not s:
            flush()
            i += 1
            continue
        if line.startswith("/*"):
            j = i
            while "*/" not in lines[j]:
                j += 1
            block = lines[i: j + 1]
            if BANNER.match(line):
                flush()
                text = [x for x in comment_text(block) if not re.match(r"^=+$", x.strip())]
                while text and not text[0].strip():
                    text.pop(0)
                title = text[0].strip() if text else ""
                body = text[1:]
                while body and not body[0].strip():
                    body.pop(0)
                sections.append({"title": title, "intro": body, "entries": []})
            else:
                if code:
                    flush()
                elif pending_comment:
                    flush()
                pending_comment = block
            i = j + 1
            continue
        code.append(line)
        i += 1
    flush()
    if not sections[0]["title"] and sections[0]["entries"]:
        sections[0]["title"] = "Basics"  # what comes before the first banner
    return intro, [s for s in sections if s["title"] or s["entries"]]


def anchor(title):
    a = re.sub(r"[^\w\- ]", "", title.lower()).strip().replace(" ", "-")
    return a


def first_sentence(doc):
    """The summary of an entry for its section's index: the comment's first
    sentence (a '.' outside parentheses, then a space), or what its first
    Returns: says where the comment starts with that."""
    text = " ".join(x.strip() for x in doc if x.strip())
    if text.startswith("Returns:"):
        text = "Returns " + text[len("Returns:"):].strip()
    depth, end = 0, len(text)
    for i, ch in enumerate(text):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        elif ch == "." and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            end = i + 1
            break
    s = text[:end]
    if len(s) > 200:
        s = s[:197].rsplit(" ", 1)[0] + " ..."
    return s


def render(intro, sections):
    out = ["# API reference", "",
           "<!-- Generated from include/spool/spool.h by docs/gen_api.py: edit the header's",
           "     comments, then run `python3 docs/gen_api.py`. tests/run fails while the two differ. -->",
           ""]
    out.append("Everything is declared in the one header `<spool/spool.h>`, and this page is")
    out.append("generated from its comments, in its order: the header is the contract.")
    out.append("For asyncio users, [asyncio.md](asyncio.md) maps asyncio's names onto these.")
    out.append("")
    if intro and intro[0].startswith("spool.h"):
        intro = intro[1:]  # the file's own name line
    if intro:
        out.append(markdown_of(intro))
        out.append("")
    out.append("## Contents")
    out.append("")
    for s in sections:
        if s["title"]:
            out.append(f"- [{s['title']}](#{anchor(s['title'])})")
    out.append("")
    for s in sections:
        if s["title"]:
            out.append(f"## {s['title']}")
            out.append("")
        if s["intro"]:
            out.append(markdown_of(s["intro"]))
            out.append("")
        named = [e for e in s["entries"] if e["names"]]
        if named:
            out.append("| name | what it is |")
            out.append("|---|---|")
            for e in named:
                names = ", ".join(f"`{n}`" for n in e["names"])
                summary = escape(first_sentence(e["doc"])) if e["doc"] else ""
                out.append(f"| {names} | {summary} |")
            out.append("")
        for e in s["entries"]:
            if not e["names"]:
                out.append(markdown_of(e["doc"]))
                out.append("")
                continue
            out.append("### " + ", ".join(f"`{n}`" for n in e["names"]))
            out.append("")
            out.append("```c")
            out.extend(e["code"])
            out.append("```")
            out.append("")
            if e["doc"]:
                out.append(markdown_of(e["doc"]))
                out.append("")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    intro, sections = parse(HEADER)
    text = render(intro, sections)
    if check:
        try:
            with open(OUTPUT) as f:
                old = f.read()
        except OSError:
            old = ""
        if old != text:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       "docs/api.md (committed)",
                                                       "docs/api.md (from include/spool/spool.h)"))
            print("docs/api.md is not what include/spool/spool.h generates: "
                  "run python3 docs/gen_api.py and commit the result", file=sys.stderr)
            return 1
        return 0
    with open(OUTPUT, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

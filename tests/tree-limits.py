#!/usr/bin/env python3
"""No file in src/, plugin/ or tools/ over 500 lines, no function over 70.

A file's length is its number of lines.  A function is found the way the
code is written (GNU style): its body opens with a "{" alone at column 0
and closes with the next "}" at column 0; a "};" there closes a type or an
initialiser instead, which is not a function.  Its name is the identifier
before the first "(" of the lines above the "{".  Its length counts the
lines from the "{" to the "}", both included.

An exception is listed in ALLOWED below with the reason it is one; an
entry that no longer matches an overlong file or function is reported too,
so that the list stays true.

Prints each file or function over its limit and exits 1 when there is one;
prints the counts and exits 0 otherwise.

    tests/tree-limits.py [ROOT [FOLDER...]]
        (default: the repository, and src plugin tools)
"""
import os
import re
import sys

FOLDERS = ["src", "plugin", "tools"]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 70

# (path, function or None for the whole file): the reason it may be longer.
ALLOWED = {
}

NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def sources(root):
    """Every .c and .h file below FOLDERS, as paths relative to ROOT."""
    found = []
    for folder in FOLDERS:
        top = os.path.join(root, folder)
        if not os.path.isdir(top):
            sys.exit(f"tree-limits: no folder {top}")
        for dirpath, _, names in os.walk(top):
            for name in names:
                if name.endswith((".c", ".h")):
                    found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def function_name(lines, brace):
    """The name of the function whose body opens at line BRACE: the
    identifier before the first "(" in the declarator above it."""
    start = brace - 1
    while start > 0 and lines[start - 1].strip() and not lines[start - 1].rstrip().endswith((";", "}", "*/")) \
            and not lines[start - 1].startswith("#"):
        start -= 1
    match = NAME.search(" ".join(lines[start:brace]))
    return match.group(1) if match else None


def functions(lines):
    """(name, first line number, length) of each function in LINES."""
    found = []
    opened = None
    for number, line in enumerate(lines):
        if line.rstrip() == "{" and opened is None:
            opened = number
        elif line.startswith("}") and opened is not None:
            if not line.rstrip().startswith("};"):
                name = function_name(lines, opened)
                if name is not None:
                    found.append((name, opened + 1, number - opened + 1))
            opened = None
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    if len(sys.argv) > 2:
        FOLDERS[:] = sys.argv[2:]
    over, used, nfunctions = [], set(), 0
    paths = sources(root)
    for path in paths:
        with open(os.path.join(root, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if len(lines) > MAX_FILE_LINES:
            if (path, None) in ALLOWED:
                used.add((path, None))
            else:
                over.append(f"{path}: {len(lines)} lines (the limit is {MAX_FILE_LINES})")
        for name, first, length in functions(lines):
            nfunctions += 1
            if length > MAX_FUNCTION_LINES:
                if (path, name) in ALLOWED:
                    used.add((path, name))
                else:
                    over.append(f"{path}:{first}: {name} is {length} lines "
                                f"(the limit is {MAX_FUNCTION_LINES})")
    for key in sorted(set(ALLOWED) - used, key=str):
        over.append(f"allow-list entry {key} matches nothing over the limit: remove it")
    for line in over:
        print(line)
    if over:
        return 1
    print(f"{len(paths)} files within {MAX_FILE_LINES} lines, {nfunctions} functions within "
          f"{MAX_FUNCTION_LINES} ({len(ALLOWED)} allowed exceptions) in {', '.join(FOLDERS)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

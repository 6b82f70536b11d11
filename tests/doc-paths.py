#!/usr/bin/env python3
"""The documents that describe the tree name what is in it.

In docs/design.md, README.md's "Layout" section and tests/README.md (but
its "Found so far" section, a history of what was fixed, which names what
is gone on purpose):

  - every path below src/, plugin/, tools/, tests/, docs/ or .ci/ exists
    ("pages.[ch]", "cmd-*.c" and "{format,read,write}/" are patterns: one
    file or folder must match);
  - every file named alone ("pages.c", "cowpool.[ch]") is a file of src/,
    plugin/, tools/ or tests/, in some folder;
  - every backquoted C-like name with an underscore (`snapstore_save`,
    `snap_lazy_fault ()`, `struct cow_record`, `PAGE_IN_FILE`, `slots[i]`) is a word of
    some source, script or build file of the tree;
  - docs/design.md's map ("Where things are") names files that exist, and
    every .c and .h file of src/, plugin/ and tools/ has its line there;
  - README.md's layout names every folder of src/, and each file it names
    under a folder is in that folder;
  - tests/README.md has a row for every test ctest runs (BUILD's
    `ctest -N`, given as the second argument), by its name with or without
    the part before the "/".

Prints each stale name, with the document and line, and exits 1 when there
is one; prints the counts and exits 0 otherwise.

    tests/doc-paths.py ROOT [BUILD]
"""
import glob
import os
import re
import subprocess
import sys

PATH = re.compile(r"(?<![\w./@-])((?:src|plugin|tools|tests|docs|\.ci)/[\w.\-\[\]{},*/]*)")
FILE_NAME = re.compile(r"(?<![\w./*-])([\w-]+\.(?:c|h|\[ch\]))(?!\w)")
TICKED = re.compile(r"`([^`\n]+)`")
C_NAME = re.compile(r"^(?:struct |enum )?([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?(?:\s*\(.*\))?$")
WORD_FILES = ("src", "plugin", "tools", "tests", ".ci", "CMakeLists.txt", "debian",
              "systemd", "docs")
SOURCE_EXT = (".c", ".h", ".py", ".sh", ".txt", ".pod", ".md", "")

# Names the documents take from outside the tree, and whose they are.
EXTERNAL = {
    "copy_file_range": "Linux's system call, weighed for copying frames",
    "FUTEX_WAIT": "Linux's futex(2) operation (src/common/futex.h calls it by number)",
    "FUTEX_WAKE": "Linux's futex(2) operation",
    "SCHED_BATCH": "Linux's scheduling policy, tried and measured",
    "read_lock": "nbdkit's per-connection lock in its request loop",
    "serialize_requests": "nbdkit's thread model, named as --dump-plugin shows it",
    "memory.c": "nbdkit's memory plugin, the anchor the plugin is compared with",
    "foo.c": "an example in the text", "foo.h": "an example in the text",
    "A.c": "an example in the text", "B.h": "an example in the text",
}


def read(root, name):
    with open(os.path.join(root, name), encoding="utf-8") as f:
        return f.read().split("\n")


def section(lines, title):
    """The lines of the "## TITLE..." section, with their numbers."""
    out, inside = [], False
    for number, line in enumerate(lines, 1):
        if line.startswith("## "):
            inside = line[3:].startswith(title)
        if inside:
            out.append((number, line))
    return out


def without(lines, title):
    inside_titles = {n for n, _ in section(lines, title)}
    return [(n, line) for n, line in enumerate(lines, 1) if n not in inside_titles]


def expand_braces(pattern):
    m = re.search(r"\{([^{}]*)\}", pattern)
    if not m:
        return [pattern]
    out = []
    for alt in m.group(1).split(","):
        out += expand_braces(pattern[:m.start()] + alt + pattern[m.end():])
    return out


def exists(root, pattern):
    return any(glob.glob(os.path.join(root, p)) for p in expand_braces(pattern))


def tree_words(root):
    words = set()
    for top in WORD_FILES:
        path = os.path.join(root, top)
        walk = [(root, [], [top])] if os.path.isfile(path) else os.walk(path)
        for dirpath, _, names in walk:
            for name in names:
                if os.path.splitext(name)[1] not in SOURCE_EXT or name.endswith(".md"):
                    continue
                try:
                    with open(os.path.join(dirpath, name), encoding="utf-8") as f:
                        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f.read()))
                except (UnicodeDecodeError, OSError):
                    pass
    return words


def test_names(root):
    """The tests named literally in the CMakeLists.txt files."""
    names = set()
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith((".", "build"))]
        if "CMakeLists.txt" in files:
            with open(os.path.join(dirpath, "CMakeLists.txt"), encoding="utf-8") as f:
                names.update(re.findall(r"add_test\(NAME ([\w./-]+)", f.read()))
    return names


def file_names(root):
    names = set()
    for top in ("src", "plugin", "tools", "tests"):
        for _, _, files in os.walk(os.path.join(root, top)):
            names.update(files)
    return names


def check_names(root, doc, lines, words, tests, problems):
    files = file_names(root)
    for number, line in lines:
        for name in FILE_NAME.findall(line):
            if name in EXTERNAL:
                continue
            alternatives = [name[:-4] + "c", name[:-4] + "h"] if name.endswith("]") else [name]
            if not any(a in files for a in alternatives):
                problems.append(f"{doc}:{number}: no file {name} in the tree")
        for path in PATH.findall(line):
            path = path.rstrip(".,:;")
            if path in tests:
                continue        # a test's name (docs/version), not a path
            if path.endswith(".so"):
                path = path[:-3] + ".c"     # built from it
            if not exists(root, path):
                problems.append(f"{doc}:{number}: no {path} in the tree")
        for ticked in TICKED.findall(line):
            m = C_NAME.match(ticked.strip())
            if m and "_" in m.group(1) and m.group(1) not in words \
                    and m.group(1) not in EXTERNAL:
                problems.append(f"{doc}:{number}: no `{m.group(1)}` in the tree")


def entries(lines):
    """(line number, path pattern, is folder) of a tree drawn in a code
    block: a name followed by two spaces or the line's end, its folder the
    names above it that are less indented."""
    stack = []
    for number, line in lines:
        m = re.match(r"^( *)([\w.\-\[\]{},*@/]+)(?:\s{2,}|$)", line)
        if not m or not line.strip() or line.strip().startswith("```"):
            continue
        indent, name = len(m.group(1)), m.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "".join(folder for _, folder in stack) + name
        if name.endswith("/"):
            stack.append((indent, name))
            yield number, path.rstrip("/"), True
        elif "." in name:
            yield number, path, False


def tree_files(root, folders):
    out = []
    for folder in folders:
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            out += [os.path.relpath(os.path.join(dirpath, n), root)
                    for n in names if n.endswith((".c", ".h"))]
    return sorted(out)


def check_map(root, lines, problems):
    block = [(n, l) for n, l in section(lines, "Where things are")]
    code, inside = [], False
    for n, line in block:
        if line.startswith("```"):
            inside = not inside
        elif inside:
            code.append((n, line))
    mapped = []
    for number, path, folder in entries(code):
        if not exists(root, path):
            problems.append(f"docs/design.md:{number}: the map names {path}, not in the tree")
        if not folder:
            mapped += [os.path.relpath(p, root) for p in expand_braces(path)
                       for p in glob.glob(os.path.join(root, p))]
    for path in tree_files(root, ("src", "plugin", "tools")):
        if path not in mapped:
            problems.append(f"docs/design.md: the map has no line for {path}")


def check_layout(root, lines, problems):
    folders = set()
    stack = []
    for number, line in lines:
        if not line.startswith("    "):
            continue
        m = re.match(r"^( *)([\w.\-]+/)\s{2,}", line[4:])
        if m:
            indent = len(m.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, m.group(2)))
            folders.add("".join(f for _, f in stack).rstrip("/"))
        here = "".join(f for _, f in stack)
        for name in re.findall(r"(?<![\w./-])([\w\-*]+\.(?:c|h|md|py|sh|pod))\b", line):
            if not glob.glob(os.path.join(root, here, "**", name), recursive=True):
                problems.append(f"README.md:{number}: no {name} under {here or '/'}")
    for entry in sorted(os.listdir(os.path.join(root, "src"))):
        if os.path.isdir(os.path.join(root, "src", entry)) and f"src/{entry}" not in folders:
            problems.append(f"README.md: the layout has no line for src/{entry}/")


def check_tests(root, build, lines, problems):
    listed = subprocess.run(["ctest", "--test-dir", build, "-N"], capture_output=True,
                            text=True, check=True).stdout
    names = re.findall(r"Test\s+#\d+: (\S+)", listed)
    if not names:
        problems.append(f"ctest -N in {build} lists no test")
    ticked = {t for _, line in lines for t in TICKED.findall(line)}
    for name in names:
        if name not in ticked and name.split("/", 1)[-1] not in ticked:
            problems.append(f"tests/README.md: no row for the test {name}")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    build = sys.argv[2] if len(sys.argv) > 2 else None
    problems = []
    words = tree_words(root)
    tests = test_names(root)
    design = read(root, "docs/design.md")
    readme_layout = section(read(root, "README.md"), "Layout")
    tests_readme = without(read(root, "tests/README.md"), "Found so far")
    if not readme_layout:
        problems.append("README.md: no \"## Layout\" section")
    check_names(root, "docs/design.md", list(enumerate(design, 1)), words, tests,
                problems)
    check_names(root, "README.md", readme_layout, words, tests, problems)
    check_names(root, "tests/README.md", tests_readme, words, tests, problems)
    check_map(root, design, problems)
    check_layout(root, readme_layout, problems)
    if build is not None:
        check_tests(root, build, tests_readme, problems)
    for line in problems:
        print(line)
    if problems:
        return 1
    print("docs/design.md, README.md's layout and tests/README.md name only what is in the "
          "tree; the map has every file of src/, plugin/ and tools/"
          + ("; tests/README.md every test" if build else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

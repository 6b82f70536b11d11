#!/usr/bin/env python3
"""No include cycle between the files of src/, plugin/ and tools/.

Two graphs, each checked for cycles:

  - headers: A.h -> B.h when A.h includes B.h (include guards hide such a
    cycle from the compiler);
  - modules: a module is foo.c with its header foo.h; A -> B when A.c
    includes B.h, that is when A may call into B.  Two .c files that
    include each other's header call each other: a cycle, though no
    header includes itself.  A header shared by a folder's files
    (internal.h) is a module without code, so it leads nowhere.

Prints each cycle and exits 1 when there is one; prints the counts and
exits 0 otherwise.

    tests/include-cycles.py [ROOT [FOLDER...]]
        (default: the repository, and src plugin tools)
"""
import os
import re
import sys

FOLDERS = ["src", "plugin", "tools"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(root):
    """Every .c and .h file below FOLDERS, as {path: module}."""
    files = {}
    for folder in FOLDERS:
        if not os.path.isdir(os.path.join(root, folder)):
            sys.exit(f"include-cycles: no folder {os.path.join(root, folder)}")
        for dirpath, _, names in os.walk(os.path.join(root, folder)):
            for name in names:
                if name.endswith((".c", ".h")):
                    path = os.path.relpath(os.path.join(dirpath, name), root)
                    files[path] = os.path.splitext(path)[0]
    return files


def resolve(root, including, name, files):
    """The file an #include "NAME" in INCLUDING finds, or None (a system
    or generated header).  Sources include by their path below src/, or
    their own folder's files by name."""
    here = os.path.dirname(including)
    for base in (here, "src", "plugin", "tools"):
        path = os.path.normpath(os.path.join(base, name))
        if path in files:
            return path
    return None


def graphs(root):
    """The header graph and the module graph, as (nodes, edges) each."""
    files = modules(root)
    headers, code = {}, {}
    for path, module in files.items():
        with open(os.path.join(root, path), encoding="utf-8") as f:
            text = f.read()
        for name in INCLUDE.findall(text):
            target = resolve(root, path, name, files)
            if target is None or files[target] == module:
                continue
            if path.endswith(".h"):
                headers.setdefault(path, set()).add(target)
            else:
                code.setdefault(module, set()).add(files[target])
    header_nodes = {p for p in files if p.endswith(".h")}
    return (header_nodes, headers), (set(files.values()), code)


def cycles(nodes, edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    if len(sys.argv) > 2:
        FOLDERS[:] = sys.argv[2:]
    status = 0
    for what, (nodes, edges) in zip(("headers", "modules"), graphs(root)):
        found = cycles(nodes, edges)
        for component in found:
            print(f"include cycle between {what}: " + ", ".join(component))
            for v in component:
                for w in sorted(edges.get(v, ()) & set(component)):
                    print(f"  {v} -> {w}")
            status = 1
        if not found:
            print(f"no include cycle between {what}: {len(nodes)} {what}, "
                  f"{sum(len(e) for e in edges.values())} edges in {', '.join(FOLDERS)}")
    return status


if __name__ == "__main__":
    sys.exit(main())

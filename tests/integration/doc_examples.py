#!/usr/bin/python3
"""Run the examples a document shows, and compare what they print with
what the document says they print.  doc-examples.sh runs it on the README
and the man pages; it says which blocks and how they are marked.

  doc_examples.py DOC DIR BLOCKS [--show]

BLOCKS is how many marked blocks DOC must have: a marker lost in an edit
fails the test instead of leaving an example unchecked.

Marked blocks, in the order of DOC, run in one folder, DIR, one command
after another, so that each example may use what the ones before it made:

  Markdown  an indented code block right after the line
            <!-- run by tests/integration/doc-examples.sh -->
  POD       the verbatim paragraph right after "=for doc-examples run";
            "=for doc-examples setup: COMMAND" runs COMMAND there first, for
            files an example needs but does not show how to make (POD
            formatters skip "=for" paragraphs of a format they do not know).

In a block, a line "$ COMMAND" is a command (bash, stdout and stderr
together); the lines after it, up to the next "$ ", are what it prints, where
a line "..." stands for any number of lines.  A command that shows no
output must exit 0; one that shows output is judged by it.  The folder's
path reads as /tmp/tour.

What changes from run to run is compared loosely: times and dates, epoch
seconds, durations, pids and digests not at all, nor whether a lazy load
whose frames are all in says "loading" or "loaded" yet; the snapshot file's
size and compression ratio (they move with mkfs's random UUID and
timestamps) within 3%.  Everything else, byte for byte.

--show prints each command's normalized output instead of comparing, to
write a new example from.
"""
import os
import re
import signal
import subprocess
import sys
import time

MD_MARKER = "<!-- run by tests/integration/doc-examples.sh -->"
SHOWN_DIR = "/tmp/tour"
TOLERANCE = 0.03

# (pattern, replacement): what varies and is not compared.
IGNORED = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<time>"),
    (re.compile(r"\(\d{9,}\)"), "(<epoch>)"),
    (re.compile(r'("creation-time": )\d+'), r"\1<epoch>"),
    (re.compile(r"\bin \d+\.\d+ s\b"), "in <secs> s"),
    (re.compile(r"\b[0-9a-f]{16}\b"), "<digest>"),
    (re.compile(r"(server pid: |by process |\bpid\": )\d+"), r"\1<pid>"),
    # Every frame is in: whether the background loader has said so yet
    # (loading becomes loaded) is a matter of timing.
    (re.compile(r"load: loading (\(lazy: (\d+) of \2 frames, (.+) of \3\))"), r"load: loaded \1"),
]
# Numbers compared within TOLERANCE: they are marked "~" and split out.
APPROXIMATE = [
    re.compile(r"(?<=file size: )(\d+(?:\.\d+)?)( \w+ \()(\d+)(?= bytes\))"),
    re.compile(r"(\d+(?:\.\d+)?)(?= \w+ file\b)"),
    re.compile(r"(\d+(?:\.\d+)?)(?= \w+ in the file\b)"),
    re.compile(r"(?<=ratio: )(\d+\.\d+)"),
    re.compile(r"(?<=ratio )(\d+\.\d+)"),
    re.compile(r'(?<="file-size": )(\d+)'),
    re.compile(r'(?<="compression-ratio": )(\d+\.\d+)'),
]
APPROX_NUMBER = re.compile(r"~(\d+(?:\.\d+)?)")


def normalize(line, workdir=None):
    if workdir:
        line = line.replace(workdir, SHOWN_DIR)
    for pattern, repl in IGNORED:
        line = pattern.sub(repl, line)
    for pattern in APPROXIMATE:
        line = pattern.sub(lambda m: "".join(
            "~" + g if g and re.fullmatch(r"\d+(?:\.\d+)?", g) else (g or "")
            for g in m.groups()), line)
    return line.rstrip()


def line_matches(shown, actual):
    s_parts, a_parts = APPROX_NUMBER.split(shown), APPROX_NUMBER.split(actual)
    if len(s_parts) != len(a_parts):
        return False
    for i, (s, a) in enumerate(zip(s_parts, a_parts)):
        if i % 2 == 0:
            if s != a:
                return False
        else:
            s, a = float(s), float(a)
            if abs(s - a) > TOLERANCE * max(abs(s), abs(a)):
                return False
    return True


def output_matches(shown, actual):
    """SHOWN's lines match ACTUAL's, "..." standing for any lines."""
    if not shown:
        return not actual
    if shown[0].strip() == "...":
        return any(output_matches(shown[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and line_matches(shown[0], actual[0]) and \
        output_matches(shown[1:], actual[1:])


def markdown_steps(text):
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() != MD_MARKER:
            continue
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block = []
        while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
            block.append(lines[j][4:])
            j += 1
        while block and not block[-1].strip():
            block.pop()
        if not block:
            sys.exit(f"no indented code block after the marker at line {i + 1}")
        yield ("block", i + 1, block)


def pod_steps(text):
    paragraphs = re.split(r"\n\s*\n", text)
    line = 1
    run_next = None
    for p in paragraphs:
        start = line
        line += p.count("\n") + 2
        m = re.match(r"=for doc-examples (setup: (.*)|run)\s*$", p, re.S)
        if m:
            if m.group(2) is not None:
                yield ("setup", start, " ".join(m.group(2).split()))
            else:
                run_next = start
            continue
        if run_next is not None:
            if not p.startswith((" ", "\t")):
                sys.exit(f"no verbatim paragraph after =for doc-examples run at line {run_next}")
            yield ("block", start, [l[1:] if l.startswith(" ") else l for l in p.split("\n")])
            run_next = None


def commands(block, where):
    """(command, shown output lines) of a block."""
    out = []
    for line in block:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line.rstrip())
        elif line.strip():
            sys.exit(f"{where}: the block does not start with a '$ ' command")
    return out


def wait_for_pidfile(command, workdir):
    m = re.search(r"\bnbdkit\b.*\s-P\s+(\S+)", command)
    if not m:
        return
    path = os.path.join(workdir, m.group(1))
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit(f"'{command}' wrote no pid file {path} within 60 s")
        time.sleep(0.05)


def stop_servers(workdir):
    for name in os.listdir(workdir):
        if not name.endswith(".pid"):
            continue
        try:
            pid = int(open(os.path.join(workdir, name)).read())
            os.kill(pid, signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            continue
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)


def run(command, workdir):
    p = subprocess.run(["bash", "-c", command], cwd=workdir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return p.returncode, p.stdout.decode(errors="replace").rstrip("\n").split("\n") \
        if p.stdout.strip() else []


def main():
    doc, workdir, want = sys.argv[1], os.path.realpath(sys.argv[2]), int(sys.argv[3])
    show = "--show" in sys.argv[4:]
    text = open(doc).read()
    steps = list(pod_steps(text) if doc.endswith(".pod") else markdown_steps(text))
    blocks = sum(kind == "block" for kind, _, _ in steps)
    if blocks != want:
        sys.exit(f"{doc}: {blocks} marked examples, expected {want}")
    name = os.path.basename(doc)
    failures = 0
    try:
        for kind, line, body in steps:
            if kind == "setup":
                status, out = run(body, workdir)
                wait_for_pidfile(body, workdir)
                if status != 0:
                    sys.exit(f"{name}:{line}: setup '{body}' exited {status}: " + "\n".join(out))
                continue
            for command, shown in commands(body, f"{name}:{line}"):
                status, out = run(command, workdir)
                wait_for_pidfile(command, workdir)
                actual = [normalize(l, workdir) for l in out]
                if show:
                    print(f"$ {command}   [exit {status}]")
                    print("\n".join(actual))
                    continue
                shown_n = [normalize(l) for l in shown]
                if not shown and status != 0:
                    print(f"FAIL: {name}:{line}: '{command}' exited {status}:\n" + "\n".join(out))
                    failures += 1
                elif not output_matches(shown_n, actual):
                    print(f"FAIL: {name}:{line}: '{command}' printed (normalized):\n"
                          + "\n".join("    " + l for l in actual)
                          + "\n  where the document shows (normalized):\n"
                          + "\n".join("    " + l for l in shown_n))
                    failures += 1
    finally:
        stop_servers(workdir)
    if failures:
        sys.exit(f"{name}: {failures} example(s) print something else than the document shows")
    print(f"{name}: every example prints what the document shows")


if __name__ == "__main__":
    main()

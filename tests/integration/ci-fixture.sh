#!/usr/bin/env bash
# docs/ci-fixtures.md cannot rot: extract the files it shows (each code
# block after a "<!-- file: PATH -->" line), run its shell flow with the
# built plugin and tool, and check what the page promises: the first run
# builds, later runs hit the cache and serve the fixture, the tests' writes
# never reach the cached file, tests on one server see the fixture again
# after each reset, a changed input rebuilds, COMMAND's exit
# status comes back, and the workflow uses the script's key in actions/cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands nbdkit nbdcopy nbdinfo nbdsh mkfs.ext4 debugfs sha256sum cmp
doc=${MEMDISK_SOURCE_DIR:?}/docs/ci-fixtures.md

proj=$MD_TMP/proj
mkdir -p "$proj"
/usr/bin/python3 - "$doc" "$proj" <<'PY'
import os, re, sys
doc, root = sys.argv[1], sys.argv[2]
text = open(doc).read()
blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)\n```\n", text, re.S)
names = [name for name, _ in blocks]
if sorted(names) != sorted(["fixture/build", "ci-fixture.sh", "ci-fixture-each.sh",
                            ".github/workflows/tests.yml"]):
    sys.exit("ci-fixtures.md: unexpected file blocks %s" % names)
for name, body in blocks:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(body + "\n")
    os.chmod(path, 0o755)
PY

# The page says `nbdkit memdisk` and `memdisk-tool`: point them at this
# build without installing anything.
mkdir "$MD_TMP/bin"
ln -s "$tool" "$MD_TMP/bin/memdisk-tool"
cat >"$MD_TMP/bin/nbdkit" <<WRAP
#!/usr/bin/env bash
args=()
for a in "\$@"; do [[ \$a == memdisk ]] && a=$MEMDISK_PLUGIN; args+=("\$a"); done
exec $(command -v nbdkit) "\${args[@]}"
WRAP
chmod +x "$MD_TMP/bin/nbdkit"
export PATH=$MD_TMP/bin:$PATH
export FIXTURE_CACHE=$MD_TMP/cache

cd "$proj"
mkdir -p fixture/files/sub
echo "hello from the fixture" >fixture/files/hello.txt
head -c 3M /dev/urandom >fixture/files/sub/data.bin

# The example command from the page, on the first run: builds, then serves.
read_hello='nbdcopy "$FIXTURE_URI" disk.img && debugfs -R "cat /hello.txt" disk.img'
./ci-fixture.sh sh -c "$read_hello" >run1.log 2>&1 || fail "first run failed: $(cat run1.log)"
grep -q "^fixture: cache miss, building $FIXTURE_CACHE/memdisk-fixture-" run1.log || fail "no build: $(cat run1.log)"
grep -q "^hello from the fixture$" run1.log || fail "the fixture lacks hello.txt: $(cat run1.log)"
grep -q "^saved .*/new.snap at .*, digest [0-9a-f]\{16\}$" run1.log || fail "the build did not end with memdisk-tool save: $(cat run1.log)"
grep -q "^virtual size: 1 GiB (1073741824 bytes)$" run1.log || fail "no info: $(cat run1.log)"
snaps=("$FIXTURE_CACHE"/*.snap)
((${#snaps[@]} == 1)) || fail "expected one cached snapshot: ${snaps[*]}"
snap=${snaps[0]}
[[ $(basename "$snap" .snap) == "$(./ci-fixture.sh --key)" ]] || fail "--key differs from the cached name"
run_tool 0 "$tool" verify "$snap"
cp "$snap" "$MD_TMP/before.snap"

# Later runs: cache hit; writes stay in memory; the big file reads back.
./ci-fixture.sh sh -c 'nbdsh -u "$FIXTURE_URI" -c "h.zero(1 << 30, 0)"' >run2.log 2>&1 ||
  fail "second run failed: $(cat run2.log)"
grep -q "^fixture: cache hit: $snap$" run2.log || fail "no cache hit: $(cat run2.log)"
cmp "$snap" "$MD_TMP/before.snap" || fail "a read-only run changed the cached snapshot"
./ci-fixture.sh sh -c 'nbdcopy "$FIXTURE_URI" disk.img && debugfs -R "dump /sub/data.bin data.out" disk.img' \
  >run3.log 2>&1 || fail "third run failed: $(cat run3.log)"
cmp data.out fixture/files/sub/data.bin || fail "the fixture's data.bin differs"
grep -q "cache hit" run3.log || fail "no cache hit: $(cat run3.log)"

# Many tests on one server, reset between them (the page's example): the
# first wrecks the file system, the second still reads the fixture; a
# failing test makes the script exit 1; the cached file is never written.
./ci-fixture-each.sh 'nbdsh -u "$FIXTURE_URI" -c "h.zero(1 << 20, 0)"' \
  'nbdcopy "$FIXTURE_URI" disk.img && debugfs -R "cat /hello.txt" disk.img' \
  >each.log 2>&1 || fail "ci-fixture-each.sh failed: $(cat each.log)"
grep -q "^hello from the fixture$" each.log || fail "no reset between the tests: $(cat each.log)"
[[ $(grep -c "^reset .* changed regions put back$" each.log) == 2 ]] ||
  fail "not one reset per test: $(cat each.log)"
status=0
./ci-fixture-each.sh 'exit 3' true >each2.log 2>&1 || status=$?
((status == 1)) || fail "ci-fixture-each.sh exited $status for a failing test: $(cat each2.log)"
cmp "$snap" "$MD_TMP/before.snap" || fail "ci-fixture-each.sh changed the cached snapshot"

# COMMAND's exit status comes back.
status=0
./ci-fixture.sh sh -c 'exit 7' >/dev/null 2>&1 || status=$?
[[ $status == 7 ]] || fail "ci-fixture.sh returned $status for a command that exited 7"

# A build whose save fails caches nothing: the fixture fills the disk,
# then the snapshot's folder goes away (moved), so the save cannot work.
mv fixture/build fixture/build.real
cat >fixture/build <<'BUILD'
#!/usr/bin/env bash
set -euo pipefail
./fixture/build.real "$1"
sock=${1#*socket=}
mv -- "$(dirname "$sock")" "$(dirname "$sock").gone"
BUILD
chmod +x fixture/build
echo "fail" >fixture/files/fail.txt
fail_key=$(./ci-fixture.sh --key)
status=0
TMPDIR=$MD_TMP ./ci-fixture.sh true >run5.log 2>&1 || status=$?
((status != 0)) || fail "a build whose save failed succeeded: $(cat run5.log)"
[[ ! -e $FIXTURE_CACHE/$fail_key.snap ]] || fail "a build whose save failed was cached"
grep -q "^memdisk-tool: " run5.log || fail "no error from memdisk-tool save: $(cat run5.log)"
mv fixture/build.real fixture/build
rm fixture/files/fail.txt

# A changed input: a new key and a new build.
old_key=$(./ci-fixture.sh --key)
echo "more" >fixture/files/new.txt
[[ $(./ci-fixture.sh --key) != "$old_key" ]] || fail "the key ignores a new input file"
./ci-fixture.sh sh -c 'nbdcopy "$FIXTURE_URI" disk.img && debugfs -R "cat /new.txt" disk.img' \
  >run4.log 2>&1 || fail "rebuild failed: $(cat run4.log)"
grep -q "cache miss" run4.log && grep -q "^more$" run4.log || fail "no rebuild: $(cat run4.log)"

# The workflow restores the cache folder under the script's key.
/usr/bin/python3 - .github/workflows/tests.yml "$FIXTURE_CACHE" <<'PY' || fail "the workflow in docs/ci-fixtures.md is wrong"
import sys, yaml
wf = yaml.safe_load(open(sys.argv[1]))
steps = wf["jobs"]["test"]["steps"]
key = [s for s in steps if s.get("id") == "fixture"]
assert key and "./ci-fixture.sh --key" in key[0]["run"] and "GITHUB_OUTPUT" in key[0]["run"], key
cache = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
assert cache, "no actions/cache step"
assert cache[0]["with"]["key"] == "${{ steps.fixture.outputs.key }}", cache[0]
assert cache[0]["with"]["path"] == "~/.cache/memdisk-fixtures", cache[0]
assert steps.index(key[0]) < steps.index(cache[0])
runs = [s for s in steps if "./ci-fixture.sh ./" in s.get("run", "")]
assert runs and steps.index(runs[0]) > steps.index(cache[0]), "tests must run after the restore"
PY
grep -q 'cache=${FIXTURE_CACHE:-$HOME/.cache/memdisk-fixtures}' ci-fixture.sh ||
  fail "the script's default cache folder is not the workflow's"
echo PASS

#!/usr/bin/env bash
# What the README and the man pages show, the built plugin and tool print:
# the README's tour and memdisk-tool(1)'s examples run as shown, each
# document in a folder of its own, and every output they show must be what
# the commands print now (doc_examples.py says how blocks are marked and
# what is compared loosely: times, digests, pids, the file's exact size).
# A new format version, a new status line or a changed message fails here
# until the document shows it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands nbdkit nbdcopy nbdinfo nbdsh mkfs.ext4 jq cmp
src=${MEMDISK_SOURCE_DIR:?}

# The documents say `nbdkit memdisk` and `memdisk-tool`: point them at this
# build without installing anything (as ci-fixture.sh does).
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

# Each document and how many marked blocks it has (a marker lost in an
# edit must not leave its example unchecked).
failed=0
for doc_blocks in README.md:6 docs/memdisk-tool.pod:10; do
  doc=${doc_blocks%:*}
  dir=$MD_TMP/$(basename "$doc")
  mkdir "$dir"
  /usr/bin/python3 "$(dirname "$0")/doc_examples.py" "$src/$doc" "$dir" "${doc_blocks##*:}" || failed=1
done
((failed == 0)) || fail "a document's examples do not run as it shows (above)"
echo PASS

# Helpers of the tests of incremental saves through the plugin
# (persist-incremental.sh, region-size.sh).  Source it after lib.sh and
# persist_lib.sh, with MEMDISK_TOOL set:
#
#   holds_disk FILE URI   fail unless FILE holds the disk the server at URI
#                         serves now (nothing may write in between).
#   snapshot_digest FILE  the content digest `info` shows.
#   same_as_full FILE     fail unless FILE's header, data frames and index
#                         are those of `memdisk-tool convert -O snapshot -l 3`
#                         of FILE (a full save of the same disk, at FILE's
#                         region size), and the digests agree.

holds_disk () {
  rm -f "$MD_TMP/file.img"
  "$MEMDISK_TOOL" convert -O raw "$1" "$MD_TMP/file.img" || fail "convert of $1 to raw failed"
  /usr/bin/python3 - "$2" "$MD_TMP/file.img" <<'PY' || fail "$1 does not hold the disk"
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
size = h.get_size()
with open(sys.argv[2], "rb") as f:
    for off in range(0, size, 1 << 22):
        n = min(1 << 22, size - off)
        if h.pread(n, off) != f.read(n).ljust(n, b"\0"):
            sys.exit("the file differs from the disk in the 4 MiB at %d" % off)
h.shutdown()
PY
}

# The content digest `memdisk-tool info` shows for FILE.
snapshot_digest () {
  "$MEMDISK_TOOL" info --json "$1" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])'
}

same_as_full () { persist_same_as_full "$1" 3; }

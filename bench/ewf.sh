#!/usr/bin/env bash
# bench/ewf.sh — custodian --format ewf side by side with ewfacquire, in one
# run, on the same page-cached read-only loop device over a mixed source
# (a third incompressible, a third compressible text, a third zeros), both
# computing MD5 and SHA-1 (EWF's own hashes), output to the same disk.
# Each tool is timed until its output is durable (then `sync`); median of
# ROUNDS interleaved rounds. Then custodian verify vs ewfverify.
#
#   sudo bash bench/ewf.sh                 # 2 GiB mixed source
#   SIZE_GIB=8 ONLY=custodian sudo bash bench/ewf.sh   # peak RSS must stay flat
#   VERIFY_ONLY=1 sudo bash bench/ewf.sh              # only custodian verify vs ewfverify
#   SPARSE=1 sudo bash bench/ewf.sh    # 4 GiB mostly empty source (300 MiB of data):
#                                      # --format ewf --compress fast vs the raw pipeline
#   BASELINE=REV VERIFY_ONLY=1 sudo bash bench/ewf.sh  # also the verify of custodian built at
#                                      # git REV, interleaved in the same rounds (before/after)
set -euo pipefail
SIZE_GIB=${SIZE_GIB:-2}
ROUNDS=${ROUNDS:-3}
WORK=${WORK:-/var/tmp/custodian-bench}
DEST=${DEST:-$WORK/out-ewf}
REPO=$(cd "$(dirname "$0")/.." && pwd)
for t in losetup ewfacquire ewfverify openssl /usr/bin/time go bc; do
  command -v "$t" >/dev/null || { echo "bench: needs $t (apt-get install ewf-tools openssl time bc)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root for losetup" >&2; exit 2; }
mkdir -p "$WORK" "$DEST"
dev=""
cleanup() { [ -n "$dev" ] && losetup -d "$dev" 2>/dev/null || true; rm -rf "$DEST"/run.* 2>/dev/null || true; }
trap cleanup EXIT
(cd "$REPO" && go build -o "$WORK/custodian" ./cmd/custodian)
if [ -n "${BASELINE:-}" ]; then
  echo "== building custodian at $BASELINE (baseline)"
  base="$WORK/baseline-src"
  rm -rf "$base"; mkdir -p "$base"
  (cd "$REPO" && git archive "$BASELINE") | tar -x -C "$base"
  (cd "$base" && go build -o "$WORK/custodian-baseline" ./cmd/custodian)
fi

bytes=$((SIZE_GIB << 30)); third=$((bytes / 3 / 1048576 * 1048576))
src="$WORK/mixed-${SIZE_GIB}g.img"
if [ -n "${SPARSE:-}" ]; then
  bytes=$((4 << 30)); src="$WORK/sparse-4g.img"
  if [ ! -f "$src" ]; then
    echo "== making a 4 GiB sparse source with 300 MiB of data in 3 places"
    truncate -s "$bytes" "$src.tmp"
    set +o pipefail # openssl ends on SIGPIPE when head has enough
    for at in 0 1500 3000; do
      openssl enc -aes-128-ctr -nosalt -pass pass:sparse$at -pbkdf2 </dev/zero 2>/dev/null | head -c $((100 << 20)) |
        dd of="$src.tmp" bs=1M seek="$at" conv=notrunc status=none
    done
    set -o pipefail
    mv "$src.tmp" "$src"
  fi
fi
if [ -z "${SPARSE:-}" ] && { [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != "$bytes" ]; }; then
  echo "== making a ${SIZE_GIB} GiB mixed source"
  set +o pipefail
  { openssl enc -aes-128-ctr -nosalt -pass pass:custodian-bench -pbkdf2 </dev/zero 2>/dev/null | head -c "$third"
    seq -f "custodian evidence line %.0f: the quick brown fox jumps over the lazy dog" 1 100000000 | head -c "$third"
    head -c $((bytes - 2 * third)) /dev/zero; } >"$src.tmp"
  set -o pipefail
  mv "$src.tmp" "$src"
fi
sync; echo 3 >/proc/sys/vm/drop_caches
dev=$(losetup -r -f --show "$src")
cat "$dev" >/dev/null; cat "$dev" >/dev/null
echo "== $ROUNDS interleaved rounds on $dev ($(( bytes >> 30 )) GiB $([ -n "${SPARSE:-}" ] && echo sparse || echo mixed)), md5+sha1, output to $DEST"

declare -A times rss size secs
run() { # run NAME CMD...
  local name=$1; shift
  local out="$DEST/run.$name"; rm -rf "$out"; mkdir -p "$out"; sync
  local t0 t1; t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$WORK/rss.$name" "$@" >/dev/null 2>"$WORK/err.$name" </dev/null || { echo "bench: $name failed:"; tail -5 "$WORK/err.$name"; exit 1; }
  sync; t1=$(date +%s.%N)
  times[$name]+="$(echo "$t1 - $t0" | bc -l) "
  local r; r=$(tail -1 "$WORK/rss.$name"); [ "${rss[$name]:-0}" -ge "$r" ] || rss[$name]=$r
  size[$name]=$(du -sb "$out" | cut -f1)
  [ "${KEEP:-}" = "$name" ] || rm -rf "$out"
}
o() { echo "$DEST/run.$1"; }
tools=()
for c in none empty fast best; do tools+=("custodian-$c"); done
[ -n "${SPARSE:-}" ] && tools=(custodian-fast custodian-raw)
[ "${ONLY:-}" = custodian ] || for c in none empty-block fast best; do tools+=("ewfacquire-$c"); done
[ -n "${VERIFY_ONLY:-}" ] && tools=()
for round in $(seq "$ROUNDS"); do
  for t in "${tools[@]}"; do
    case $t in
    custodian-raw) run "$t" "$WORK/custodian" acquire "$dev" -o "$(o $t)" --name img --format raw --segment-size 0 \
                    --hash md5,sha1 --segment-hash none --json ;;
    custodian-*)  run "$t" "$WORK/custodian" acquire "$dev" -o "$(o $t)" --name img --format ewf --compress "${t#custodian-}" \
                    --hash md5,sha1 --segment-hash none --json ;;
    ewfacquire-*) run "$t" ewfacquire -u -q -t "$(o $t)/img" -f encase6 -c "${t#ewfacquire-}" -d sha1 "$dev" ;;
    esac
  done
done
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for t in "${tools[@]}"; do
  secs[$t]=$(median "${times[$t]}")
  printf '%-22s median %6.2f s %6.0f MB/s  image %5.1f%%  (runs: %s) %6.1f MiB peak RSS\n' "$t" "${secs[$t]}" \
    "$(echo "$bytes / ${secs[$t]} / 1000000" | bc -l)" "$(echo "100 * ${size[$t]} / $bytes" | bc -l)" \
    "$(printf '%.2f ' ${times[$t]})" "$(echo "${rss[$t]} / 1024" | bc -l)"
done
if [ -n "${SPARSE:-}" ]; then
  printf 'ewf fast vs raw on the sparse source: %5.2fx the raw pipeline'"'"'s speed (target >= 0.8)\n' "$(echo "${secs[custodian-raw]} / ${secs[custodian-fast]}" | bc -l)"
  exit 0
fi
[ "${ONLY:-}" = custodian ] && exit 0
[ -n "${VERIFY_ONLY:-}" ] || echo "== throughput ratios (custodian / ewfacquire)"
[ -n "${VERIFY_ONLY:-}" ] || for p in "none none" "empty empty-block" "fast fast" "best best"; do
  set -- $p
  printf '%-6s vs %-12s %5.2fx   image size %5.3fx\n' "$1" "$2" "$(echo "${secs[ewfacquire-$2]} / ${secs[custodian-$1]}" | bc -l)" \
    "$(echo "${size[custodian-$1]} / ${size[ewfacquire-$2]}" | bc -l)"
done

echo "== verify of the fast image (--segment-hash ${SEGMENT_HASH:-auto}): custodian verify vs ewfverify -d sha1"
# "verify ratio": each tool on its own tool's fast E01 (custodian's with its
# report, ewfacquire's); then each tool on the other's file too.
# SEGMENT_HASH=none: the same work as ewfverify (media MD5+SHA-1 and the
# chunks); the default also checks each segment file's own hash.
"$WORK/custodian" acquire "$dev" -o "$(o verify)" --name img --format ewf --compress fast --hash md5,sha1 \
  --segment-hash "${SEGMENT_HASH:-auto}" --json >/dev/null
ewfacquire -u -q -t "$(o verify)/ewf" -f encase6 -c fast -d sha1 "$dev" >/dev/null 2>&1
declare -A vt
for round in $(seq "$ROUNDS"); do
  sync; echo 3 >/proc/sys/vm/drop_caches; cat "$(o verify)"/img.E* >/dev/null; cat "$(o verify)"/ewf.E* >/dev/null
  t0=$(date +%s.%N); "$WORK/custodian" verify --no-trust "$(o verify)" >/dev/null; t1=$(date +%s.%N)
  vt[custodian]+="$(echo "$t1 - $t0" | bc -l) "
  t0=$(date +%s.%N); ewfverify -q -d sha1 "$(o verify)/ewf.E01" >/dev/null; t1=$(date +%s.%N)
  vt[ewfverify]+="$(echo "$t1 - $t0" | bc -l) "
  # The same files through both tools: custodian's fast E01 through
  # ewfverify, and ewfacquire's through custodian verify FILE.E01.
  t0=$(date +%s.%N); ewfverify -q -d sha1 "$(o verify)/img.E01" >/dev/null; t1=$(date +%s.%N)
  vt[ewfverify-same]+="$(echo "$t1 - $t0" | bc -l) "
  t0=$(date +%s.%N); "$WORK/custodian" verify "$(o verify)/ewf.E01" >/dev/null; t1=$(date +%s.%N)
  vt[custodian-foreign]+="$(echo "$t1 - $t0" | bc -l) "
  if [ -n "${BASELINE:-}" ]; then
    t0=$(date +%s.%N); "$WORK/custodian-baseline" verify --no-trust "$(o verify)" >/dev/null; t1=$(date +%s.%N)
    vt[baseline]+="$(echo "$t1 - $t0" | bc -l) "
  fi
done
cv=$(median "${vt[custodian]}"); ev=$(median "${vt[ewfverify]}")
es=$(median "${vt[ewfverify-same]}"); cf=$(median "${vt[custodian-foreign]}")
printf 'custodian verify  median %6.2f s (runs: %s)\newfverify -d sha1 median %6.2f s (runs: %s)\nverify ratio: %5.2fx\n' \
  "$cv" "$(printf '%.2f ' ${vt[custodian]})" "$ev" "$(printf '%.2f ' ${vt[ewfverify]})" "$(echo "$ev / $cv" | bc -l)"
printf 'the same file, custodian'"'"'s fast E01: ewfverify -d sha1 median %6.2f s (runs: %s) -> ratio %5.2fx\n' \
  "$es" "$(printf '%.2f ' ${vt[ewfverify-same]})" "$(echo "$es / $cv" | bc -l)"
printf 'the same file, ewfacquire'"'"'s fast E01: custodian verify FILE.E01 median %6.2f s (runs: %s) -> ratio %5.2fx\n' \
  "$cf" "$(printf '%.2f ' ${vt[custodian-foreign]})" "$(echo "$ev / $cf" | bc -l)"
if [ -n "${BASELINE:-}" ]; then
  bv=$(median "${vt[baseline]}")
  printf 'baseline %s verify median %6.2f s (runs: %s)\nbaseline verify ratio: %5.2fx; this tree vs the baseline: %5.2fx time\n' \
    "$BASELINE" "$bv" "$(printf '%.2f ' ${vt[baseline]})" "$(echo "$ev / $bv" | bc -l)" "$(echo "$cv / $bv" | bc -l)"
fi
rm -rf "$(o verify)"

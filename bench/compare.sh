#!/usr/bin/env bash
# bench/compare.sh — custodian side by side with dc3dd, dcfldd and dd, in one
# run, on the same page-cached loop device, with the same hashes
# (md5+sha1+sha256). Prints seconds, throughput, peak RSS and ratios.
#
#   sudo bash bench/compare.sh            # 2 GiB source, output under /var/tmp (same disk as the source file)
#   SIZE_GIB=8 sudo bash bench/compare.sh # memory check: peak RSS must not grow with the source
#   DEST=/dev/shm sudo bash bench/compare.sh  # output to tmpfs: the CPU-bound case
#   ONLY=custodian SIZE_GIB=8 sudo bash bench/compare.sh  # custodian rows only
#   BASELINE=REV ONLY=custodian sudo bash bench/compare.sh # also custodian built at git REV,
#                                         # interleaved in the same rounds (before/after a change)
#
# "Same hashes" as dc3dd/dcfldd means whole-image md5+sha1+sha256, so the
# custodian-1seg and -640MiB rows use --segment-hash none; custodian-default
# adds its default per-segment sha256 (2 GiB segments).
#
# Every tool is timed until its output is durable: the command, then `sync`
# (custodian fsyncs by itself; dc3dd, dcfldd and dd leave dirty pages that
# `sync` flushes). Needs root (losetup), dc3dd, dcfldd, openssl, GNU time.
set -euo pipefail

SIZE_GIB=${SIZE_GIB:-2}
WORK=${WORK:-/var/tmp/custodian-bench}
DEST=${DEST:-$WORK/out}
REPO=$(cd "$(dirname "$0")/.." && pwd)

for t in losetup dc3dd dcfldd openssl /usr/bin/time md5sum sha1sum sha256sum go; do
  command -v "$t" >/dev/null || { echo "bench: needs $t (apt-get install dc3dd dcfldd openssl time)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root for losetup" >&2; exit 2; }

mkdir -p "$WORK" "$DEST"
dev=""
cleanup() {
  [ -n "$dev" ] && losetup -d "$dev" 2>/dev/null || true
  rm -rf "$DEST"/run.* 2>/dev/null || true
}
trap cleanup EXIT

echo "== building custodian"
(cd "$REPO" && go build -o "$WORK/custodian" ./cmd/custodian)
if [ -n "${BASELINE:-}" ]; then
  echo "== building custodian at $BASELINE (baseline)"
  base="$WORK/baseline-src"
  rm -rf "$base"; mkdir -p "$base"
  (cd "$REPO" && git archive "$BASELINE") | tar -x -C "$base"
  (cd "$base" && go build -o "$WORK/custodian-baseline" ./cmd/custodian)
fi

src="$WORK/source-${SIZE_GIB}g.img"
bytes=$((SIZE_GIB << 30))
if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != "$bytes" ]; then
  echo "== making a deterministic ${SIZE_GIB} GiB source (AES-CTR keystream)"
  set +o pipefail # openssl ends on SIGPIPE when head has enough
  openssl enc -aes-128-ctr -nosalt -pass pass:custodian-bench -pbkdf2 </dev/zero 2>/dev/null | head -c "$bytes" >"$src.tmp"
  set -o pipefail
  [ "$(stat -c %s "$src.tmp")" = "$bytes" ] || { echo "bench: could not make the source" >&2; exit 1; }
  mv "$src.tmp" "$src"
fi
# Start from an empty page cache: a previous run's (or a larger source's)
# cached pages would otherwise make every tool pay for reclaim.
sync; echo 3 >/proc/sys/vm/drop_caches
dev=$(losetup -r -f --show "$src")
echo "== source $dev ($SIZE_GIB GiB, read-only loop over $src); warming the page cache"
cat "$dev" >/dev/null; cat "$dev" >/dev/null

# The disk of a shared VM varies from run to run (dd's copy of the same
# 2 GiB took 2.5 s to 6.1 s here), so every tool runs ROUNDS times,
# interleaved (drift hits all alike), and the median time counts.
ROUNDS=${ROUNDS:-3}
declare -A secs rss times
run() { # run NAME CMD...: time CMD + sync, record peak RSS (KiB)
  local name=$1; shift
  local out="$DEST/run.$name"
  rm -rf "$out"; mkdir -p "$out"; sync
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f %M -o "$WORK/rss.$name" "$@" >/dev/null 2>"$WORK/err.$name" || { echo "bench: $name failed:"; cat "$WORK/err.$name"; exit 1; }
  sync
  t1=$(date +%s.%N)
  times[$name]+="$(echo "$t1 - $t0" | bc -l) "
  local r; r=$(tail -1 "$WORK/rss.$name")
  [ "${rss[$name]:-0}" -ge "$r" ] || rss[$name]=$r
  rm -rf "$out"
}
o() { echo "$DEST/run.$1"; }
report() { # report NAME: median of the rounds
  local name=$1
  secs[$name]=$(printf '%s\n' ${times[$name]} | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-20s median %6.2f s %6.0f MB/s  (runs: %s) %6.1f MiB peak RSS\n' "$name" "${secs[$name]}" \
    "$(echo "$bytes / ${secs[$name]} / 1000000" | bc -l)" "$(printf '%.2f ' ${times[$name]})" "$(echo "${rss[$name]} / 1024" | bc -l)"
}

tools=(custodian-1seg custodian-640MiB custodian-default)
[ -z "${BASELINE:-}" ] || tools+=(baseline-1seg baseline-default)
[ "${ONLY:-}" = custodian ] || tools+=(dc3dd dcfldd dd-copy md5sum sha1sum sha256sum)
echo "== $ROUNDS interleaved rounds, md5+sha1+sha256, output to $DEST"
for round in $(seq "$ROUNDS"); do
  for t in "${tools[@]}"; do
    case $t in
    custodian-1seg)    run "$t" "$WORK/custodian" acquire "$dev" -o "$(o $t)" --name img --hash md5,sha1,sha256 --segment-hash none --segment-size 0 --json ;;
    custodian-640MiB)  run "$t" "$WORK/custodian" acquire "$dev" -o "$(o $t)" --name img --hash md5,sha1,sha256 --segment-hash none --segment-size 640MiB --json ;;
    custodian-default) run "$t" "$WORK/custodian" acquire "$dev" -o "$(o $t)" --name img --hash md5,sha1,sha256 --json ;;
    baseline-1seg)     run "$t" "$WORK/custodian-baseline" acquire "$dev" -o "$(o $t)" --name img --hash md5,sha1,sha256 --segment-hash none --segment-size 0 --json ;;
    baseline-default)  run "$t" "$WORK/custodian-baseline" acquire "$dev" -o "$(o $t)" --name img --hash md5,sha1,sha256 --json ;;
    dc3dd)             run "$t" dc3dd if="$dev" of="$(o $t)/img.raw" hash=md5 hash=sha1 hash=sha256 log="$(o $t)/log" ;;
    dcfldd)            run "$t" dcfldd if="$dev" of="$(o $t)/img.raw" hash=md5,sha1,sha256 hashlog="$(o $t)/hashes" ;;
    dd-copy)           run "$t" dd if="$dev" of="$(o $t)/img.raw" bs=4M ;;
    *sum)              run "$t" "$t" "$dev" ;;
    esac
  done
done
for t in "${tools[@]}"; do report "$t"; done
if [ -n "${BASELINE:-}" ]; then
  printf 'this tree vs %s, 1 segment:  %5.2fx time\n' "$BASELINE" "$(echo "${secs[custodian-1seg]} / ${secs[baseline-1seg]}" | bc -l)"
  printf 'this tree vs %s, default:    %5.2fx time\n' "$BASELINE" "$(echo "${secs[custodian-default]} / ${secs[baseline-default]}" | bc -l)"
fi
if [ "${ONLY:-}" = custodian ]; then exit 0; fi

echo "== Go's hashes, one core (go test -bench BenchmarkAlgorithm ./hashing)"
declare -A gosec
while read -r name mbs; do
  gosec[$name]=$(echo "$bytes / ($mbs * 1000000)" | bc -l)
  printf '%-28s %7.2f s %8.0f MB/s\n' "go-$name" "${gosec[$name]}" "$mbs"
done < <(cd "$REPO" && go test -run '^$' -bench 'BenchmarkAlgorithm/(md5|sha1|sha256)$' -benchtime 2s ./hashing | awk '/MB\/s/ {split($1,a,"/"); sub(/-[0-9]+$/,"",a[2]); print a[2], $(NF-1)}')

cores=$(nproc)
slowest=$(printf '%s\n' "${gosec[@]}" | sort -g | tail -1)
sum=$(printf '%s+' "${gosec[@]}"); sum=$(echo "(${sum%+}) / $cores" | bc -l)
bound=$(printf '%s\n' "$slowest" "$sum" "${secs[dd-copy]}" | sort -g | tail -1)

echo
echo "== ratios (higher throughput is better)"
c=${secs[custodian-1seg]}
printf 'custodian vs dc3dd  (throughput ratio):   %5.2fx   (target >= 2.5)\n' "$(echo "${secs[dc3dd]} / $c" | bc -l)"
printf 'custodian vs dcfldd (throughput ratio):   %5.2fx   (target >= 4)\n' "$(echo "${secs[dcfldd]} / $c" | bc -l)"
printf 'custodian 640MiB segments vs 1 segment:   %5.2fx time\n' "$(echo "${secs[custodian-640MiB]} / $c" | bc -l)"
printf 'custodian default (+segment sha256) vs dc3dd: %5.2fx\n' "$(echo "${secs[dc3dd]} / ${secs[custodian-default]}" | bc -l)"
printf 'bound = max(slowest hash %.2f s, sum/%d cores %.2f s, dd copy %.2f s) = %.2f s\n' "$slowest" "$cores" "$sum" "${secs[dd-copy]}" "$bound"
printf 'custodian time / bound:                   %5.2fx   (target <= 1.15)\n' "$(echo "$c / $bound" | bc -l)"
printf 'custodian peak RSS:                       %5.1f MiB (target <= 256 MiB, same for 2 and 8 GiB)\n' "$(echo "${rss[custodian-1seg]} / 1024" | bc -l)"

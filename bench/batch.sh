#!/bin/sh
# bench/batch.sh: custodian batch's wall time against the same jobs one
# after another (--jobs 1), for 2 and 4 page-cached loop devices (hashing
# is the limit), 2 FUSE disks throttled to a fixed rate (each disk's
# read speed is the limit, as with USB disks), and 4 such disks. The runs of one set-up are
# interleaved round by round (jobs 1, 2, [4], jobs 1, 2, [4], ...), so the
# machine's other load hits all of them alike.
#
# Needs root, /dev/fuse and losetup. Knobs (environment):
#   ROUNDS=3            rounds per set-up
#   BATCH_MIB=256       size of each cached device
#   BATCH_SLOW_MIB=48   size of each slow device
#   BATCH_SLOW_RATE=16  MiB/s of each slow device
#   ONLY=slow-4         one set-up (cached-2, cached-4, slow-2, slow-4)
#
# Output: one line per set-up with s/jobsN (mean wall time of a whole
# batch) and speedup-jobsN (jobs 1's time over jobs N's).
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
export BATCH_MIB=${BATCH_MIB:-256} BATCH_SLOW_MIB=${BATCH_SLOW_MIB:-48} BATCH_SLOW_RATE=${BATCH_SLOW_RATE:-16}
echo "cores: $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)"
go test -c -o /tmp/custodian-batch-bench.test ./cmd
# The bench lock keeps benchmarks apart; the devices lock keeps loop and
# FUSE tests (TestWatch* makes new loop devices read-only) away meanwhile.
flock /tmp/custodian-bench.lock flock /tmp/custodian-devices.lock \
	/tmp/custodian-batch-bench.test -test.run '^$' -test.bench "^BenchmarkBatch\$/${ONLY:-}" -test.benchtime "${ROUNDS}x"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

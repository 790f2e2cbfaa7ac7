#!/bin/sh
# mpi/check.sh BINDIR EXDIR -- the promise of mpi_train, checked on a reduced Fashion-MNIST run
# (make mpi-check; docs/scale-out.md):
#   1. serial_train (one process, no MPI) and mpi_train on 1, 2 and 4 processes save weight files
#      that are the same byte for byte; any difference fails the check;
#   2. killing one rank (kill -9) mid-run ends every rank within seconds, mpirun says which rank
#      died, and the last checkpoint loads (examples/fashion_mnist --load);
#   3. resumed from that checkpoint (on 4 processes), the job ends with the weights of one
#      process that never stopped.
# BINDIR holds mpi_train and serial_train, EXDIR the examples. MPI_TRAIN_ARGS (optional) is added
# to the mpi_train runs: MPI_TRAIN_ARGS="--reduce allreduce" (a plain MPI_Allreduce) must make
# step 1 fail, which shows that the comparison can fail.
set -u
bindir=${1:-build/mpi}
exdir=${2:-examples}
if [ "$(id -u)" = 0 ]; then # Open MPI's mpirun refuses root without these
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# Containers often forbid the cross-process memory copy (CMA) that Open MPI's shared-memory
# transport uses by default; copying through its shared buffers works everywhere.
export OMPI_MCA_btl_vader_single_copy_mechanism="${OMPI_MCA_btl_vader_single_copy_mechanism:-none}"
tmp=$(mktemp -d /tmp/backprop-mpi-check.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
say() { echo "mpi-check: $*"; }
fail() { echo "mpi-check: FAILED: $*" >&2; exit 1; }

# ---- 1. the same weights for 1, 2, 4 processes and the one-process reference ----------------
# 2010 images: 31 full batches of 64 (4 micro-batches of 16) and a last batch of 26 (micro-batches
# of 16 and 10: on 4 processes two ranks hold none), so uneven shares are checked too.
args="--train-size 2010 --test-size 500 --epochs 2 --batch 64 --micro-batch 16 --quiet"
"$bindir/serial_train" $args --save "$tmp/serial.bin" >"$tmp/serial.out" 2>&1 ||
    { cat "$tmp/serial.out"; fail "serial_train did not run"; }
say "serial_train:   $(grep '^result:' "$tmp/serial.out")"
for n in 1 2 4; do
    # shellcheck disable=SC2086
    mpirun --oversubscribe -np $n "$bindir/mpi_train" $args ${MPI_TRAIN_ARGS:-} \
        --save "$tmp/np$n.bin" >"$tmp/np$n.out" 2>&1 ||
        { cat "$tmp/np$n.out"; fail "mpi_train on $n processes did not run"; }
    say "mpi_train -np $n: $(grep '^result:' "$tmp/np$n.out")"
    cmp "$tmp/serial.bin" "$tmp/np$n.bin" ||
        fail "the weights of $n processes differ from the one-process run's"
done
say "1, 2 and 4 processes and the one-process run saved the same weights, byte for byte"

# ---- 2. a rank killed mid-run ends the job; the last checkpoint loads ------------------------
mpirun --oversubscribe -np 2 "$bindir/mpi_train" --train-size 2010 --test-size 500 \
    --epochs 1000 --batch 64 --micro-batch 16 --checkpoint "$tmp/ckpt.bin" \
    >"$tmp/kill.out" 2>"$tmp/kill.err" &
job=$!
waited=0 # until a checkpoint is written (at most 30 s)
while [ ! -s "$tmp/ckpt.bin" ] && [ $waited -lt 300 ] && kill -0 $job 2>/dev/null; do
    sleep 0.1; waited=$((waited + 1))
done
victim=$(sed -n 's/^mpi_train: rank 1 of 2 is pid \([0-9]*\) .*/\1/p' "$tmp/kill.err")
survivor=$(sed -n 's/^mpi_train: rank 0 of 2 is pid \([0-9]*\) .*/\1/p' "$tmp/kill.err")
if [ ! -s "$tmp/ckpt.bin" ] || [ -z "$victim" ] || [ -z "$survivor" ]; then
    kill $job 2>/dev/null
    cat "$tmp/kill.out" "$tmp/kill.err"
    fail "the job to kill wrote no checkpoint or no pids within 30 s"
fi
sleep 0.5 # into the middle of a later epoch
kill -9 "$victim"
waited=0 # every rank must be gone within 10 s
while kill -0 $job 2>/dev/null && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
if kill -0 $job 2>/dev/null; then
    kill $job 2>/dev/null
    fail "mpirun still runs 10 s after rank 1 was killed"
fi
wait $job
status=$?
while kill -0 "$survivor" 2>/dev/null && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -0 "$survivor" 2>/dev/null && fail "rank 0 (pid $survivor) still runs 10 s after rank 1 was killed"
[ $status -ne 0 ] || fail "mpirun exited with status 0 after a rank was killed"
grep -q "exited on signal 9" "$tmp/kill.err" ||
    { cat "$tmp/kill.err"; fail "mpirun did not say that a rank was killed"; }
say "rank 1 killed: every rank gone within $((waited / 10)).$((waited % 10)) s, mpirun's status $status; it said:"
grep "exited on signal" "$tmp/kill.err" | sed 's/^/    /'
"$exdir/fashion_mnist" --load "$tmp/ckpt.bin" --epochs 0 --test-size 500 --quiet \
    >"$tmp/load.out" 2>&1 || { cat "$tmp/load.out"; fail "the last checkpoint does not load"; }
say "the last checkpoint loads: $(grep '^weights loaded' "$tmp/load.out")"

# ---- 3. the job resumed from that checkpoint ends as if it never stopped -------------------
# The checkpoint holds the epochs whose line says so (or one more, had the kill come between the
# save and the line): go on to two epochs beyond, on 4 processes, and compare with one process
# that ran them all without a stop.
saved=$(grep -c "checkpoint saved" "$tmp/kill.out")
total=$((saved + 2))
common="--train-size 2010 --test-size 500 --batch 64 --micro-batch 16 --quiet --epochs $total"
# shellcheck disable=SC2086
mpirun --oversubscribe -np 4 "$bindir/mpi_train" $common --resume "$tmp/ckpt.bin" \
    --save "$tmp/resumed.bin" >"$tmp/resume.out" 2>&1 ||
    { cat "$tmp/resume.out"; fail "mpi_train could not resume from the checkpoint"; }
# shellcheck disable=SC2086
"$bindir/serial_train" $common --save "$tmp/straight.bin" >"$tmp/straight.out" 2>&1 ||
    { cat "$tmp/straight.out"; fail "serial_train did not run"; }
cmp "$tmp/straight.bin" "$tmp/resumed.bin" ||
    fail "resumed from the checkpoint on 4 processes, the weights after $total epochs differ from those of one process that never stopped"
say "resumed on 4 processes after epoch $saved (or $((saved + 1))) to epoch $total: the same weights as one process that never stopped"
say "passed"

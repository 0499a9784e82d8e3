#!/usr/bin/env bash
# The Slurm executor against a real single-node Slurm (tools/slurm_single_node.sh), as CI runs it:
#  1. requests the partition can never meet fail in one line before anything is submitted;
#  2. a tiny grid runs through --executor slurm to its leaderboard, one of its tasks killed
#     and requeued by Slurm mid-training (scontrol requeue): it resumes and finishes;
#  3. submitit's sacct warnings (no accounting here) appear at most once.
# Run from the repository root with the virtual environment active.
set -euo pipefail
tools/slurm_single_node.sh start >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tiny=(--methods infonce --datasets synthrs-tiny --noise 0,0.4 --seeds 0 --epochs 2 --out "$work/runs")

echo "-- impossible requests are refused before submission"
for bad in "" "--gpus-per-task 1 -x cpus_per_task=1" "--gpus-per-task 0 -x cpus_per_task=64" \
           "--gpus-per-task 0 -x cpus_per_task=1 --time 2:00:00"; do
  set +e
  # shellcheck disable=SC2086
  err=$(rsbench run "${tiny[@]}" --executor slurm $bad 2>&1 >/dev/null)
  rc=$?
  set -e
  lines=$(printf '%s\n' "$err" | grep -c . || true)
  echo "  [$bad] exit $rc: $err"
  [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && ! grep -q Traceback <<<"$err" \
    || { echo "FAIL: expected one line and exit 2" >&2; exit 1; }
done
[ -z "$(squeue -h)" ] || { echo "FAIL: something was submitted" >&2; exit 1; }

echo "-- a tiny grid through Slurm, one task requeued mid-training"
log="$work/run.log"
rsbench run "${tiny[@]}" --executor slurm --gpus-per-task 0 -x cpus_per_task=1 --time 10 \
  -x wait=true --leaderboard-dir "$work/board" >"$log" 2>&1 &
run=$!
requeued=""
for _ in $(seq 300); do
  task=$(squeue -h -r -t RUNNING -o "%i" | head -1)
  if [ -n "$task" ]; then
    sleep 4  # inside its training
    scontrol requeue "$task" && requeued="$task"
    # a requeued job waits about two minutes (its BeginTime) before it may start again
    for _ in $(seq 40); do
      [ "$(squeue -h -j "$task" -o %T)" = PENDING ] && scontrol update JobId="$task" StartTime=now && break
      sleep 0.5
    done
    break
  fi
  sleep 0.5
done
wait "$run" || { cat "$log" >&2; echo "FAIL: the grid did not finish" >&2; exit 1; }
cat "$log"
[ -n "$requeued" ] || { echo "FAIL: no task was seen running to requeue" >&2; exit 1; }
echo "requeued $requeued"
python - "$work/runs" <<'PY'
import sys
from rsbench.records.read import iter_records
records = list(iter_records([sys.argv[1]]))
assert len(records) == 2 and all(r["status"] == "ok" for r in records), records
print("records:", [(r["noise"]["ratio"], r["metrics"]["mR"]) for r in records])
PY
[ -f "$work/board/synthrs-tiny.md" ] || { echo "FAIL: no leaderboard" >&2; exit 1; }
sacct_lines=$(grep -c "sacct" "$log" || true)
[ "$sacct_lines" -le 2 ] || { echo "FAIL: $sacct_lines lines about sacct" >&2; exit 1; }
echo "Slurm smoke test passed"

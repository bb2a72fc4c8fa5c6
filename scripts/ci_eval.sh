#!/usr/bin/env bash
# CI evaluation gate: run the full evaluation set (eval/) with the real bundled model, the pipeline and
# both baselines, write eval/reports/latest.{json,md,png}, print the table, and exit 3 when a metric of
# the shipped pipeline misses its bound in eval/thresholds.json.
#
#   EVAL_INDEX=/tmp/idx bash scripts/ci_eval.sh   # index folder (default: index/, git-ignored; built if missing)
#   EVAL_OUT=/tmp/reports bash scripts/ci_eval.sh # report folder (default: eval/reports)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
INDEX="${EVAL_INDEX:-index}"
OUT="${EVAL_OUT:-eval/reports}"
start=$(date +%s)
status=0
"$PY" -m assistant -q --index "$INDEX" eval --out "$OUT" --check eval/thresholds.json || status=$?
echo "ci_eval: exit ${status} after $(( $(date +%s) - start )) s; reports in ${OUT}/" >&2
exit "$status"

#!/usr/bin/env bash
# Benchmark of `portmatrix audit flows` (bench/README.md, section "audit flows"),
# in one run:
#   1. classification per core: pm_match alone, in memory (an ignored test, release);
#   2. RECORDS records of AWS Parquet on THREADS cores, end to end: wall time and peak memory;
#   3. DuckDB (from PyPI, in a venv under bench/out/) running the same classification
#      join on the same files, same cores; its per-intent totals compared with ours.
#
# usage: bench/audit.sh [RECORDS]        (default 100000000; FILES=10 THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."

RECORDS=${1:-100000000}
FILES=${FILES:-10}
THREADS=${THREADS:-2}
INV=${INV:-examples/mixed.yaml}
OUT=bench/out/audit
PM=target/release/portmatrix
mkdir -p "$OUT"

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
# One build for the binary and the example: building them with different
# package selections would resolve features differently and build DataFusion twice.
cargo build --release -q --workspace --bins --examples

# Runs a command; prints its wall time and the peak resident memory of the
# process tree. Its stderr (the inventory's warnings, progress) goes to
# $OUT/stderr.log.
measure() {
  python3 - "$OUT/stderr.log" "$@" <<'PY'
import resource, subprocess, sys, time
t = time.time()
with open(sys.argv[1], "a") as err:
    rc = subprocess.call(sys.argv[2:], stderr=err)
dt = time.time() - t
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1048576
print(f"   wall {dt:.1f} s, peak RSS {peak:.2f} GiB, exit {rc}")
sys.exit(0 if rc in (0, 1) else rc)
PY
}

echo "== 1. classification on one core (pm_match, records in memory)"
target/release/examples/bench_classify

per=$((RECORDS / FILES))
stamp="$OUT/.flows-$RECORDS"
if [ ! -f "$stamp" ]; then
  echo "== generating $RECORDS records in $FILES Parquet files"
  rm -f "$OUT"/flows-*.parquet "$OUT"/.flows-*
  seq 0 $((FILES - 1)) | xargs -P "$THREADS" -I{} \
    "$PM" audit generate -i "$INV" --format aws-parquet --ipv4-only --records "$per" --seed {} -o "$OUT/flows-{}.parquet" 2>>"$OUT/stderr.log"
  touch "$stamp"
fi
du -sh "$OUT"/flows-*.parquet | tail -1 >/dev/null
echo "   $(du -ch "$OUT"/flows-*.parquet | tail -1 | cut -f1) of Parquet"

echo "== 2a. portmatrix, one file ($per records), 1 core"
measure "$PM" audit flows -i "$INV" "$OUT/flows-0.parquet" --threads 1 --format json -o "$OUT/pm-one.json"
python3 -c "import json; s=json.load(open('$OUT/pm-one.json'))['summary']; print('   records', s['records'])"

echo "== 2b. portmatrix, all files ($RECORDS records), $THREADS cores"
measure "$PM" audit flows -i "$INV" "$OUT"/flows-*.parquet --threads "$THREADS" --format json -o "$OUT/pm.json"

echo "== 3. DuckDB, same files, same join, $THREADS cores"
for t in intents intent_sources intent_destinations intent_ports intent_src_ports; do
  "$PM" audit flows -i "$INV" "$OUT/flows-0.parquet" --sql "SELECT * FROM $t" --format parquet -o "$OUT/$t.parquet" 2>>"$OUT/stderr.log" || [ $? = 1 ]
done
VENV=bench/out/venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || "$VENV/bin/pip" install -q duckdb
measure "$VENV/bin/python" bench/audit_duckdb.py "$OUT" "$THREADS" "$OUT/duckdb.json" "$OUT"/flows-*.parquet

echo "== results compared (records credited per intent and action)"
python3 - "$OUT/pm.json" "$OUT/duckdb.json" <<'PY'
import json, sys
pm, dk = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ours = {}
for row in pm["planned"]:
    if row["class"] in ("planned-seen", "planned-rejected"):
        ours[(row["intent"], row["class"] == "planned-seen")] = row["traffic"]["records"]
theirs = {(r[0], bool(r[1])): r[2] for r in dk["per_intent"]}
unplanned = sum(u["traffic"]["records"] for u in pm["unplanned"])
same = ours == theirs and unplanned == dk["unplanned_records"]
print(f"   portmatrix {len(ours)} intent rows, {unplanned} unplanned records; "
      f"DuckDB {len(theirs)} intent rows, {dk['unplanned_records']} unplanned records: "
      + ("identical" if same else "DIFFERENT"))
if not same:
    for k in sorted(set(ours) | set(theirs)):
        if ours.get(k) != theirs.get(k):
            print("   ", k, ours.get(k), theirs.get(k))
            break
    sys.exit(1)
PY

#!/usr/bin/env bash
# Run every benchmark in benchmarks/ once, one after another, in full mode (no --quick), and
# keep the output for BENCHMARKS.md:
#
#   benchmarks/out/NAME.jsonl   the benchmark's stdout (one JSON object per line)
#   benchmarks/out/NAME.log     its stderr (human-readable notes and tables)
#   benchmarks/out/machine.txt  date, commit, cores, memory, CPU, Python, Docker, load average
#   benchmarks/out/times.txt    start and end time and exit status of each benchmark
#
# Run from anywhere: bash benchmarks/run_all.sh
# Takes about 35 minutes on a 2-core VM (plangen_natural_plan alone about 18, tail_latency 4).
# Run it on an otherwise idle machine.
#
# The sandbox benchmarks need a Docker daemon and the image forethought-sandbox:latest; this
# script starts dockerd if none answers (it must run as root for that) and builds the image
# (`uv run python -m forethought.sandbox.image`, a few seconds, nothing pulled).
# The data sets are read from ../shared/data (relative to the repository root).
set -u

cd "$(dirname "$0")/.."
OUT=benchmarks/out
mkdir -p "$OUT"

BENCHMARKS=(
    runtime_overhead
    parallel_speedup
    import_time
    sandbox_latency
    humaneval_canonical
    folio_gold_fol
    smt_throughput
    verifier_throughput
    retrieval_recall
    strategy_scaling
    search_overhead
    game24
    aot_prompt_length
    eval_throughput
    budget_overshoot
    adaptive_concurrency
    graph_scaling
    trace_page
    repl_latency
    tail_latency
    plangen_natural_plan
)

stamp() { date -u '+%Y-%m-%d %H:%M:%S UTC'; }

# --- Docker daemon and sandbox image -----------------------------------------------------
if ! timeout 20 docker info >/dev/null 2>&1; then
    echo "[$(stamp)] no Docker daemon answers; starting dockerd (log: /tmp/forethought-dockerd.log)"
    (dockerd >/tmp/forethought-dockerd.log 2>&1 &)
    for _ in $(seq 1 60); do
        timeout 5 docker info >/dev/null 2>&1 && break
        sleep 1
    done
fi
if timeout 20 docker info >/dev/null 2>&1; then
    echo "[$(stamp)] Docker daemon answers; building the sandbox image"
    if ! uv run python -m forethought.sandbox.image; then
        echo "[$(stamp)] WARNING: building the sandbox image failed; the Docker rows will be skipped" >&2
    fi
else
    echo "[$(stamp)] WARNING: no Docker daemon; sandbox_latency and humaneval_canonical" \
         "will measure the process backend only" >&2
fi

# --- Machine facts -----------------------------------------------------------------------
{
    echo "date: $(date -u)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!BENCHMARKS.md' ':!benchmarks/README.md' ':!benchmarks/run_all.sh' 2>/dev/null || echo ' (plus uncommitted changes)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "kernel: $(uname -sr)"
    echo "python: $(uv run python --version 2>&1)"
    echo "uv: $(uv --version 2>&1)"
    echo "docker: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo 'not available')"
    echo "cgroup: $(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
    echo "eprover: $(eprover --version 2>/dev/null | head -1 || echo 'not installed')"
    echo "load average (before): $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "free -h:"
    free -h
} > "$OUT/machine.txt"
cat "$OUT/machine.txt"

# --- The benchmarks ----------------------------------------------------------------------
: > "$OUT/times.txt"
failed=()
run_started=$(date +%s)
for name in "${BENCHMARKS[@]}"; do
    start=$(date +%s)
    echo "[$(stamp)] start $name (load average $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$OUT/times.txt"
    uv run python "benchmarks/$name.py" > "$OUT/$name.jsonl" 2> "$OUT/$name.log"
    rc=$?
    end=$(date +%s)
    echo "[$(stamp)] end   $name: exit $rc, $((end - start)) s (load average $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$OUT/times.txt"
    [ "$rc" -eq 0 ] || failed+=("$name")
done

{
    echo "load average (after): $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "finished: $(date -u), total $(( $(date +%s) - run_started )) s"
} | tee -a "$OUT/machine.txt"

if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]} (see benchmarks/out/NAME.log)" >&2
    exit 1
fi
echo "all ${#BENCHMARKS[@]} benchmarks ran; outputs in $OUT/"

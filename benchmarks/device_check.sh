#!/usr/bin/env bash
# The prepared GPU check, one script, at most ~8 minutes on one H200:
#   1. the CUDA tests: tests/test_gpu.py whole, and every test marked `gpu` in the other files;
#   2. benchmarks/alexnet_gpu.py: synthetic vs real data (generated JPEGs, or --data / Imagenette),
#      fp32 eager vs bf16 compiled, TFLOP/s vs peak, time to accuracy;
#   3. lecture 07 and the ps5 solution, executed headless on the GPU (figures kept).
# Everything (logs, executed notebooks, their figures as PNG, the benchmark's JSON, a summary)
# ends up in ONE file: $OUT/device-check.tar.gz ($OUT defaults to ./device-check-out). The
# summary is also printed at the end. A failing step is recorded and the next one runs.
#
# Python: the machine's python3 with its CUDA torch (never reinstalled). Missing pure-Python
# dependencies are pip-installed into a venv that sees the system packages (.device-venv),
# with torch, numpy and the NVIDIA wheels pinned to what is installed; if pip cannot reach a
# registry the steps that need the missing package fail and say so. course_lib is found via
# PYTHONPATH, so nothing is built or installed from this checkout.
#
# Without CUDA the script refuses, unless DEVICE_CHECK_ALLOW_CPU=1: then it runs a tiny CPU
# mode (a test subset, the benchmark's --smoke, the notebooks on the CPU) to check the plumbing.
# DEVICE_CHECK_SKIP="lecture07 ps5" skips steps by name; DEVICE_CHECK_BUDGET (s, default 450)
# caps the total: a step never gets more than the time left.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
OUT=${OUT:-./device-check-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/device-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
SUMMARY="$WORK/summary.txt"
BUDGET=${DEVICE_CHECK_BUDGET:-450}
SKIP=" ${DEVICE_CHECK_SKIP:-} "
START=$(date +%s)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-default}

note() { echo "$*" | tee -a "$SUMMARY"; }

# step NAME TIMEOUT COMMAND...: run with a timeout (never past the budget), log, record the outcome.
step() {
  local name=$1 limit=$2; shift 2
  if [[ "$SKIP" == *" $name "* ]]; then note "SKIP  $name (DEVICE_CHECK_SKIP)"; return; fi
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if (( left < 20 )); then note "SKIP  $name (budget of ${BUDGET}s spent)"; return; fi
  (( limit > left )) && limit=$left
  local t0=$(date +%s)
  echo "=== $name (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" > "$WORK/$name.log" 2>&1
  local rc=$? dt=$(( $(date +%s) - t0 ))
  tail -n 25 "$WORK/$name.log"
  if (( rc == 0 )); then note "OK    $name (${dt}s)"
  elif (( rc == 124 || rc == 137 )); then note "TIME  $name (killed after ${dt}s)"
  else note "FAIL  $name (rc $rc, ${dt}s; see $name.log)"; fi
}

# --- Python ---------------------------------------------------------------------------------------
PY=""
for candidate in "$ROOT/.device-venv/bin/python" python3 "$ROOT/.venv/bin/python"; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import torch" >/dev/null 2>&1; then
    PY=$(command -v "$candidate"); break
  fi
done
if [[ -z "$PY" ]]; then echo "no python with torch found" | tee "$SUMMARY"; PY=python3; fi
TORCH=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()), "torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)
CUDA=${TORCH%% *}
note "python: $PY; $TORCH"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$SUMMARY"
TINY=0
if [[ "$CUDA" != 1 ]]; then
  if [[ "${DEVICE_CHECK_ALLOW_CPU:-0}" != 1 ]]; then
    note "No CUDA device: nothing to check (DEVICE_CHECK_ALLOW_CPU=1 runs the tiny CPU mode)."
    tar czf "$OUT/device-check.tar.gz" -C "$WORK" . ; exit 2
  fi
  TINY=1; note "TINY CPU MODE (DEVICE_CHECK_ALLOW_CPU=1): plumbing only, not the GPU check"
fi

# Missing pure-Python packages: into a venv over the system site-packages, torch & co. pinned.
MISSING=$("$PY" - <<'EOF'
import importlib.util
need = {"numpy": "numpy", "scipy": "scipy", "matplotlib": "matplotlib", "PIL": "pillow", "tqdm": "tqdm",
        "ipywidgets": "ipywidgets", "IPython": "ipython", "pytest": "pytest", "hypothesis": "hypothesis",
        "nbclient": "nbclient", "nbformat": "nbformat", "ipykernel": "ipykernel"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
EOF
)
if [[ -n "$MISSING" ]]; then
  note "missing: $MISSING"
  if [[ "$PY" != "$ROOT/.device-venv/bin/python" ]]; then
    "$PY" -m venv --system-site-packages "$ROOT/.device-venv" >/dev/null 2>&1 && PY="$ROOT/.device-venv/bin/python"
  fi
  "$PY" -m pip list --format=freeze 2>/dev/null | grep -iE '^(torch|numpy|triton|nvidia-[a-z0-9-]+)==' > "$WORK/constraints.txt"
  step pip_install 180 "$PY" -m pip install --disable-pip-version-check --no-input -c "$WORK/constraints.txt" $MISSING
fi
# The notebooks' "python3" kernel must be this python: a kernelspec of our own, first on JUPYTER_PATH
# (nothing is written outside $WORK).
"$PY" -m ipykernel install --prefix "$WORK/jupyter" --name python3 --display-name "Python 3 (ipykernel)" >/dev/null 2>&1 \
  && export JUPYTER_PATH="$WORK/jupyter/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"

# --- 1. CUDA tests --------------------------------------------------------------------------------
GPU_FILES=$(grep -lE "mark\.(gpu|cuda)\b" tests/*.py | grep -v "tests/test_gpu.py" | tr '\n' ' ')
if (( TINY )); then
  step tests_gpu 120 "$PY" -m pytest -q -p no:cacheprovider -x tests/test_gpu.py -k "lecture_example"
  step tests_marked_gpu 120 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py tests/test_folder_pipeline.py
else
  step tests_gpu 150 "$PY" -m pytest -q -p no:cacheprovider tests/test_gpu.py
  # shellcheck disable=SC2086
  [[ -n "$GPU_FILES" ]] && step tests_marked_gpu 90 "$PY" -m pytest -q -p no:cacheprovider -m gpu $GPU_FILES
fi

# --- 2. the benchmark -----------------------------------------------------------------------------
if (( TINY )); then
  step alexnet_gpu 180 "$PY" benchmarks/alexnet_gpu.py --smoke --json "$WORK/alexnet_gpu.json"
else
  step alexnet_gpu 200 "$PY" benchmarks/alexnet_gpu.py --generate 100 --epochs 20 --json "$WORK/alexnet_gpu.json"
fi

# --- 3. lecture 07 and ps5, headless, figures kept ------------------------------------------------
cat > "$WORK/run_notebook.py" <<'EOF'
import base64, os, sys, time
from pathlib import Path
import nbformat
from course_lib import notebooks
name, path, timeout, work = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
from nbclient import NotebookClient
start, failed = time.perf_counter(), None
nb = nbformat.read(path, as_version=4)
os.environ["MPLBACKEND"] = notebooks.INLINE_BACKEND  # as course_lib.notebooks.execute does
try:  # executed in place: a notebook that fails half-way keeps the outputs it made
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
except Exception as err:
    failed = err
    print(f"{name}: FAILED: {type(err).__name__}: {str(err)[-2000:]}")
if True:
    nbformat.write(nb, work / f"{name}.ipynb")
    figures = work / f"{name}-figures"
    figures.mkdir(exist_ok=True)
    for i, cell in enumerate(nb.cells):
        for j, out in enumerate(cell.get("outputs", [])):
            if "image/png" in out.get("data", {}):
                (figures / f"cell{i:02d}-{j}.png").write_bytes(base64.b64decode(out["data"]["image/png"]))
            for text in [out.get("text", "")] + [out.get("data", {}).get("text/plain", "")]:
                if text:
                    print(f"[cell {i}] {text}".rstrip()[-1500:])
print(f"{name}: {time.perf_counter() - start:.1f} s")
sys.exit(1 if failed else 0)
EOF
step lecture07 240 "$PY" "$WORK/run_notebook.py" lecture07 lectures/07_alexnet_gpu.ipynb 220 "$WORK"
step ps5 150 "$PY" "$WORK/run_notebook.py" ps5 solutions/ps5_alexnet_gpu/ps5_alexnet_gpu.ipynb 140 "$WORK"

# --- bundle ---------------------------------------------------------------------------------------
note "total $(( $(date +%s) - START ))s"
tar czf "$OUT/device-check.tar.gz" -C "$WORK" .
echo "=== summary (all logs, notebooks and figures in $OUT/device-check.tar.gz)"
cat "$SUMMARY"
! grep -qE "^(FAIL|TIME)" "$SUMMARY"

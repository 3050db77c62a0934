#!/usr/bin/env bash
# Runs every example: the scripts examples/NN_*.ts (with tsx) and the notebooks
# examples/NN_*.ipynb (executed top to bottom by Jupyter on the tslab TypeScript kernel).
# Fails when any of them fails, or when a notebook is not up to date with its script.
#
#   scripts/run-examples.sh            # run all; executed notebooks go to a temporary folder
#   scripts/run-examples.sh --update   # execute the notebooks in place (refreshes their outputs)
#   scripts/run-examples.sh 01 03      # only the examples whose name starts with 01 or 03
#
# Needs Jupyter's nbconvert, ipykernel and jupyter_client for the Python given by $PYTHON
# (default /usr/bin/python3; on Debian: apt-get install jupyter-nbconvert python3-ipykernel
# jupyter-client) and `npm ci` done. Builds the package first (the notebooks import ../dist)
# and registers the tslab kernel, if needed, under node_modules/.cache/s3n-jupyter, pointing at
# this checkout's node_modules/.bin/tslab (nothing is installed outside the checkout).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PYTHON=${PYTHON:-/usr/bin/python3}

update=false
filters=()
for arg in "$@"; do
  case $arg in
    --update) update=true ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) filters+=("$arg") ;;
  esac
done
selected() {
  [ ${#filters[@]} -eq 0 ] && return 0
  local f
  for f in "${filters[@]}"; do [[ $(basename "$1") == "$f"* ]] && return 0; done
  return 1
}

if ! "$PYTHON" -c 'import nbconvert, ipykernel, jupyter_client' 2>/dev/null; then
  echo "run-examples: $PYTHON lacks Jupyter (nbconvert, ipykernel, jupyter_client)." >&2
  echo "  Debian: apt-get install -y jupyter-nbconvert python3-ipykernel jupyter-client" >&2
  exit 1
fi
if [ ! -x node_modules/.bin/tslab ] || [ ! -x node_modules/.bin/tsx ]; then
  echo "run-examples: node_modules/.bin/tslab or tsx missing: run npm ci first." >&2
  exit 1
fi

set -e
echo "== notebooks up to date with their scripts"
node scripts/build-notebooks.mjs --check

echo "== npm run build (the notebooks import ../dist)"
npm run build --silent >/dev/null

# The tslab kernel spec, kept inside the checkout and found through JUPYTER_PATH.
kernels="$root/node_modules/.cache/s3n-jupyter"
spec="$kernels/share/jupyter/kernels/tslab/kernel.json"
if [ ! -f "$spec" ] || ! grep -qF "\"$root/node_modules/.bin/tslab\"" "$spec"; then
  echo "== registering the tslab kernel in $kernels"
  node_modules/.bin/tslab install --python="$PYTHON" --binary="$root/node_modules/.bin/tslab" --prefix="$kernels" >/dev/null
fi
export JUPYTER_PATH="$kernels/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export PYDEVD_DISABLE_FILE_VALIDATION=1 # silences a debugger warning of Debian's ipykernel
set +e

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
summary=()
run() { # name, command...
  local name=$1 start end status
  shift
  echo "== $name"
  start=$(date +%s)
  "$@"
  status=$?
  end=$(date +%s)
  if [ $status -eq 0 ]; then
    passed=$((passed + 1))
    summary+=("ok      $((end - start)) s  $name")
  else
    failed=$((failed + 1))
    summary+=("FAILED  $((end - start)) s  $name (exit $status)")
  fi
}

for script in examples/[0-9][0-9]_*.ts; do
  selected "$script" || continue
  run "$script" node_modules/.bin/tsx "$script"
done
for notebook in examples/[0-9][0-9]_*.ipynb; do
  selected "$notebook" || continue
  if $update; then
    where=(--inplace)
  else
    where=(--output-dir "$out")
  fi
  run "$notebook" "$PYTHON" -m jupyter nbconvert --to notebook --execute \
    --ExecutePreprocessor.kernel_name=tslab --ExecutePreprocessor.timeout=1200 "${where[@]}" "$notebook"
done

echo "== summary"
printf '%s\n' "${summary[@]}"
echo "examples: $passed passed, $failed failed"
[ $failed -eq 0 ]

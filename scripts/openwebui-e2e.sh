#!/usr/bin/env bash
# The end-to-end test against a real Open WebUI (tests/openwebui.rs).
#
# Installs each Open WebUI version from PyPI into its own virtualenv (once; there is no image registry here,
# so the test runs the venv in a container on an empty image), then runs the test against all of them.
#
#   scripts/openwebui-e2e.sh                          # 0.6.43 and 0.12.4
#   OWUI_E2E_VERSIONS="0.12.4" scripts/openwebui-e2e.sh
#
# OWUI_E2E_VERSIONS  versions, space-separated (default: 0.6.43 0.12.4)
# OWUI_E2E_CACHE     where the virtualenvs live (default: ~/.cache/owui-bridge-e2e), venv-<version> each
# PYTHON             the Python 3.11 to make them with (default: python3)
# Extra arguments go to the test binary, e.g. `--skip audit` to leave out the audit-log scenario.
#
# Needs Docker, Python 3.11 and network access to PyPI for the first install.
# Logs and received events end up in target/openwebui-e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."

versions=${OWUI_E2E_VERSIONS:-0.6.43 0.12.4}
cache=${OWUI_E2E_CACHE:-$HOME/.cache/owui-bridge-e2e}
python=${PYTHON:-python3}
mkdir -p "$cache"

venvs=()
for v in $versions; do
  venv="$cache/venv-$v"
  if [ ! -x "$venv/bin/open-webui" ]; then
    echo "== installing open-webui==$v into $venv (about 7 GB with its CUDA wheels; several minutes)"
    start=$(date +%s)
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "open-webui==$v"
    echo "== open-webui==$v installed in $(( $(date +%s) - start )) s"
  else
    echo "== open-webui==$v: $venv"
  fi
  venvs+=("$v=$venv")
done

OWUI_E2E_VENVS=$(IFS=,; echo "${venvs[*]}")
export OWUI_E2E_VENVS
echo "== OWUI_E2E_VENVS=$OWUI_E2E_VENVS"
exec cargo test --features openwebui-e2e --test it openwebui -- --test-threads=1 --nocapture "$@"

#!/usr/bin/env bash
# synthgap setup: idempotent, offline-safe (PyPI, Debian and npm only), fast the second time.
#   1. Debian libraries bpy links against + the Sweet Home 3D furniture package (meshes)
#   2. two Python environments, cached outside the clone and keyed by their pinned requirements:
#        .venv-render -> render env (bpy 4.2 + BlenderProc 2.8, numpy 1.26: "Blender's own Python")
#        .venv        -> main env (torch, ultralytics, align/benchmark; numpy 2)
#   3. project hooks: fake-Blender folder for `blenderproc run`, CC0 HDRIs from npm
# Environment: SYNTHGAP_CACHE (default ~/.cache/synthgap), PYTHON (default python3.11).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${SYNTHGAP_CACHE:-$HOME/.cache/synthgap}"
PY="${PYTHON:-python3.11}"
mkdir -p "$CACHE"
log() { echo "[setup] $*" >&2; }
t0=$(date +%s)

# ---- 1. Debian packages --------------------------------------------------------------------------
APT_PKGS="libx11-6 libxext6 libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libgl1 libgomp1 sweethome3d-furniture"
missing=""
for p in $APT_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---- 2. Python environments ----------------------------------------------------------------------
pyver="$("$PY" -c 'import sys; print(sys.version.split()[0])')"
pip_q() {  # pip_q VENV ARGS... : quiet pip install that keeps pip's exit status (drops find-links noise)
  local dir="$1"; shift
  set +o pipefail
  "$dir/bin/pip" install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "is ignored: it is neither" >&2 || true; }
  local rc="${PIPESTATUS[0]}"
  set -o pipefail
  return "$rc"
}
venv_for() {  # venv_for NAME REQFILE LINK [NODEPS_REQFILE] -> creates (once) and links the env
  local name="$1" req="$2" link="$3" nodeps="${4:-}" h dir
  h="$( (cat "$req" ${nodeps:+"$nodeps"}; echo "$pyver") | sha256sum | cut -c1-12)"
  dir="$CACHE/venv-$name-$h"
  if [ ! -f "$dir/.complete" ]; then
    log "creating $name environment in $dir (first time only; a few minutes)"
    rm -rf "$dir"
    "$PY" -m venv "$dir"
    pip_q "$dir" -r "$req"
    if [ -n "$nodeps" ]; then pip_q "$dir" --no-deps -r "$nodeps"; fi
    touch "$dir/.complete"
  fi
  ln -sfn "$dir" "$link"
}
venv_for render "$REPO/requirements/render.txt" "$REPO/.venv-render" &
pid_render=$!
venv_for main "$REPO/requirements/main.txt" "$REPO/.venv" "$REPO/requirements/main-nodeps.txt" &
pid_main=$!
wait $pid_render || { log "render environment failed"; exit 1; }
wait $pid_main || { log "main environment failed"; exit 1; }

# ---- 3. project hooks (each idempotent and fast when already done) -------------------------------
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
"$REPO/.venv-render/bin/python" -m render.envsetup
"$REPO/.venv/bin/python" -m render.assets_setup
log "ready in $(( $(date +%s) - t0 )) s  (main: $REPO/.venv  render: $REPO/.venv-render)"

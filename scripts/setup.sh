#!/usr/bin/env bash
# Installs what NormForge needs, idempotently: Debian packages (when missing) and a project-local
# Python venv with pinned Halide, CMake and Ninja. Called by `make demo` / `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${NF_VENV:-.venv}
HALIDE_VERSION=21.0.0
# googletest sources (for cross builds), gtest/gmock dev files, CLI11, and for the ARM target:
# the AArch64 cross compiler and qemu-user.
DEB_PACKAGES=(googletest libgtest-dev libgmock-dev libcli11-dev g++ make python3-venv
              g++-aarch64-linux-gnu qemu-user)

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing packages and no apt-get to install them: ${missing[*]}" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then SUDO=sudo; else
      echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1
    fi
  fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp="$VENV/.nf-setup-$HALIDE_VERSION"
if [ ! -f "$stamp" ]; then
  PY=${PYTHON:-python3}
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "halide==$HALIDE_VERSION" "cmake>=3.28" ninja
  touch "$stamp"
fi

#!/usr/bin/env bash
# Creates .venv/ in the repo root (if missing) with the pinned Python clients used by
# tests/clients: boto3, the AWS CLI, pytest, cryptography and prometheus_client (its parser reads
# /metrics). Idempotent: when the venv already
# holds exactly these pins it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PINS=(
    boto3==1.43.11
    botocore==1.43.11
    awscli==1.45.11
    pytest==9.2.0
    cryptography==50.0.2
    prometheus_client==0.26.0
)
VENV=.venv
STAMP="$VENV/.trent-pins"

if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -m venv "$VENV"
fi
if [[ -f "$STAMP" ]] && [[ "$(cat "$STAMP")" == "${PINS[*]}" ]]; then
    exit 0
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}"
printf '%s' "${PINS[*]}" > "$STAMP"

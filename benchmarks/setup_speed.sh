#!/bin/sh
# The setup of a fresh clone, side by side in one run: a plain `pip install -r requirements.lock` into a fresh
# venv against `make setup` (uv, Makefile) on a fresh copy of the tracked files. Each starts from an empty cache
# of its own and from `python3 -m venv`, so both do the whole work a fresh machine would.
# Usage: nice -n 10 sh benchmarks/setup_speed.sh   (never touches the repository's own .venv)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
echo "cores: $(nproc); load average (1, 5, 15 min) before: $(load)"

mkdir -p "$tmp/pip"
t0=$(now)
python3 -m venv "$tmp/pip/.venv"
PIP_CACHE_DIR="$tmp/pip-cache" "$tmp/pip/.venv/bin/python" -m pip install -q -r "$root/requirements.lock" 2>&1 \
    | grep -v "is ignored" || true
t1=$(now)
echo "plain pip install -r requirements.lock: $(echo "$t1 - $t0" | bc) s; load after: $(load)"

mkdir -p "$tmp/clone"
(cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$tmp/clone"
t2=$(now)
PIP_CACHE_DIR="$tmp/uv-pip-cache" UV_CACHE_DIR="$tmp/uv-cache" MUAUDIT_CACHE_DIR="$tmp/muaudit-cache" \
    make -s -C "$tmp/clone" setup
t3=$(now)
echo "make setup (uv): $(echo "$t3 - $t2" | bc) s; load after: $(load)"
echo "ratio make setup / plain pip: $(echo "scale=3; ($t3 - $t2) / ($t1 - $t0)" | bc)"
"$tmp/clone/.venv/bin/python" -m pip freeze --exclude-editable | sort > "$tmp/uv.txt"
"$tmp/pip/.venv/bin/python" -m pip freeze | sort > "$tmp/pip.txt"
echo "packages that differ between the two venvs (pip freeze; expected: uv itself only):"
diff "$tmp/pip.txt" "$tmp/uv.txt" || true

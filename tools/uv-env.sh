#!/bin/sh
# Prints `export UV_...=` lines that give uv the places pip installs from: uv reads none of pip's
# configuration (files or PIP_* variables), so it gets pip's index, extra indexes, find-links, constraints,
# CA file and timeout, as `pip config list` reports them. The PIP_* variables (`:env:`) come last, as they
# take precedence in pip. Usage: eval "$(sh tools/uv-env.sh .venv/bin/python)"
conf=$("$1" -m pip config list 2>/dev/null) || exit 0
{ printf '%s\n' "$conf" | grep -v '^:env:'; printf '%s\n' "$conf" | grep '^:env:'; } | sed -n \
    -e "s/^[^.]*\.index-url=\(.*\)$/export UV_DEFAULT_INDEX=\1/p" \
    -e "s/^[^.]*\.extra-index-url=\(.*\)$/export UV_INDEX=\1/p" \
    -e "s/^[^.]*\.find-links=\(.*\)$/export UV_FIND_LINKS=\1/p" \
    -e "s/^[^.]*\.constraint=\(.*\)$/export UV_CONSTRAINT=\1/p" \
    -e "s/^[^.]*\.cert=\(.*\)$/export SSL_CERT_FILE=\1/p" \
    -e "s/^[^.]*\.default-timeout=\(.*\)$/export UV_HTTP_TIMEOUT=\1/p"
# pip takes the best version over all indexes; uv, by default, stops at the first index that has the package
echo "export UV_INDEX_STRATEGY=unsafe-best-match"

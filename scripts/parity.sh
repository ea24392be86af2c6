#!/bin/bash
# parity: SpamAssassin 4.0.1 (spamd -L, private site config, one
# connection per child, 2 children) and sluice on every message of the
# shared corpus, compared per (message, rule). Extra arguments go to
# internal/cmd/parity (e.g. -every 6, -seed FILE, -crosscheck FILE).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
export SLUICE_SHARED=${SLUICE_SHARED:-$(cd "$top/.." && pwd)/shared}
[ -d "$SLUICE_SHARED/corpus/spamassassin" ] || { echo "parity: corpus missing at $SLUICE_SHARED (set SLUICE_SHARED)" >&2; exit 1; }
command -v spamd >/dev/null || [ -x /usr/sbin/spamd ] || { echo "parity: spamd missing (make peers)" >&2; exit 1; }
export PATH=$PATH:/usr/sbin
cd "$top"
mkdir -p .parity
cross=()
ref=$SLUICE_SHARED/conformance/spamassassin/dev-corpus-sa401.tsv
[ -f "$ref" ] && cross=(-crosscheck "$ref")
go run ./internal/cmd/parity -cache .parity/sa-cache.tsv -md docs/parity.md -tsv docs/parity.tsv "${cross[@]}" "$@"

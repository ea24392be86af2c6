# sluice — build, test and benchmark targets. `make test` is what CI runs.
GO       ?= go
SHARED   ?= $(abspath ../shared)
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 2s
export SLUICE_SHARED ?= $(SHARED)

.PHONY: build test peers vet race fuzz bench bench-lmtp bench-rules parity soak clean

build:
	$(GO) build -o bin/sluice ./cmd/sluice

# Installs the real peers (Postfix, Dovecot, SpamAssassin, ...) when missing,
# then vets and runs every test with the race detector, then the SpamAssassin
# parity guard on 1008 corpus messages, which skips itself under -race (ten
# times slower there) and so runs on its own.
test: peers
	$(GO) vet ./...
	$(GO) test -race -timeout 40m ./...
	$(GO) test -count=1 -timeout 10m -run 'TestSampleAgreement' ./internal/parity

peers:
	./scripts/install-peers.sh

fuzz:
	./scripts/fuzz.sh $(FUZZTIME) $(FUZZMINIMIZETIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Drives sluice and a private Dovecot LMTP with Postfix's smtp-source -L.
bench-lmtp: peers build
	./scripts/bench-lmtp.sh

# One node and two nodes sharing a private redis-server (docs/scaling.md).
.PHONY: bench-cluster
bench-cluster: peers build
	./scripts/bench-cluster.sh

# One-shot start-up: `sluice check` with a warm rules cache vs
# `spamassassin -L -t` on the same message (RUNS=10 each).
.PHONY: bench-check
bench-check: peers build
	./scripts/bench-check.sh

# sluice vs spamd (SpamAssassin's stock rules) and rspamd 3.4 (stock
# configuration, network modules off) on 1000 corpus messages: msg/s and
# CPU per message of each.
bench-rules: peers
	./scripts/bench-rules.sh

# Full pipeline (stock rules, scoring, Sieve, Maildir with fsync) over
# LMTP: p50/p99 latency on 1000 corpus messages, rule-budget overruns, and
# the server's RSS after 1000, 5000 and 10000 deliveries.
.PHONY: bench-latency
bench-latency: build
	./scripts/bench-latency.sh

# 30 minutes of corpus, hostile and slow deliveries at a bounded rate; fails
# if RSS, goroutines or fds grow past the first minute's band.
# DURATION=5m RATE=20 make soak for a shorter run.
soak: build
	./scripts/soak.sh

# sluice vs SpamAssassin 4.0.1 on the whole corpus, per (message, rule):
# writes docs/parity.md (generated part) and docs/parity.tsv. spamd's
# verdicts are cached in .parity/ by message hash; the first run takes
# about 20-30 minutes on two loaded cores, reruns seconds plus sluice.
# PARITY_FLAGS=-seed $(SHARED)/conformance/spamassassin/dev-corpus-sa401.tsv
# takes SpamAssassin's verdicts from the shared file instead of spamd.
parity: peers
	./scripts/parity.sh $(PARITY_FLAGS)

clean:
	rm -rf bin

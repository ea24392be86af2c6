# sluice — build, test and benchmark targets. `make test` is what CI runs.
GO       ?= go
SHARED   ?= $(abspath ../shared)
FUZZTIME ?= 30s
export SLUICE_SHARED ?= $(SHARED)

.PHONY: build test peers vet race fuzz bench bench-lmtp bench-rules clean

build:
	$(GO) build -o bin/sluice ./cmd/sluice

# Installs the real peers (Postfix, Dovecot, SpamAssassin, ...) when missing,
# then vets and runs every test with the race detector.
test: peers
	$(GO) vet ./...
	$(GO) test -race -timeout 40m ./...

peers:
	./scripts/install-peers.sh

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Drives sluice and a private Dovecot LMTP with Postfix's smtp-source -L.
bench-lmtp: peers build
	./scripts/bench-lmtp.sh

# sluice vs spamd on 1000 corpus messages with SpamAssassin's stock rules.
bench-rules: peers
	./scripts/bench-rules.sh

clean:
	rm -rf bin

# Every target runs from a clean clone with only Go, apt-get and (for
# `vendor`) npm: tools are pinned in go.mod and run with `go tool`.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

GO      ?= go
ADDR    ?= 127.0.0.1:8080
BIN     := bin/credits
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PICO    := 2.1.1
HTMX    := 2.0.11
ECHARTS := 5.6.0
# Node projects the tests run (node --test), installed from their committed
# lockfiles by node-deps.
NODE_PROJECTS := internal/relay/testdata/openai-node web/client-ts
# Generated and hand-written Go files, outside .data/ (the private cluster).
GODIRS   = $$($(GO) list -f '{{.Dir}}' ./...)

.PHONY: help build run test bench fuzz generate verify lint db vendor vendor-echarts chromium redis nats node-deps check-generated i18n-add cluster cluster-down cluster-status cluster-deps test-cluster

help: ## show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/credits
	$(GO) build -o $(BIN) ./cmd/credits

# In dev, `run` starts the payment sandbox first and waits until it listens
# (it writes the shared dev keys in PAYSIM_KEY_DIR before listening, so serve
# loads the same keys), then the fake upstream (upstreamsim) and the
# OpenAI-compatible gateway with its demo upstream, each waited for in turn
# (two processes opening the database at once race in its bootstrap); all
# of them stop when serve exits.
run: build ## migrate, seed and serve on http://127.0.0.1:8080 (ADDR=…); in dev also the payment sandbox (PAYSIM_ADDR, 127.0.0.1:8090), upstreamsim (UPSTREAMSIM_ADDR, 127.0.0.1:8092) and the gateway (RELAY_ADDR, 127.0.0.1:8081)
	$(BIN) migrate
	$(BIN) seed
	@pids=; trap 'kill $$pids 2>/dev/null; wait $$pids 2>/dev/null' EXIT; \
	listening() { for i in $$(seq 50); do (exec 3<>/dev/tcp/$${1%:*}/$${1##*:}) 2>/dev/null && return; sleep 0.2; done; }; \
	if [ "$${APP_ENV:-dev}" = dev ]; then \
		if [ "$${PAYMENT_SANDBOX:-true}" != false ]; then \
			echo "payment sandbox: $(BIN) paysim (scan-to-pay pages at http://$${PAYSIM_ADDR:-127.0.0.1:8090}/)"; \
			$(BIN) paysim & pids="$$pids $$!"; \
			listening $${PAYSIM_ADDR:-127.0.0.1:8090}; \
		fi; \
		sim=$${UPSTREAMSIM_ADDR:-127.0.0.1:8092}; \
		$(BIN) upstreamsim --addr $$sim & pids="$$pids $$!"; \
		listening $$sim; \
		$(BIN) gateway --demo http://$$sim/v1 & pids="$$pids $$!"; \
		listening $${RELAY_ADDR:-127.0.0.1:8081}; \
	fi; \
	$(BIN) serve --addr $(ADDR)

# The web package alone takes 9-12 minutes on two quiet cores and more than
# 20 when they are shared: the timeout is a hang's safety net, not a budget.
test: chromium redis nats node-deps check-generated ## run every test, Chromium journeys, Redis, NATS JetStream and the Node clients included (installs Chromium, Redis, nats-server and the Node projects' packages when missing)
	REQUIRE_REDIS=1 REQUIRE_NATS=1 $(GO) test -timeout 45m ./...

bench: ## run the benchmarks (not part of make test), one package at a time
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -timeout 30m ./...

fuzz: ## fuzz the gateway API's JSON bodies for a minute (the seeds run in make test)
	$(GO) test ./web -run '^$$' -fuzz '^FuzzAPIBodies$$' -fuzztime 60s

generate: node-deps ## generate Go code from the templ files, and the Go and TypeScript clients from web/openapi.yaml
	$(GO) tool templ generate
	$(GO) generate ./web/client
	cd web/client-ts && npm run --silent generate

verify: generate ## regenerate, then fail if that changed any committed file
	git diff --exit-code

lint: ## gofmt check, go vet, staticcheck
	@out=$$(gofmt -l $(GODIRS)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

# The highly available topology on this machine (internal/cluster): three
# etcd members, Patroni with a primary and a synchronous standby, HAProxy in
# front of PostgreSQL and of 3 serve + 2 gateway instances, the cluster's own
# NATS and Redis, all on loopback ports 27300-27499 under .data/cluster.
cluster: build cluster-deps ## start the cluster (a fresh one each time) and print its URLs; installs patroni, etcd-server, haproxy, nats-server, redis-server when missing
	$(BIN) cluster up

cluster-down: build ## stop every process of the cluster (its data stays in .data/cluster until the next make cluster)
	$(BIN) cluster down

cluster-status: build ## list the cluster's processes and Patroni's roles
	$(BIN) cluster status

# test-cluster starts its own cluster (ports 28300-28499, .data/cluster-test),
# puts it under steady load through HAProxy and runs the faults one after the
# other, printing the report; the cluster is stopped even when a test fails.
test-cluster: cluster-deps build ## the fault tests: kill -9 a serve instance, kill -9 the PostgreSQL primary, restart NATS, cut Redis (own cluster, ~4 min)
	@CLUSTER_TEST=1 $(GO) test -count=1 -timeout 12m -v -run '^TestCluster' ./internal/cluster; rc=$$?; \
	$(BIN) cluster down --dir .data/cluster-test >/dev/null; exit $$rc

cluster-deps:
	@missing=; for b in patroni etcd haproxy nats-server redis-server; do \
		command -v $$b >/dev/null || [ -x /usr/sbin/$$b ] || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ] || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then \
		echo "installing patroni, etcd-server, haproxy, nats-server, redis-server and postgresql for the cluster (missing:$$missing)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
			patroni etcd-server haproxy nats-server redis-server postgresql; \
	fi

db: ## find or start PostgreSQL (127.0.0.1:5432, else a private cluster in .data/) and print its URL
	$(GO) run ./cmd/credits db

# check-generated fails when the templ output is stale or any Go file is not
# gofmt-clean (it regenerates the files, so a second run passes once they are
# committed).
check-generated:
	@before=$$(find . -name '*_templ.go' -not -path './.data/*' | sort | xargs -r sha256sum); \
	out=$$($(GO) tool templ generate 2>&1) || { echo "$$out"; exit 1; }; \
	after=$$(find . -name '*_templ.go' -not -path './.data/*' | sort | xargs -r sha256sum); \
	if [ "$$before" != "$$after" ]; then echo "templ output was out of date: ran 'make generate'; commit the *_templ.go files"; exit 1; fi
	@out=$$(gofmt -l $(GODIRS)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# redis makes sure a Redis answers on 127.0.0.1:6379 for the shared rate
# limiter's tests: it starts Debian's redis-server (installing it when
# missing) with nothing kept on disk.
redis:
	@if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then \
		if ! command -v redis-server >/dev/null; then \
			echo "installing redis-server for the tests"; \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends redis-server; \
		fi; \
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null; \
		for i in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done; \
	fi

# nats makes sure a NATS server with JetStream answers on 127.0.0.1:4222
# for the usage stream's tests: it starts Debian's nats-server (installing it
# when missing) with its JetStream store in a temporary folder.
nats:
	@if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then \
		if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then \
			echo "installing nats-server for the tests"; \
			$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nats-server; \
		fi; \
		sd=$$(mktemp -d /tmp/credits-nats.XXXXXX); \
		PATH="$$PATH:/usr/sbin" setsid nats-server -js -a 127.0.0.1 -p 4222 -sd "$$sd" >"$$sd/log" 2>&1 < /dev/null & \
		for i in $$(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.1; done; \
	fi

# node-deps installs each Node project's packages (npm ci from its committed
# lockfile) when node_modules is missing or older than the lockfile, and
# Debian's nodejs and npm when there is no node; the tests need Node 20 or
# later (global WebCrypto and fetch, node --test).
node-deps:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		echo "installing nodejs and npm for the Node client tests"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi
	@major=$$(node -p 'process.versions.node.split(".")[0]'); if [ "$$major" -lt 20 ]; then \
		echo "the Node client tests need Node 20 or later; found $$(node --version)"; exit 1; fi
	@for d in $(NODE_PROJECTS); do \
		if [ ! -f $$d/node_modules/.package-lock.json ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
		fi; \
	done

# chromium installs Debian's Chromium and CJK fonts for the browser tests.
chromium:
	@if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null || ! command -v curl >/dev/null || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
		echo "installing chromium, fonts-noto-cjk, poppler-utils (pdftotext) and curl (the gateway's curl -N test) for the tests"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk poppler-utils curl; \
	fi

vendor: ## fetch Pico CSS and htmx from npm into static/vendor (commit the result)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent @picocss/pico@$(PICO) htmx.org@$(HTMX) >/dev/null && \
	  mkdir pico htmx && tar xzf picocss-pico-$(PICO).tgz -C pico && tar xzf htmx.org-$(HTMX).tgz -C htmx) && \
	mkdir -p static/vendor && \
	cp "$$tmp/pico/package/css/pico.min.css" static/vendor/pico-$(PICO).min.css && \
	cp "$$tmp/pico/package/LICENSE.md" static/vendor/pico.LICENSE.md && \
	cp "$$tmp/htmx/package/dist/htmx.min.js" static/vendor/htmx-$(HTMX).min.js && \
	cp "$$tmp/htmx/package/LICENSE" static/vendor/htmx.LICENSE && \
	ls -l static/vendor

vendor-echarts: ## fetch Apache ECharts (common build: bar/line/pie, legend, tooltip) into static/vendor with a gzip twin
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent echarts@$(ECHARTS) >/dev/null && mkdir e && tar xzf echarts-$(ECHARTS).tgz -C e) && \
	mkdir -p static/vendor && \
	cp "$$tmp/e/package/dist/echarts.common.min.js" static/vendor/echarts-$(ECHARTS).common.min.js && \
	gzip -9nc static/vendor/echarts-$(ECHARTS).common.min.js > static/vendor/echarts-$(ECHARTS).common.min.js.gz && \
	cat "$$tmp/e/package/LICENSE" "$$tmp/e/package/NOTICE" > static/vendor/echarts.LICENSE && \
	ls -l static/vendor/echarts*

i18n-add: ## add a key to both languages: make i18n-add AREA=portal KEY=page.x.title ZH='…' EN='…'
	@test -n "$(AREA)" -a -n "$(KEY)" -a -n "$(ZH)" -a -n "$(EN)" || { echo "usage: make i18n-add AREA=common KEY=menu.x ZH='中文' EN='English'"; exit 2; }
	@printf '"%s" = "%s"\n' '$(KEY)' '$(ZH)' >> locales/$(AREA).zh-CN.toml
	@printf '"%s" = "%s"\n' '$(KEY)' '$(EN)' >> locales/$(AREA).en.toml
	@echo "added $(KEY) to locales/$(AREA).zh-CN.toml and locales/$(AREA).en.toml"

# Lightship: make build | images | test | docs | lint | bench (see README.md)
PLUGINS := docker-build rancher-upgrade wechat-notify logspout-route
MODULES := pkg pkg/testkit $(addprefix plugins/,$(PLUGINS))
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# -race doubles run time; the Docker-heavy suites stay within CI's budget with it.
GOTEST_FLAGS ?= -race -count=1 -timeout 30m
export VERSION

.PHONY: all build dist images demo deps test unit docs lint fmt-check vet staticcheck standalone bench clean
all: build

build: $(addprefix bin/,$(PLUGINS))

bin/%: FORCE
	cd plugins/$* && CGO_ENABLED=0 go build -trimpath -tags urfave_cli_no_docs -ldflags "$(LDFLAGS)" -o ../../bin/$* .

.PHONY: FORCE
FORCE:

# dist/<plugin>: the image's build context (binary, CA bundle, Dockerfile).
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
dist: build
	@for p in $(PLUGINS); do mkdir -p dist/$$p && cp bin/$$p $(CA_BUNDLE) plugins/$$p/Dockerfile dist/$$p/ || exit 1; done
	@echo "dist/: one build context per plugin"

images: build
	@scripts/ensure-docker >/dev/null
	@for p in $(PLUGINS); do scripts/build-image $$p || exit 1; done

# test: everything CI runs. The image-level tests inside the plugin packages
# need the images, so they are built first; the demo runs last.
test: deps lint images unit demo

# deps: what the tests need on this machine; every script is idempotent.
deps:
	@scripts/ensure-docker
	@scripts/ensure-rsyslog
	@scripts/ensure-busybox
	@scripts/ensure-kubectl

unit:
	@for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...) || exit 1; done

# demo: the seed's pipeline end to end against the sandbox (README's main command).
demo: images
	go run ./pkg/testkit/demo/cmd/lightship-demo -root .

docs:
	@for p in $(PLUGINS); do (cd plugins/$$p && LIGHTSHIP_UPDATE_DOCS=1 go test -count=1 -run '^TestDocsUpToDate$$' .) || exit 1; done

lint: fmt-check vet staticcheck standalone

# standalone: each module also builds outside the workspace (its replace => ../../pkg).
standalone:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || exit 1; done

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

staticcheck:
	@for m in $(MODULES); do (cd $$m && go run $(STATICCHECK) ./...) || exit 1; done

# bench: figures, never pass/fail on time. Go benchmarks of every module,
# then each scripted load run under scripts/bench/.
bench: images
	@for m in $(MODULES); do echo "== go bench $$m"; (cd $$m && go test -run '^$$' -bench . -benchmem ./...) || exit 1; done
	@for s in scripts/bench/*.sh; do [ -e "$$s" ] || continue; echo "== $$s"; bash "$$s" || exit 1; done

clean:
	rm -rf bin dist

# Lightship: make build | images | test | docs | lint | bench (see README.md)
PLUGINS := docker-build rancher-upgrade wechat-notify logspout-route
MODULES := pkg pkg/testkit $(addprefix plugins/,$(PLUGINS))
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# grpcnotrace: gRPC (BuildKit sessions in docker-build) without golang.org/x/net/trace
# and html/template (-0.4 MB). nethttpomithttp2: net/http without its bundled
# HTTP/2 (-0.55 MB per binary); every peer speaks HTTP/1.1, and gRPC and
# client-go bring their own HTTP/2 (golang.org/x/net/http2), which the tag
# does not touch.
BUILD_TAGS := urfave_cli_no_docs,grpcnotrace,nethttpomithttp2
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOLANGCI_LINT := github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# -race doubles run time; the Docker-heavy suites stay within CI's budget with it.
GOTEST_FLAGS ?= -race -count=1 -timeout 30m
# docker-build's daemon tests that run a second time on the classic builder, one at a time
# (its purge of step images would race other classic builds using them as cache).
DOCKER_BUILD_BOTH := ^Test(BuildPushes|BuildErrors|WrongPassword|PushSurvives|DryRun|AutoTagOnFeature|Mirror|CacheFrom|PushOfAMoved|TargetArgs|DockerfileOutside|Purge|SeedStep|Harbor)
export VERSION

.PHONY: all build cross dist images demo deps test unit docs lint fmt-check vet staticcheck golangci-lint standalone bench clean
all: build

build: $(addprefix bin/,$(PLUGINS))

bin/%: FORCE
	cd plugins/$* && CGO_ENABLED=0 go build -trimpath -tags $(BUILD_TAGS) -ldflags "$(LDFLAGS)" -o ../../bin/$* .

.PHONY: FORCE
FORCE:

# PLATFORMS=linux/amd64,linux/arm64 (os/arch[/variant], comma-separated):
# `make images` publishes each plugin as one multi-platform image index,
# $(IMAGE_REGISTRY)/lightship/<plugin>:$(IMAGE_TAGS), built on buildkitd
# (BUILDKIT_HOST, default scripts/ensure-buildkitd's) from binaries
# cross-compiled by `make cross` (scripts/publish-index); `make dist` also
# stages dist/platforms/<plugin> for .drone.yml. Without PLATFORMS, `build`,
# `dist` and `images` do what they always did: host-arch images in the daemon.
PLATFORMS ?=
IMAGE_REGISTRY ?=
IMAGE_TAGS ?= latest
export PLATFORMS IMAGE_REGISTRY IMAGE_TAGS
comma := ,
PLATFORM_LIST := $(subst $(comma), ,$(PLATFORMS))

# cross: bin/<os>/<arch>[/<variant>]/<plugin> for each of PLATFORMS.
cross:
	@[ -n "$(PLATFORMS)" ] || { echo "cross: set PLATFORMS, e.g. linux/amd64,linux/arm64" >&2; exit 2; }
	@for pl in $(PLATFORM_LIST); do \
	  os=$${pl%%/*}; rest=$${pl#*/}; arch=$${rest%%/*}; variant=$${rest#$$arch}; variant=$${variant#/}; \
	  for p in $(PLUGINS); do \
	    (cd plugins/$$p && GOOS=$$os GOARCH=$$arch GOARM=$${variant#v} CGO_ENABLED=0 \
	      go build -trimpath -tags $(BUILD_TAGS) -ldflags "$(LDFLAGS)" -o ../../bin/$$pl/$$p .) || exit 1; \
	  done; echo "bin/$$pl: $(PLUGINS)"; done

# dist/<plugin>: the image's build context (binary, CA bundle, Dockerfile).
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
dist: build $(if $(PLATFORMS),cross)
	@for p in $(PLUGINS); do mkdir -p dist/$$p && cp bin/$$p $(CA_BUNDLE) plugins/$$p/Dockerfile dist/$$p/ || exit 1; done
	@$(if $(PLATFORMS),for p in $(PLUGINS); do scripts/publish-index --stage-only $$p || exit 1; done)
	@echo "dist/: one build context per plugin$(if $(PLATFORMS), (dist/platforms/: $(PLATFORMS)))"

ifeq ($(PLATFORMS),)
images: build
	@scripts/ensure-docker >/dev/null
	@for p in $(PLUGINS); do scripts/build-image $$p || exit 1; done
else
images: build cross
	@for p in $(PLUGINS); do scripts/publish-index $$p || exit 1; done
endif

# test: everything CI runs. The image-level tests inside the plugin packages
# need the images, so they are built first; the demo runs last.
test: deps lint images unit demo

# deps: what the tests need on this machine; every script is idempotent.
deps:
	@scripts/ensure-docker
	@scripts/ensure-rsyslog
	@scripts/ensure-busybox
	@scripts/ensure-kubectl
	@scripts/ensure-buildkitd

unit:
	@for m in $(MODULES); do echo "== go test $$m"; (cd $$m && go test $(GOTEST_FLAGS) ./...) || exit 1; done
	@echo "== go test plugins/docker-build, classic builder"
	@cd plugins/docker-build && LIGHTSHIP_TEST_BUILDKIT=false go test $(GOTEST_FLAGS) -parallel 1 -run '$(DOCKER_BUILD_BOTH)' .

# demo: the seed's pipeline end to end against the sandbox (README's main command).
# The sample app's private base image is busybox FROM scratch (ensure-busybox).
demo: images
	@scripts/ensure-busybox >/dev/null
	go run ./pkg/testkit/demo/cmd/lightship-demo -root .

docs:
	@for p in $(PLUGINS); do (cd plugins/$$p && LIGHTSHIP_UPDATE_DOCS=1 go test -count=1 -run '^TestDocsUpToDate$$' .) || exit 1; done

lint: fmt-check vet staticcheck golangci-lint standalone

# standalone: each module also builds outside the workspace (its replace => ../../pkg).
standalone:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || exit 1; done

fmt-check:
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	@for m in $(MODULES); do (cd $$m && go vet ./...) || exit 1; done

staticcheck:
	@for m in $(MODULES); do (cd $$m && go run $(STATICCHECK) ./...) || exit 1; done

# golangci-lint: .golangci.yml's rules (no package state or init, no stored
# contexts, errors.Is/As, short functions, no duplicated blocks) in every module.
golangci-lint:
	@for m in $(MODULES); do (cd $$m && go run $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...) || exit 1; done

# bench: figures, never pass/fail on time. Go benchmarks of every module,
# then each scripted load run under scripts/bench/.
bench: images
	@for m in $(MODULES); do echo "== go bench $$m"; (cd $$m && go test -run '^$$' -bench . -benchmem ./...) || exit 1; done
	@for s in scripts/bench/*.sh; do [ -e "$$s" ] || continue; echo "== $$s"; bash "$$s" || exit 1; done

clean:
	rm -rf bin dist

# The targets a Prometheus contributor types. They do what promu's build,
# crossbuild and tarball do (promu is not served by the Go module proxy this
# project uses), with go build and the ldflags of
# github.com/prometheus/common/version.
#
#   make build        ./informatica_exporter, version from VERSION, revision from git
#   make test         the README's test command
#   make lint         golangci-lint, the version pinned below (installed into GOBIN if missing)
#   make actionlint   actionlint on .github/workflows, the version pinned below (likewise)
#   make crossbuild   .build/<os>-<arch>/informatica_exporter for each of PLATFORMS
#   make tarballs     .tarballs/informatica_exporter-<version>.<os>-<arch>.tar.gz and sha256sums.txt
#   make image        the container image for amd64 and arm64, built and checked (scripts/image.sh, as root)

GO        ?= go
NAME      := informatica_exporter
VERSION   := $(shell cat VERSION)
REVISION  := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    := $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE := $(shell date -u +%Y%m%d-%H:%M:%S)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/arm64 windows/amd64

# The tools' versions, pinned here only (.ci/run runs these targets).
GOLANGCI_LINT_VERSION ?= v2.15.0
ACTIONLINT_VERSION    ?= v1.7.12
GOBIN := $(or $(shell $(GO) env GOBIN),$(shell $(GO) env GOPATH)/bin)
GOLANGCI_LINT ?= $(GOBIN)/golangci-lint
ACTIONLINT    ?= $(GOBIN)/actionlint

BUILD_DIR   := .build
TARBALL_DIR := .tarballs
# What a tarball holds besides the binary.
TARBALL_FILES := LICENSE README.md config.example.yml docs

version_pkg := github.com/prometheus/common/version
LDFLAGS := -s -w \
	-X $(version_pkg).Version=$(VERSION) \
	-X $(version_pkg).Revision=$(REVISION) \
	-X $(version_pkg).Branch=$(BRANCH) \
	-X $(version_pkg).BuildUser=$(BUILD_USER) \
	-X $(version_pkg).BuildDate=$(BUILD_DATE)
# Static binaries, no C toolchain needed for any platform.
GO_BUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all build test lint actionlint crossbuild tarballs image clean
all: build test lint

build:
	$(GO_BUILD) -o $(NAME) .
	./$(NAME) --version

test:
	$(GO) test -race -count=1 ./...

$(GOLANGCI_LINT):
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	@$(GOLANGCI_LINT) version | grep -qF '$(GOLANGCI_LINT_VERSION:v%=%)' || \
		{ echo "$(GOLANGCI_LINT) is not golangci-lint $(GOLANGCI_LINT_VERSION); remove it and run make lint again" >&2; exit 1; }
	$(GOLANGCI_LINT) run ./...

$(ACTIONLINT):
	$(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# With shellcheck on PATH, actionlint checks the workflows' run: scripts too.
actionlint: $(ACTIONLINT)
	@$(ACTIONLINT) -version | grep -qxF '$(ACTIONLINT_VERSION)' || \
		{ echo "$(ACTIONLINT) is not actionlint $(ACTIONLINT_VERSION); remove it and run make actionlint again" >&2; exit 1; }
	$(ACTIONLINT)

crossbuild:
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" = windows ] && ext=.exe; \
		echo ">> $$os/$$arch"; \
		GOOS=$$os GOARCH=$$arch $(GO_BUILD) -o $(BUILD_DIR)/$$os-$$arch/$(NAME)$$ext .; \
	done

# As promu names and lays them out: one folder per tarball, named like it.
tarballs: crossbuild
	@set -e; rm -rf $(TARBALL_DIR); mkdir -p $(TARBALL_DIR); \
	for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" = windows ] && ext=.exe; \
		dir=$(NAME)-$(VERSION).$$os-$$arch; \
		mkdir -p $(TARBALL_DIR)/$$dir; \
		cp -R $(BUILD_DIR)/$$os-$$arch/$(NAME)$$ext $(TARBALL_FILES) $(TARBALL_DIR)/$$dir/; \
		tar -C $(TARBALL_DIR) -czf $(TARBALL_DIR)/$$dir.tar.gz $$dir; \
		rm -rf $(TARBALL_DIR)/$$dir; \
	done; \
	cd $(TARBALL_DIR) && sha256sum *.tar.gz >sha256sums.txt && ls -l && cat sha256sums.txt

image:
	scripts/image.sh

clean:
	rm -rf $(NAME) $(BUILD_DIR) $(TARBALL_DIR)

# Lethe: build, test, demo and release tasks.
#
# Every tool is built from the Go module proxy into bin/ at the version pinned
# here, so a machine with only Go and apt runs every target.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# ---- pinned versions (the only place they are set) ----
K8S_VERSION              ?= 1.37.1
ETCD_VERSION             ?= 3.7.3
CONTROLLER_TOOLS_VERSION ?= v0.23.0
HELM_VERSION             ?= v3.16.4
GOLANGCI_LINT_VERSION    ?= v2.15.0
GOVULNCHECK_VERSION      ?= v1.9.0
# The vulnerability database: golang.org/x/vulndb at this version, fetched
# through the Go module proxy. `make vulncheck VULNDB_VERSION=latest` checks
# against the newest one the proxy serves.
VULNDB_VERSION           ?= v0.0.0-20261105234957-e22db6528018
# The Go toolchain is go.mod's toolchain line.
GO_TOOLCHAIN             := $(shell sed -n 's/^toolchain //p' go.mod)

ROOT        := $(abspath .)
BIN         := $(ROOT)/bin
TOOLS       := $(BIN)/tools
K8S_ASSETS  := $(BIN)/k8s/$(K8S_VERSION)-etcd-$(ETCD_VERSION)
KUBECTL     := $(K8S_ASSETS)/kubectl
# Tools that load Go packages are built with the toolchain that builds Lethe,
# so their file names carry it: changing either rebuilds them.
CONTROLLER_GEN := $(TOOLS)/controller-gen-$(CONTROLLER_TOOLS_VERSION)-$(GO_TOOLCHAIN)
HELM        := $(TOOLS)/helm-$(HELM_VERSION)
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)-$(GO_TOOLCHAIN)
GOVULNCHECK := $(TOOLS)/govulncheck-$(GOVULNCHECK_VERSION)-$(GO_TOOLCHAIN)

export GOTOOLCHAIN := $(GO_TOOLCHAIN)
export KUBEBUILDER_ASSETS := $(K8S_ASSETS)
export K8S_VERSION ETCD_VERSION

GO_TEST_FLAGS ?= -count=1 -timeout 20m

# ---- the manager's version and image ----
# The version is the chart's appVersion, so the image make image builds is
# the one the chart installs by default.
VERSION           ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/lethe/Chart.yaml)
COMMIT            ?= $(shell git rev-parse HEAD 2>/dev/null || echo dev)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_REPOSITORY  ?= ghcr.io/lethe-dev/lethe
# Where the kubectl plugin's archive is published (krew downloads it from
# there); empty means the GitHub release of VERSION.
PLUGIN_URI        ?=
IMAGE_FLAGS       := -repository $(IMAGE_REPOSITORY) -version $(VERSION) -commit $(COMMIT) -out $(BIN)/image

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) rbac:roleName=lethe-manager crd:allowDangerousTypes=false webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook
	rm -f charts/lethe/crds/*.yaml
	cp config/crd/bases/*.yaml charts/lethe/crds/
	cp config/rbac/role.yaml charts/lethe/files/role.yaml
	cp config/webhook/manifests.yaml charts/lethe/files/webhooks.yaml
	cp config/argocd/health.lua charts/lethe/files/argocd-health.lua

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w .

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (gosec included).
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests ## Regenerate everything, fail on drift, then vet, lint and check the chart and kustomize config.
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; fi
	@if [ -n "$$(gofmt -l .)" ]; then echo "gofmt needed:"; gofmt -l .; exit 1; fi
	$(MAKE) vet lint helm-check kustomize-check

.PHONY: helm-check
helm-check: $(HELM) ## helm lint and helm template the chart, with each way of providing the webhook certificate.
	$(HELM) lint charts/lethe
	$(HELM) lint charts/lethe --set webhook.certManager.enabled=true
	$(HELM) template lethe charts/lethe --namespace lethe-system > /dev/null
	$(HELM) template lethe charts/lethe --namespace lethe-system --set webhook.certManager.enabled=true > /dev/null
	$(HELM) template lethe charts/lethe --namespace lethe-system --set webhook.certManager.enabled=true \
		--set webhook.certManager.issuerRef.kind=ClusterIssuer --set webhook.certManager.issuerRef.name=corp-ca > /dev/null
	$(HELM) template lethe charts/lethe --namespace lethe-system --set webhook.enabled=false > /dev/null
	$(HELM) lint charts/lethe --set 'watchNamespaces={tenants-a,tenants-b}'
	$(HELM) template lethe charts/lethe --namespace lethe-system --set 'watchNamespaces={tenants-a,tenants-b}' > /dev/null
	$(HELM) template lethe charts/lethe --namespace lethe-system --set metrics.serviceMonitor.enabled=true \
		--set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true \
		--set metrics.serviceMonitor.prometheusServiceAccount.name=prometheus-k8s \
		--set metrics.serviceMonitor.prometheusServiceAccount.namespace=monitoring > /dev/null
	$(HELM) template lethe charts/lethe --namespace lethe-system --set metrics.secure=false --set metrics.serviceMonitor.enabled=true > /dev/null

.PHONY: kustomize-check
kustomize-check: envtest ## Build the kustomize config.
	$(KUBECTL) kustomize config/default > /dev/null
	$(KUBECTL) kustomize config/overlays/certmanager > /dev/null
	$(KUBECTL) kustomize config/samples > /dev/null
	$(KUBECTL) kustomize config/argocd > /dev/null

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl into bin/k8s (cached).
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh $(K8S_ASSETS) > /dev/null

.PHONY: postgres
postgres: ## Make sure PostgreSQL server binaries are installed (Debian package).
	hack/ensure-postgres.sh

.PHONY: test
test: envtest postgres ## Run unit, PostgreSQL integration, envtest and disruptive suites.
	go test $(GO_TEST_FLAGS) ./...

.PHONY: test-disruptive
test-disruptive: envtest postgres ## Run only the disruptive suite (make test runs it too); LETHE_DISRUPTIVE_SEED replays its kill points.
	go test $(GO_TEST_FLAGS) -v ./test/disruptive/

.PHONY: rules-check
rules-check: ## Check the alerting rules and the Grafana dashboard with Prometheus' own parsers (a module of its own, hack/promrules).
	cd hack/promrules && go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: envtest postgres build ## Run the benchmarks; results go to bench/results/.
	go run ./hack/bench -manager $(BIN)/manager -out bench/results

.PHONY: vulncheck
vulncheck: $(GOVULNCHECK) ## Fail on any vulnerability reachable from Lethe's code (Go standard library and modules).
	hack/vulncheck.sh $(GOVULNCHECK) $(VULNDB_VERSION)

##@ Build and run

.PHONY: build
build: ## Build the manager binary.
	go build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(BIN)/manager .

.PHONY: plugin
plugin: ## Build the kubectl plugin bin/kubectl-lethe, and its krew archive and manifest (linux/amd64) in bin/plugin/.
	go build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN)/kubectl-lethe ./cmd/lethe
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
		-o $(BIN)/plugin/linux-amd64/kubectl-lethe ./cmd/lethe
	go run ./hack/plugin -binary $(BIN)/plugin/linux-amd64/kubectl-lethe -version $(VERSION) -os linux -arch amd64 \
		-created $(SOURCE_DATE_EPOCH) -out $(BIN)/plugin $(if $(PLUGIN_URI),-uri $(PLUGIN_URI))

.PHONY: image
image: ## Build the manager image without a container engine: OCI layout bin/image/oci, tarball bin/image/lethe.tar.
	go run ./hack/image $(IMAGE_FLAGS) -created $(SOURCE_DATE_EPOCH)

.PHONY: image-check
image-check: image ## Build the image, then check it: non-root user, static binary, and the binary taken out of it runs.
	go run ./hack/image -check $(IMAGE_FLAGS)

.PHONY: demo
demo: envtest postgres build ## Start a local API server and PostgreSQL, run the operator on sample tenants, show the result.
	go run ./hack/demo -manager $(BIN)/manager -kubectl $(KUBECTL)

.PHONY: deploy
deploy: $(HELM) ## Install the chart into the cluster of the current kubeconfig.
	$(HELM) upgrade --install lethe charts/lethe --namespace lethe-system --create-namespace

.PHONY: tools
tools: $(CONTROLLER_GEN) $(HELM) $(GOLANGCI_LINT) ## Build every pinned tool.

$(CONTROLLER_GEN):
	hack/go-install-tool.sh $@ sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_TOOLS_VERSION)

$(HELM):
	hack/go-install-tool.sh $@ helm.sh/helm/v3/cmd/helm $(HELM_VERSION)

$(GOLANGCI_LINT):
	hack/go-install-tool.sh $@ github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)

$(GOVULNCHECK):
	hack/go-install-tool.sh $@ golang.org/x/vuln/cmd/govulncheck $(GOVULNCHECK_VERSION)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

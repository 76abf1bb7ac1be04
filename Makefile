# VAS: IP cameras as Kubernetes custom resources.
# The two commands a newcomer needs:  `make demo` (bring VAS up locally)  and  `make test`.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STATE ?= .vas
KUBECONFIG_FILE := $(abspath $(STATE))/kubeconfig
# Binaries built from Go modules by hack/build-control-plane.sh (cached in ~/.cache/vas).
TOOLS_BIN = $(shell hack/build-control-plane.sh 2>/dev/null | tail -n 1)
KUBECTL = PATH="$(TOOLS_BIN):$$PATH" KUBECONFIG="$(KUBECONFIG_FILE)" kubectl
KIND_VERSION ?= v0.30.0
LOCALBIN := $(abspath $(STATE))/bin

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ The two commands
.PHONY: demo
demo: prereqs ## Bring VAS up locally: control plane, CRDs, two Janus gateways, cameras, operator, Redis, viewer
	hack/demo-up.sh
	@echo
	@echo "VAS is up. Open http://127.0.0.1:8000/ for the web viewer. Or try:"
	@echo "  export KUBECONFIG=$(KUBECONFIG_FILE) PATH=$(TOOLS_BIN):\$$PATH"
	@echo "  kubectl get cam -o wide; kubectl describe cam parking"
	@echo "  kubectl get pods -n vas-system -o wide             # the gateway pool"
	@echo "  curl -s localhost:9090/metrics | grep ^vas_      # operator metrics"
	@echo "Stop it with: make demo-down"

.PHONY: demo-down
demo-down: ## Stop everything `make demo` started
	hack/demo-down.sh

.PHONY: test
test: prereqs lint ## Lint, then run every test against real parts (starts its own control plane)
	PATH="$(TOOLS_BIN):$$PATH" $(PY) -m pytest

##@ Building blocks
.PHONY: prereqs
prereqs: ## Install Debian packages, the Python venv and the Go-built control plane (idempotent)
	hack/install-prereqs.sh

.PHONY: cluster-up
cluster-up: ## Start the local control plane; admin kubeconfig in .vas/kubeconfig
	VAS_KUBECONFIG="$(KUBECONFIG_FILE)" hack/cluster-up.sh $(STATE)/cluster

.PHONY: cluster-down
cluster-down: ## Stop the local control plane (by PID); leaves nothing running
	hack/cluster-down.sh $(STATE)/cluster

.PHONY: node-up
node-up: ## Start a real node and its own control plane; kubeconfig in .vas/node/kubeconfig
	hack/node-up.sh $(STATE)/node

.PHONY: node-down
node-down: ## Stop the real node (by PID) and remove what it left on the machine
	hack/node-down.sh $(STATE)/node

.PHONY: install
install: ## Install the CRDs into the cluster of .vas/kubeconfig
	$(KUBECTL) apply -f crds/
	$(KUBECTL) wait --for=condition=Established --timeout=60s -f crds/

.PHONY: uninstall
uninstall: ## Remove the CRDs (and with them every Camera, CameraGroup, DiscoveryScan)
	$(KUBECTL) delete --ignore-not-found -f crds/

.PHONY: examples
examples: ## Apply manifests/examples/
	$(KUBECTL) apply -f manifests/examples/

.PHONY: crds
crds: ## Regenerate crds/ (and the chart's copy) from the Python models
	$(PY) -m vas_operator.crdgen --output-dir crds
	$(PY) -m vas_operator.crdgen --output-dir charts/vas/files/crds

.PHONY: chart
chart: crds ## Regenerate the chart's CRD copies and values.schema.json
	$(PY) hack/values_schema.py

.PHONY: lint
lint: ## ruff, mypy and a check that crds/ matches the models
	$(VENV)/bin/ruff check core operator api tests bench janus-image hack
	$(VENV)/bin/ruff format --check core operator api tests bench janus-image hack
	$(VENV)/bin/mypy
	$(PY) -m vas_operator.crdgen --check --output-dir crds
	$(PY) -m vas_operator.crdgen --check --output-dir charts/vas/files/crds
	$(PY) hack/values_schema.py --check
	$$(hack/build-actionlint.sh) -color=false .github/workflows/*.yaml

.PHONY: images
images: ## Build the VAS, gateway and Redis images (no Docker, no registry) into .vas/images/*.tar
	hack/build-images.sh

##@ With Docker (kind)
.PHONY: kind-up
kind-up: ## Create a kind cluster "vas" (needs a Docker engine) and install the CRDs
	GOBIN="$(LOCALBIN)" go install sigs.k8s.io/kind@$(KIND_VERSION)
	$(LOCALBIN)/kind get clusters | grep -qx vas || \
	  $(LOCALBIN)/kind create cluster --name vas --kubeconfig "$(KUBECONFIG_FILE)" --wait 120s
	$(LOCALBIN)/kind export kubeconfig --name vas --kubeconfig "$(KUBECONFIG_FILE)"
	$(MAKE) install

.PHONY: kind-down
kind-down: ## Delete the kind cluster "vas"
	GOBIN="$(LOCALBIN)" go install sigs.k8s.io/kind@$(KIND_VERSION)
	$(LOCALBIN)/kind delete cluster --name vas

##@ Benchmarks (print figures; not part of `make test`)
CAMERAS ?= 500 1000
FACADE_CAMERAS ?= 10000 100000
.PHONY: bench-cameras
bench-cameras: prereqs ## N cameras applied at once -> time until all Ready, against a bare Kopf floor (CAMERAS="500 1000")
	PATH="$(TOOLS_BIN):$$PATH" $(PY) -m bench.cameras_ready --cameras $(CAMERAS)

.PHONY: bench-operator-start
EXISTING ?= 10000
bench-operator-start: prereqs ## Operator at rest with N Cameras: RSS, restart time and writes, live creates (EXISTING=10000)
	PATH="$(TOOLS_BIN):$$PATH" $(PY) -m bench.operator_start --cameras $(EXISTING)

.PHONY: bench-facade
bench-facade: prereqs ## Facade list latency at 10,000 and 100,000 cameras against the API server's own lists
	for n in $(FACADE_CAMERAS); do PATH="$(TOOLS_BIN):$$PATH" $(PY) -m bench.facade --cameras $$n || exit 1; done

.PHONY: bench-first-frame
bench-first-frame: prereqs ## Viewer page load -> first moving frame in Chromium, and where the time goes
	PATH="$(TOOLS_BIN):$$PATH" $(PY) -m bench.first_frame

.PHONY: bench-sweep
bench-sweep: prereqs ## DiscoveryScan sweep against nmap on 127.0.0.0/24 and /16
	$(PY) -m bench.sweep

.PHONY: bench-wall
bench-wall: prereqs ## A 16-tile live wall in Chromium: CPU and network per tile, sub-streams vs main streams
	PATH="$(TOOLS_BIN):$$PATH" $(PY) -m bench.wall

.PHONY: bench-viewers
VIEWERS ?= 500
bench-viewers: prereqs ## WebRTC viewers of one camera via the facade, ramped to N: Janus CPU, loss, autoscaler (VIEWERS=500)
	$(PY) -c 'import aiortc' 2>/dev/null || $(VENV)/bin/pip install -q -e '.[bench]'
	PATH="$(TOOLS_BIN):$$PATH" $(PY) -m bench.viewers --viewers $(VIEWERS)

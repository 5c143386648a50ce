#!/usr/bin/env bash
# Build the extra Go binaries a real node needs (CoreDNS, metrics-server, crictl, pause, and the
# NetworkPolicy agent), cached.
#
# No image can be pulled on our machines, so the cluster add-ons are compiled from their Go
# modules and later packed into FROM-scratch images. CoreDNS is built from a module of our
# own that compiles in only the plugins our Corefile uses: a much smaller, faster build than
# the full plugin set (cloud DNS providers and all).
set -euo pipefail

COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-v0.8.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
# Bump RECIPE when this script changes what it builds, so old caches are not reused.
RECIPE=1
CACHE_ROOT="${MODELSERVE_CACHE:-$HOME/.cache/modelserve}"
BIN_DIR="$CACHE_ROOT/node-bin-r${RECIPE}-coredns-${COREDNS_VERSION}-ms-${METRICS_SERVER_VERSION}-crictl-${CRICTL_VERSION}"

if [[ "${1:-}" == "--print-dir" ]]; then echo "$BIN_DIR"; exit 0; fi

wanted=(coredns metrics-server crictl pause netpol-agent)
# The agent is our own source (netpol-agent/): a stamp of its digest rebuilds it on a change.
agent_src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netpol-agent"
agent_digest="$(cat "$agent_src"/go.mod "$agent_src"/go.sum "$agent_src"/*.go | sha256sum | cut -c1-16)"
missing=()
for b in "${wanted[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing+=("$b"); done
if [[ -x "$BIN_DIR/netpol-agent" && "$(cat "$BIN_DIR/netpol-agent.digest" 2>/dev/null)" != "$agent_digest" ]]; then
  missing+=(netpol-agent)
fi
if [[ ${#missing[@]} -eq 0 ]]; then echo "$BIN_DIR"; exit 0; fi
echo "building into $BIN_DIR: ${missing[*]}" >&2

mkdir -p "$BIN_DIR"
work="$CACHE_ROOT/node-build-r${RECIPE}"
export GOFLAGS=-mod=mod CGO_ENABLED=0

build_coredns() {
  local dir="$work/coredns"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module modelserve.local/coredns

go 1.24

require github.com/coredns/coredns $COREDNS_VERSION
MOD
  # Directive order decides plugin order in a server block; it follows CoreDNS's plugin.cfg.
  cat >"$dir/main.go" <<'GO'
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func init() {
	dnsserver.Directives = []string{
		"reload", "ready", "health", "errors", "log", "loadbalance",
		"cache", "hosts", "kubernetes", "loop", "forward",
	}
}

func main() { coremain.Run() }
GO
  (cd "$dir" && go mod tidy >/dev/null 2>&1 || true
   cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$dir/coredns" .)
  install -m 0755 "$dir/coredns" "$BIN_DIR/coredns"
}

build_metrics_server() {
  local dir="$work/metrics-server"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<MOD
module modelserve.local/metrics-server-build

go 1.24

require sigs.k8s.io/metrics-server $METRICS_SERVER_VERSION
MOD
  # A build-tagged file keeps the command in the module graph, so `go mod tidy` records its deps.
  printf '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/metrics-server/cmd/metrics-server"\n' >"$dir/tools.go"
  (cd "$dir" && go mod tidy >/dev/null 2>&1 || true
   cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$dir/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server)
  install -m 0755 "$dir/metrics-server" "$BIN_DIR/metrics-server"
}

build_crictl() {
  GOBIN="$work/gobin" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  install -m 0755 "$work/gobin/crictl" "$BIN_DIR/crictl"
}

build_pause() {
  # The pod sandbox image: holds the pod's namespaces open, reaps orphans, exits on TERM.
  local dir="$work/pause"
  mkdir -p "$dir"
  printf 'module modelserve.local/pause\n\ngo 1.24\n' >"$dir/go.mod"
  cat >"$dir/main.go" <<'GO'
// pause holds a pod's namespaces open: it sleeps until told to stop and reaps orphans.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
GO
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$dir/pause" .)
  install -m 0755 "$dir/pause" "$BIN_DIR/pause"
}

build_netpol_agent() {
  # kube-network-policies' controller as a host process (see netpol-agent/main.go).
  local dir="$work/netpol-agent"
  mkdir -p "$dir"
  cp "$agent_src"/go.mod "$agent_src"/go.sum "$agent_src"/*.go "$dir/"
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$dir/netpol-agent" .)
  install -m 0755 "$dir/netpol-agent" "$BIN_DIR/netpol-agent"
  echo "$agent_digest" >"$BIN_DIR/netpol-agent.digest"
}

for b in "${missing[@]}"; do
  case "$b" in
    coredns) build_coredns ;;
    metrics-server) build_metrics_server ;;
    crictl) build_crictl ;;
    pause) build_pause ;;
    netpol-agent) build_netpol_agent ;;
  esac
done
echo "$BIN_DIR"

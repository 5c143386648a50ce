#!/usr/bin/env bash
# Check a kind cluster made from the locally built node image, end to end, and time it:
# create (kind-config.yaml) until every node is Ready, `kind load docker-image` of a
# trivial image, a Deployment and a NodePort Service of it on the worker, then from a pod
# on the control plane: cluster DNS, the ClusterIP and a pod IP on the other node; the
# NodePort from this machine; a PersistentVolumeClaim on the default StorageClass.
#
#   hack/kind/smoke.sh        # builds what is missing first; deletes the cluster after
#   KEEP=1 hack/kind/smoke.sh # keeps it (kubeconfig: $KUBECONFIG_PATH)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CLUSTER="${KIND_CLUSTER_NAME:-kind-smoke}"
KUBECONFIG_PATH="${KIND_KUBECONFIG:-$HOME/.modelserve/kind-smoke-kubeconfig}"
SMOKE_IMAGE="local/kind-smoke:1"

"$KIND_ROOT/docker-runtime.sh" >/dev/null
node_image="$("$KIND_ROOT/build.sh")"
bin_dir="$("$REPO_ROOT/cluster/build-binaries.sh" --print-dir)"
export PATH="$bin_dir:$PATH"
kind="$KIND_BIN"

if ! docker image inspect "$SMOKE_IMAGE" >/dev/null 2>&1; then
  ctx="$(mktemp -d)"
  printf 'FROM local/debian-python:%s\nRUN echo hello-from-kind >/srv/index.html\nWORKDIR /srv\nCMD ["python3", "-m", "http.server", "8080"]\n' \
    "$DEBIAN_SUITE" >"$ctx/Dockerfile"
  docker build -q -t "$SMOKE_IMAGE" "$ctx" >/dev/null 2>&1
  rm -rf "$ctx"
fi

"$kind" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
[[ -n "${KEEP:-}" ]] || trap '"$kind" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true' EXIT

start=$(date +%s%N)
ms() { echo $(( ($(date +%s%N) - start) / 1000000 )); }
"$kind" create cluster --name "$CLUSTER" --config "$REPO_ROOT/kind-config.yaml" --image "$node_image" \
  --kubeconfig "$KUBECONFIG_PATH" >/dev/null 2>&1 || {
  "$kind" create cluster --name "$CLUSTER-retry-for-log" --config "$REPO_ROOT/kind-config.yaml" \
    --image "$node_image" --retain -v 1 || true
  exit 1
}
created=$(ms)
export KUBECONFIG="$KUBECONFIG_PATH"
kubectl wait --for=condition=Ready nodes --all --timeout=120s >/dev/null
ready=$(ms)
kubectl -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null
kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=120s >/dev/null
dns=$(ms)
secs() { echo "$(($1 / 1000)).$(($1 % 1000 / 100)) s"; }
echo "create: $(secs "$created"); every node Ready: $(secs "$ready"); CoreDNS and kube-proxy ready: $(secs "$dns")"

t=$(date +%s)
"$kind" load docker-image --name "$CLUSTER" "$SMOKE_IMAGE" >/dev/null
echo "kind load docker-image: $(($(date +%s) - t)) s"

worker="$CLUSTER-worker" control="$CLUSTER-control-plane"
kubectl create deployment smoke --image="$SMOKE_IMAGE" --port=8080 >/dev/null
kubectl patch deployment smoke --type=merge -p "{\"spec\":{\"template\":{\"spec\":{\"nodeName\":\"$worker\"}}}}" >/dev/null
kubectl expose deployment smoke --port=80 --target-port=8080 --type=NodePort >/dev/null
kubectl run probe --image="$SMOKE_IMAGE" --restart=Never \
  --overrides="{\"spec\":{\"nodeName\":\"$control\"}}" --command -- sleep 600 >/dev/null
kubectl rollout status deployment/smoke --timeout=90s >/dev/null
kubectl wait --for=condition=Ready pod/probe --timeout=90s >/dev/null
pod_ip="$(kubectl get pods -l app=smoke -o jsonpath='{.items[0].status.podIP}')"
kubectl exec -i probe -- python3 - "$pod_ip" <<'PY'
import socket, sys, urllib.request
name = "smoke.default.svc.cluster.local"
print("cluster DNS:", name, "->", socket.gethostbyname(name))
for url in (f"http://{name}/", f"http://{sys.argv[1]}:8080/"):
    body = urllib.request.urlopen(url, timeout=5).read().decode().strip()
    assert body == "hello-from-kind", body
    print("from the control plane:", url, "->", body)
PY
node_port="$(kubectl get service smoke -o jsonpath='{.spec.ports[0].nodePort}')"
worker_ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$worker")"
body="$(curl -fsS -m 5 "http://$worker_ip:$node_port/")"
[[ "$body" == hello-from-kind ]]
echo "NodePort from this machine: http://$worker_ip:$node_port/ -> $body"

kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: smoke}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: smoke-volume}
spec:
  containers:
    - name: c
      image: $SMOKE_IMAGE
      command: ["sh", "-c", "echo kept >/data/f && cat /data/f && sleep 600"]
      volumeMounts: [{name: d, mountPath: /data}]
  volumes: [{name: d, persistentVolumeClaim: {claimName: smoke}}]
EOF
kubectl wait --for=condition=Ready pod/smoke-volume --timeout=90s >/dev/null
echo "PVC: $(kubectl get pvc smoke -o jsonpath='{.status.phase} on {.spec.storageClassName}'), pod wrote '$(kubectl logs smoke-volume)'"
echo "smoke: ok"

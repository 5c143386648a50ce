// netpol-agent enforces NetworkPolicies on the local cluster's real node.
//
// It runs kube-network-policies' controller (sigs.k8s.io/kube-network-policies) as a host
// process next to the kubelet: the controller decides, per new connection, whether a pod
// may send or receive it. Upstream's own command only runs inside a pod (in-cluster
// credentials); this one takes a kubeconfig, like the node's other daemons.
//
// The controller queues packets with nftables' `queue` statement. Kernels built without
// nft_queue (CONFIG_NFT_QUEUE unset, as on our build VMs) refuse that rule, so the node
// harness also sends the first packet of every pod connection to the same queue with
// iptables' NFQUEUE target (xt_NFQUEUE, through nft_compat). Either way the verdicts come
// from the controller here.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the agent's identity")
	nodeName := flag.String("node-name", "", "name of the Node whose pods this agent guards")
	queueID := flag.Int("nfqueue-id", 100, "netfilter queue the packets to judge arrive on")
	metricsAddress := flag.String("metrics-bind-address", "127.0.0.1:20260", "address of /metrics and /healthz")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *nodeName == "" {
		fmt.Fprintln(os.Stderr, "netpol-agent: --kubeconfig and --node-name are required")
		os.Exit(2)
	}
	if err := run(*kubeconfig, *nodeName, *queueID, *metricsAddress); err != nil {
		klog.ErrorS(err, "netpol-agent stopped")
		os.Exit(1)
	}
}

func run(kubeconfig, nodeName string, queueID int, metricsAddress string) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("reading %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	controller, err := networkpolicy.NewController(
		client,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil, // no (Baseline)AdminNetworkPolicy: plain NetworkPolicy only
		networkpolicy.Config{
			QueueID:  queueID,
			NodeName: nodeName,
			// Only kernels before 6.12 need DNS packets judged on PREROUTING.
			NetfilterBug1766Fix: false,
			// NRI stays on: with it off, v0.8.0 dereferences a nil plugin for any address
			// that is not a known pod's. containerd 1.6 offers no NRI socket, so the plugin
			// only logs that it cannot connect and the pod informer supplies the addresses.
		},
	)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.Handler())
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	server := &http.Server{Addr: metricsAddress, Handler: mux}
	go func() {
		if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			klog.ErrorS(err, "metrics server stopped")
			cancel()
		}
	}()
	defer server.Close()

	factory.Start(ctx.Done())
	// Run returns once ctx ends, or at once when the queue cannot be opened.
	return controller.Run(ctx)
}

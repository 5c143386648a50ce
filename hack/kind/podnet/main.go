// podnet is the pod network of kind nodes built by hack/kind: what kind's default CNI
// daemon (kindnetd) does, for clusters whose node images are made without a registry,
// where kindnetd itself cannot be had (no module proxy serves its source).
//
// It runs as a host-network DaemonSet pod on every node and, every few seconds:
//   - writes this node's CNI config: ptp veths with host-local addresses from the node's
//     spec.podCIDR, and portmap for hostPorts;
//   - routes every other node's podCIDR via that node's InternalIP (the nodes share one
//     Docker network, so no tunnel is needed);
//   - masquerades traffic from pods to anything outside the cluster's pod subnet;
//   - rejects traffic to the Service ranges (ServiceCIDR objects) that kube-proxy has not
//     translated: until kube-proxy programs a ClusterIP, a packet to it would otherwise
//     leave the node by its default route, and on some machines something out there
//     answers (we saw a TLS server answer CoreDNS's first calls to 10.96.0.1:443). The
//     CNI config is written only once these rules are in place.
//
// It talks to the API server with plain HTTPS and its service account token, and to the
// kernel over netlink (routes; an nftables table of its own for the masquerade), so its
// image is one static binary: small, and quick to unpack on a new node, whose readiness
// waits for the CNI config it writes. Environment: NODE_NAME,
// POD_SUBNET, and CONTROL_PLANE_ENDPOINT (host:port, which kind adds to the manifest) or
// else the in-cluster KUBERNETES_SERVICE_HOST/PORT.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
)

const (
	saDir      = "/var/run/secrets/kubernetes.io/serviceaccount"
	cniConfDir = "/etc/cni/net.d"
	cniConf    = "10-podnet.conflist"
	nftTable   = "podnet" // ip family: masquerade out of the pod subnet, reject untranslated Service traffic
	interval   = 5 * time.Second
)

type node struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR  string   `json:"podCIDR"`
		PodCIDRs []string `json:"podCIDRs"`
	} `json:"spec"`
	Status struct {
		Addresses []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
	} `json:"status"`
}

func (n node) ipv4CIDR() string {
	for _, c := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
		if ip, _, err := net.ParseCIDR(c); err == nil && ip.To4() != nil {
			return c
		}
	}
	return ""
}

func (n node) internalIPv4() string {
	for _, a := range n.Status.Addresses {
		if ip := net.ParseIP(a.Address); a.Type == "InternalIP" && ip != nil && ip.To4() != nil {
			return a.Address
		}
	}
	return ""
}

type agent struct {
	client    *http.Client
	server    string
	token     string
	nodeName  string
	podSubnet *net.IPNet
	routes    map[string]string // podCIDR -> node IP we installed
	nftState  string            // what the nftables table was last built for
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmsgprefix)
	log.SetPrefix("podnet: ")
	a, err := newAgent()
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("node %s, pod subnet %s, API %s", a.nodeName, a.podSubnet, a.server)
	for {
		if err := a.sync(); err != nil {
			log.Print(err)
		}
		time.Sleep(interval)
	}
}

func newAgent() (*agent, error) {
	a := &agent{nodeName: os.Getenv("NODE_NAME"), routes: map[string]string{}}
	if a.nodeName == "" {
		return nil, fmt.Errorf("NODE_NAME must be set")
	}
	_, subnet, err := net.ParseCIDR(os.Getenv("POD_SUBNET"))
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("POD_SUBNET must be an IPv4 CIDR: %q", os.Getenv("POD_SUBNET"))
	}
	a.podSubnet = subnet
	endpoint := os.Getenv("CONTROL_PLANE_ENDPOINT")
	if endpoint == "" {
		endpoint = net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	}
	a.server = "https://" + endpoint
	token, err := os.ReadFile(filepath.Join(saDir, "token"))
	if err != nil {
		return nil, err
	}
	a.token = strings.TrimSpace(string(token))
	ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	a.client = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	return a, nil
}

// get decodes the JSON at path on the API server into out; found is false on 404.
func (a *agent) get(path string, out any) (found bool, err error) {
	req, err := http.NewRequest("GET", a.server+path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := a.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return true, json.NewDecoder(resp.Body).Decode(out)
}

func (a *agent) nodes() ([]node, error) {
	var list struct {
		Items []node `json:"items"`
	}
	_, err := a.get("/api/v1/nodes", &list)
	return list.Items, err
}

// serviceCIDRs lists the cluster's IPv4 Service ranges (networking.k8s.io/v1 ServiceCIDR,
// GA since Kubernetes 1.33; none on older clusters).
func (a *agent) serviceCIDRs() ([]*net.IPNet, error) {
	var list struct {
		Items []struct {
			Spec struct {
				CIDRs []string `json:"cidrs"`
			} `json:"spec"`
		} `json:"items"`
	}
	if _, err := a.get("/apis/networking.k8s.io/v1/servicecidrs", &list); err != nil {
		return nil, err
	}
	var cidrs []*net.IPNet
	for _, item := range list.Items {
		for _, c := range item.Spec.CIDRs {
			if _, n, err := net.ParseCIDR(c); err == nil && n.IP.To4() != nil {
				cidrs = append(cidrs, n)
			}
		}
	}
	return cidrs, nil
}

func (a *agent) sync() error {
	services, err := a.serviceCIDRs()
	if err != nil {
		return err
	}
	if err := a.ensureNftables(services); err != nil {
		return err
	}
	nodes, err := a.nodes()
	if err != nil {
		return err
	}
	for _, n := range nodes {
		cidr, ip := n.ipv4CIDR(), n.internalIPv4()
		if cidr == "" {
			continue
		}
		if n.Metadata.Name == a.nodeName {
			if err := writeCNIConfig(cidr); err != nil {
				return err
			}
			continue
		}
		if ip == "" {
			continue
		}
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil {
			return err
		}
		// replace is idempotent, so a route someone removed comes back at the next sync
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: net.ParseIP(ip)}); err != nil {
			return fmt.Errorf("route %s via %s: %w", cidr, ip, err)
		}
		if a.routes[cidr] != ip {
			log.Printf("route %s via %s (node %s)", cidr, ip, n.Metadata.Name)
			a.routes[cidr] = ip
		}
	}
	return nil
}

// ensureNftables keeps an nftables table of our own; in nft syntax:
//
//	chain postrouting { type nat hook postrouting priority srcnat; ip saddr <pods> ip daddr != <pods> masquerade }
//	chain forward { type filter hook forward priority filter; ip daddr <service range> reject }
//	chain output  { type filter hook output priority filter; ip daddr <service range> reject }
//
// kube-proxy translates ClusterIPs before these filter chains (in the nat hooks), so only
// traffic it has not translated is rejected. The table is rebuilt, in one transaction,
// when it is missing or the ranges change.
func (a *agent) ensureNftables(services []*net.IPNet) error {
	state := a.podSubnet.String()
	for _, s := range services {
		state += " " + s.String()
	}
	conn, err := nftables.New()
	if err != nil {
		return err
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range tables {
		if t.Name == nftTable && state == a.nftState {
			return nil
		}
	}
	// match: the address at offset (12 source, 16 destination) is (not) in n
	match := func(offset uint32, n *net.IPNet, op expr.CmpOp) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(n.Mask), Xor: make([]byte, 4)},
			&expr.Cmp{Op: op, Register: 1, Data: []byte(n.IP.To4())},
		}
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: nftTable}
	conn.AddTable(table) // so that the delete below cannot fail on a missing table
	conn.DelTable(table)
	conn.AddTable(table)
	nat := conn.AddChain(&nftables.Chain{
		Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
	})
	masq := append(match(12, a.podSubnet, expr.CmpOpEq), match(16, a.podSubnet, expr.CmpOpNeq)...)
	conn.AddRule(&nftables.Rule{Table: table, Chain: nat, Exprs: append(masq, &expr.Masq{})})
	for _, hook := range []struct {
		name string
		hook *nftables.ChainHook
	}{{"forward", nftables.ChainHookForward}, {"output", nftables.ChainHookOutput}} {
		chain := conn.AddChain(&nftables.Chain{
			Name: hook.name, Table: table, Type: nftables.ChainTypeFilter,
			Hooknum: hook.hook, Priority: nftables.ChainPriorityFilter,
		})
		for _, svc := range services {
			// ICMP port unreachable: a connect() fails at once with "connection refused"
			reject := &expr.Reject{Type: 0 /* NFT_REJECT_ICMP_UNREACH */, Code: 3}
			conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: append(match(16, svc, expr.CmpOpEq), reject)})
		}
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	a.nftState = state
	log.Printf("nftables table ip %s: masquerade from %s; reject untranslated traffic to%s",
		nftTable, a.podSubnet, strings.TrimPrefix(state, a.podSubnet.String()))
	return nil
}

func writeCNIConfig(podCIDR string) error {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "podnet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": podCIDR}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	want, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(cniConfDir, cniConf)
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, want, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	log.Printf("wrote %s for pod CIDR %s", path, podCIDR)
	return nil
}

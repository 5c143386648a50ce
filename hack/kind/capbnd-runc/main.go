// capbnd-runc runs runc, first dropping from the container's OCI config every capability
// that this process's bounding set (CapBnd in /proc/self/status) does not hold.
//
// Some machines run root without a capability or two in its bounding set (ours lack
// CAP_SYS_RESOURCE). Docker's --privileged asks runc for every capability Docker knows,
// and runc then fails with "unable to apply caps: operation not permitted". A capability
// outside the bounding set can never be granted, so dropping it from the request changes
// nothing a container could have had. Register this with
// `dockerd --add-runtime capbnd-runc=/path/to/capbnd-runc` (or daemon.json "runtimes").
//
// It rewrites <bundle>/config.json on `create` and `run`, and the --process file on
// `exec`; every other runc command passes through untouched. RUNC names the real runc
// (default: the first "runc" on PATH).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capNumbers maps capability names to their bit numbers (linux/capability.h).
var capNumbers = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

func main() {
	runc, err := realRunc()
	if err != nil {
		fail(err)
	}
	if err := rewrite(os.Args[1:]); err != nil {
		fail(err)
	}
	argv := append([]string{runc}, os.Args[1:]...)
	fail(syscall.Exec(runc, argv, os.Environ()))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "capbnd-runc: %v\n", err)
	os.Exit(1)
}

func realRunc() (string, error) {
	if p := os.Getenv("RUNC"); p != "" {
		return p, nil
	}
	self, _ := os.Executable()
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "runc")
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			if real, _ := filepath.EvalSymlinks(p); real != self {
				return p, nil
			}
		}
	}
	for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no runc found (set RUNC)")
}

// rewrite finds the file runc will read capabilities from, if the command has one.
func rewrite(args []string) error {
	cmdAt := -1
	for i, a := range args {
		if a == "create" || a == "run" || a == "exec" {
			cmdAt = i
			break
		}
	}
	if cmdAt < 0 {
		return nil
	}
	rest := args[cmdAt+1:]
	switch args[cmdAt] {
	case "exec":
		if p := flagValue(rest, "process", "p"); p != "" {
			return filterFile(p, func(doc map[string]any) map[string]any { return doc })
		}
		return nil // caps then come from the container's own (already filtered) config
	default:
		bundle := flagValue(rest, "bundle", "b")
		if bundle == "" {
			bundle = "."
		}
		return filterFile(filepath.Join(bundle, "config.json"), func(doc map[string]any) map[string]any {
			proc, _ := doc["process"].(map[string]any)
			return proc
		})
	}
}

// flagValue returns the value of --name/-short given as "--name v", "--name=v", "-s v" or "-s=v".
func flagValue(args []string, name, short string) string {
	for i, a := range args {
		for _, f := range []string{"--" + name, "-" + name, "-" + short} {
			if a == f && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, f+"=") {
				return strings.TrimPrefix(a, f+"=")
			}
		}
	}
	return ""
}

func boundingSet() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd in /proc/self/status")
}

// filterFile drops the unavailable capabilities from the process object that pick finds in
// the JSON file at path, and writes the file back only when something was dropped.
func filterFile(path string, pick func(map[string]any) map[string]any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep 64-bit integers (memory limits, ids) exact
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	proc := pick(doc)
	if proc == nil {
		return nil
	}
	caps, _ := proc["capabilities"].(map[string]any)
	if caps == nil {
		return nil
	}
	bnd, err := boundingSet()
	if err != nil {
		return err
	}
	changed := false
	for set, v := range caps {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		kept := make([]any, 0, len(list))
		for _, c := range list {
			name, _ := c.(string)
			if n, known := capNumbers[name]; known && bnd&(1<<n) == 0 {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		caps[set] = kept
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".capbnd"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

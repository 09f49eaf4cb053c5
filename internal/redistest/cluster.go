package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CLIBinary is the client program that creates a cluster, looked up on
// PATH.
const CLIBinary = "redis-cli"

// Cluster is a Redis Cluster of master nodes owned by a test, each a
// [Server] started with cluster mode on.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts masters redis-server processes in cluster mode on
// loopback (no replicas), joins them with redis-cli --cluster create,
// which spreads the 16,384 slots evenly, and waits until every node says
// cluster_state:ok. It skips or fails as [Start] does when the programs
// are missing, and stops the nodes when the test ends.
func StartCluster(tb testing.TB, masters int) *Cluster {
	tb.Helper()
	if masters < 3 {
		tb.Fatalf("redistest: a cluster needs at least 3 masters, not %d", masters)
	}
	c := &Cluster{}
	for range masters {
		c.nodes = append(c.nodes, Start(tb, optionFunc(func(cfg config) config { cfg.cluster = true; return cfg })))
	}
	if _, err := exec.LookPath(CLIBinary); err != nil {
		tb.Fatalf("redistest: %s not found on PATH: %v", CLIBinary, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, CLIBinary, args...).CombinedOutput(); err != nil {
		tb.Fatalf("redistest: %s %s: %v\n%s", CLIBinary, strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(StartTimeout)
	for _, n := range c.nodes {
		for {
			info, err := command(n.Addr(), "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: cluster node %s not ready: %v %q", n.Addr(), err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the cluster's servers, to stop or kill one.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// command sends one inline command and returns its reply: the text of a
// status, error or integer reply, or the payload of a bulk string.
func command(addr, cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply to %s", cmd)
	}
	switch line[0] {
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("reply %q to %s", line, cmd)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '-':
		return "", fmt.Errorf("%s: %s", cmd, line[1:])
	}
	return line[1:], nil
}

// UsedCPU returns the CPU time (user and system) the Redis servers at addrs
// have used so far, from INFO cpu: benchmarks report it per event, which
// the benchmark process sharing the cores blurs less than wall time.
func UsedCPU(tb testing.TB, addrs ...string) time.Duration {
	tb.Helper()
	var s float64
	for _, addr := range addrs {
		info, err := command(addr, "INFO cpu")
		if err != nil {
			tb.Fatalf("redistest: INFO cpu of %s: %v", addr, err)
		}
		for line := range strings.SplitSeq(info, "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
				f, _ := strconv.ParseFloat(v, 64)
				s += f
			}
		}
	}
	return time.Duration(s * float64(time.Second))
}

// CommandStat returns how many times the server at addr ran cmd (lower
// case, as INFO commandstats names it) and the microseconds it spent in
// it; zeros for a command it never ran.
func CommandStat(tb testing.TB, addr, cmd string) (calls int64, usec float64) {
	tb.Helper()
	info, err := command(addr, "INFO commandstats")
	if err != nil {
		tb.Fatalf("redistest: INFO commandstats of %s: %v", addr, err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for f := range strings.SplitSeq(rest, ",") {
			switch k, v, _ := strings.Cut(f, "="); k {
			case "calls":
				calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return calls, usec
}

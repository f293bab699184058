package main

import (
	"context"
	"errors"
	"fmt"
	"hotline/internal/probe"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clusterConfig is the three-node part (issue 13): three Hotline nodes
// sharing a redis-server behind the shipped Kamailio edge, against one
// Hotline alone, both driven by the Go generator.
type clusterConfig struct {
	Nodes       int
	Agents      int
	StepDur     time.Duration // launches per call-rate step
	Hold        time.Duration
	RateStart   float64
	RateCap     float64
	SearchIters int
	// LatencyRate is the moderate rate the setup latency is measured at,
	// on one node and on the cluster; LatencyDur how long it launches.
	LatencyRate float64
	LatencyDur  time.Duration
	Budget      time.Duration
}

func defaultClusterConfig(quick bool) clusterConfig {
	if quick {
		return clusterConfig{Nodes: 3, Agents: 800, StepDur: 3 * time.Second, Hold: time.Second, RateStart: 50, RateCap: 400,
			SearchIters: 1, LatencyRate: 40, LatencyDur: 5 * time.Second, Budget: 4 * time.Minute}
	}
	return clusterConfig{Nodes: 3, Agents: 1200, StepDur: 5 * time.Second, Hold: time.Second, RateStart: 50, RateCap: 600,
		SearchIters: 3, LatencyRate: 40, LatencyDur: 10 * time.Second, Budget: 8 * time.Minute}
}

// clusterResults is what the three-node part measured.
type clusterResults struct {
	Cfg clusterConfig
	// OneRate and ClusterRate are the highest passing call rates (NaN:
	// not measured); the steps are the searches'.
	OneRate, ClusterRate       float64
	OneLimit, ClusterLimit     string
	OneSteps, ClusterSteps     []rateStep
	OneLatency, ClusterLatency *rateStep
	// Spread is the calls each node recorded over the cluster's steps.
	Spread []uint64
	// EdgeCores and RedisCores are Kamailio's and Redis's average CPU
	// over the cluster's steps; NodeCores the three nodes' together.
	EdgeCores, RedisCores, NodeCores float64
	// LoadBefore and LoadAfter are /proc/loadavg at the part's start and
	// end: on a shared machine, how busy it was besides the benchmark.
	LoadBefore, LoadAfter string
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// hotlineSet is the nodes of a cluster, loaded and watched together.
type hotlineSet []*hotlineProc

func (s hotlineSet) activeCalls(ctx context.Context) (int, error) {
	total := 0
	for _, h := range s {
		n, err := h.activeCalls(ctx)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// backlog sums the nodes' upload backlogs (LastError: the first one).
func (s hotlineSet) backlog(ctx context.Context) (backlog, error) {
	var t backlog
	for _, h := range s {
		b, err := h.backlog(ctx)
		if err != nil {
			return t, err
		}
		t.Files += b.Files
		t.Recording += b.Recording
		t.Failures += b.Failures
		t.Uploaded += b.Uploaded
		if t.LastError == "" {
			t.LastError = b.LastError
		}
	}
	return t, nil
}

func (s hotlineSet) exitErr() error {
	for _, h := range s {
		if err := h.exitErr(); err != nil {
			return fmt.Errorf("%s: %w", h.opts.Node, err)
		}
	}
	return nil
}

func (s hotlineSet) waitIdle(ctx context.Context, bound time.Duration, uploads bool) (backlog, error) {
	return pollIdle(ctx, s, bound, uploads)
}

func (s hotlineSet) waitUploads(ctx context.Context, base uint64, want int, bound, stall time.Duration) (backlog, error) {
	return pollUploads(ctx, s, base, want, bound, stall)
}

// refusedByReason sums the nodes' hotline_calls_refused_total by reason
// (nil when a node's metrics cannot be read).
func (s hotlineSet) refusedByReason(ctx context.Context) map[string]float64 {
	out := map[string]float64{}
	for _, h := range s {
		m := h.refusedByReason(ctx)
		if m == nil {
			return nil
		}
		for reason, v := range m {
			out[reason] += v
		}
	}
	return out
}

// usage sums the nodes' CPU time and resident set sizes.
func (s hotlineSet) usage() (time.Duration, int64) {
	var cpu time.Duration
	var rss int64
	for _, h := range s {
		c, r := h.usage()
		cpu, rss = cpu+c, rss+r
	}
	return cpu, rss
}

// uploaded is the recordings each node has uploaded so far.
func (s hotlineSet) uploaded(ctx context.Context) []uint64 {
	out := make([]uint64, len(s))
	for i, h := range s {
		if b, err := h.backlog(ctx); err == nil {
			out[i] = b.Uploaded
		}
	}
	return out
}

// hotlineCluster is a running three-node hotline: redis-server, the
// nodes, and Kamailio in front of them.
type hotlineCluster struct {
	redis *child
	edge  *child
	nodes hotlineSet
	// edgeAddr is Kamailio's SIP address: callers and agents use it.
	edgeAddr netip.AddrPort
}

func (c *hotlineCluster) stop() {
	if c.edge != nil {
		c.edge.stop(5 * time.Second)
	}
	for _, h := range c.nodes {
		h.stop(15 * time.Second)
	}
	if c.redis != nil {
		c.redis.stop(5 * time.Second)
	}
}

// startCluster starts redis-server, n Hotline nodes sharing it (each with
// its own part of o's RTP range) and Kamailio with the shipped
// deploy/kamailio/kamailio.cfg in front of them, all on 127.0.0.1 in dir.
func startCluster(ctx context.Context, pr *procs, bin, repo, dir string, n int, o hotlineOpts) (*hotlineCluster, error) {
	c := &hotlineCluster{}
	ok := false
	defer func() {
		if !ok {
			c.stop()
		}
	}()
	var err error
	var redisURL string
	if c.redis, redisURL, err = startRedis(ctx, pr, filepath.Join(dir, "redis")); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	ranges := splitRTPRange(o.RTPMin, o.RTPMax, n)
	var addrs []string
	for i := range n {
		no := o
		no.RedisURL, no.Node = redisURL, fmt.Sprintf("node%d", i+1)
		no.RTPMin, no.RTPMax = ranges[i][0], ranges[i][1]
		h, err := startHotline(ctx, pr, bin, filepath.Join(dir, no.Node), no)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", no.Node, err)
		}
		c.nodes = append(c.nodes, h)
		addrs = append(addrs, h.sip.String())
	}
	if c.edge, c.edgeAddr, err = startKamailio(ctx, pr, repo, filepath.Join(dir, "kamailio"), addrs); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// startRedis starts a throw-away redis-server (no persistence) on a free
// loopback port with its files in dir, and returns its redis:// URL.
func startRedis(ctx context.Context, pr *procs, dir string) (*child, string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, "", errors.New("redis-server not found (Debian package redis-server; make apt-deps installs it)")
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, "", err
	}
	var last error
	for range 3 { // a free port may be taken before redis-server binds it
		port, err := freeTCPPort()
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning")
		cmd.Dir = dir
		c, err := pr.start("redis-server", cmd, filepath.Join(dir, "redis.log"))
		if err != nil {
			return nil, "", err
		}
		if last = waitReady(ctx, c, 10*time.Second, func() error { return probe.RedisPing(addr) }); last == nil {
			return c, "redis://" + addr + "/0", nil
		}
		c.stop(5 * time.Second)
	}
	return nil, "", fmt.Errorf("redis-server did not start: %w", last)
}

// kamailioBinary finds kamailio in PATH or /usr/sbin (where Debian puts it).
func kamailioBinary() (string, error) {
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p, nil
	}
	if st, err := os.Stat("/usr/sbin/kamailio"); err == nil && !st.IsDir() {
		return "/usr/sbin/kamailio", nil
	}
	return "", errors.New("kamailio not found in PATH nor /usr/sbin (Debian package kamailio; make apt-deps installs it)")
}

// startKamailio runs the shipped edge configuration (repo's
// deploy/kamailio/kamailio.cfg, parameterised as internal/kamailiotest
// does) in front of nodes, on a free loopback UDP port.
func startKamailio(ctx context.Context, pr *procs, repo, dir string, nodes []string) (*child, netip.AddrPort, error) {
	bin, err := kamailioBinary()
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, netip.AddrPort{}, err
	}
	var list strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&list, "1 sip:%s 8 0\n", n)
	}
	listPath := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listPath, []byte(list.String()), 0o644); err != nil {
		return nil, netip.AddrPort{}, err
	}
	var last error
	for range 3 {
		port, err := freeUDPPort()
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
		cmd := exec.Command(bin, "-f", filepath.Join(repo, "deploy", "kamailio", "kamailio.cfg"),
			"-DD", "-E", "-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-w", dir, "-m", "128", "-M", "16",
			"-A", "LISTEN=udp:"+addr.String(),
			"-A", `DISPATCHER_LIST="`+listPath+`"`,
			"-A", `CTL_SOCKET="unix:`+filepath.Join(dir, "ctl.sock")+`"`,
			"-A", "CHILDREN=4")
		cmd.Dir = dir
		c, err := pr.start("kamailio", cmd, filepath.Join(dir, "kamailio.log"))
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		if last = waitReady(ctx, c, 15*time.Second, func() error { return probe.SIPOptions(addr.String()) }); last == nil {
			return c, addr, nil
		}
		c.stop(5 * time.Second)
	}
	return nil, netip.AddrPort{}, fmt.Errorf("kamailio did not start: %w", last)
}

// waitReady polls ready until it succeeds, the child exits or bound passes.
func waitReady(ctx context.Context, c *child, bound time.Duration, ready func() error) error {
	deadline := time.Now().Add(bound)
	var last error
	for time.Now().Before(deadline) {
		if !c.alive() {
			return fmt.Errorf("%s exited: %s", c.name, c.logTail(20))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if last = ready(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s (%v): %s", c.name, bound, last, c.logTail(20))
}

// registerAll registers agents 0..n-1 through g's target and waits until
// every node counts them available.
func registerAll(ctx context.Context, g *loadGen, nodes hotlineSet, n int) error {
	users := make([]string, n)
	for i := range users {
		users[i] = agentName(i)
	}
	if failed, err := g.registerAgents(ctx, users, agentPassword, 64); failed > 0 {
		return fmt.Errorf("%d agents failed to register: %w", failed, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, h := range nodes {
		for {
			got, err := h.availableAgents(ctx)
			if err == nil && got == n {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("%s: %d of %d agents available after registering (%v)", h.opts.Node, got, n, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

// clusterFigures measures the three-node part: one Hotline alone, then
// three nodes behind Kamailio sharing Redis; on each the setup latency at
// LatencyRate and the highest recorded call rate.
func (d *driver) clusterFigures(ctx context.Context) error {
	cc := d.cfg.Cluster
	res := &clusterResults{Cfg: cc, OneRate: math.NaN(), ClusterRate: math.NaN(), LoadBefore: loadAvg()}
	d.res.Cluster = res
	defer func() { res.LoadAfter = loadAvg() }()
	// The searches run with this part's step settings and budget.
	sub := *d
	sub.deadline = time.Now().Add(cc.Budget)
	sub.cfg.StepDur, sub.cfg.Hold, sub.cfg.RateStart, sub.cfg.RateCap = cc.StepDur, cc.Hold, cc.RateStart, cc.RateCap
	sub.cfg.SearchIters = cc.SearchIters

	media, err := newMediaEngine(4, 4*cc.Agents+1024)
	if err != nil {
		return err
	}
	mctx, stopMedia := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	mwg.Add(1)
	go func() { defer mwg.Done(); media.run(mctx) }()
	defer func() { stopMedia(); mwg.Wait() }()
	sub.media = media

	latency := func(t rateTarget, g *loadGen) *rateStep {
		lat := sub
		lat.cfg.StepDur = cc.LatencyDur
		s := lat.rateStep(ctx, t, g, cc.LatencyRate)
		return &s
	}

	// One node, callers and agents straight to it, no Redis, no edge.
	d.log.Info("cluster part: one node", "agents", cc.Agents)
	h, g, err := sub.startHotline(ctx, "cluster-one", hotlineOpts{Agents: cc.Agents})
	if err != nil {
		return fmt.Errorf("one node: %w", err)
	}
	res.OneLatency = latency(h, g)
	res.OneRate, res.OneLimit, res.OneSteps = sub.searchRate(ctx, h, g, 0, cc.SearchIters)
	g.close()
	h.stop(15 * time.Second)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	d.log.Info("cluster part: starting redis-server, three nodes and kamailio", "agents", cc.Agents)
	c, err := startCluster(ctx, d.pr, d.bin, d.repo, filepath.Join(d.work, "cluster"), cc.Nodes, hotlineOpts{Agents: cc.Agents})
	if err != nil {
		return err
	}
	defer c.stop()
	g, err = newLoadGen(media, c.edgeAddr, "1900", d.log.With("component", "sipgo"))
	if err != nil {
		return err
	}
	defer g.close()
	t0 := time.Now()
	if err := registerAll(ctx, g, c.nodes, cc.Agents); err != nil {
		return fmt.Errorf("agents through the edge: %w", err)
	}
	d.log.Info("agents registered through kamailio", "agents", cc.Agents, "took", time.Since(t0).Round(time.Millisecond))

	up0 := c.nodes.uploaded(ctx)
	edge0, _ := ProcTreeCPU(c.edge.PID())
	redis0, _ := ProcCPU(c.redis.PID())
	nodes0, _ := c.nodes.usage()
	start := time.Now()
	res.ClusterLatency = latency(c.nodes, g)
	hint := 0.0
	if !math.IsNaN(res.OneRate) && res.OneRate > 0 {
		hint = res.OneRate // start near one node's rate, search both ways
	}
	res.ClusterRate, res.ClusterLimit, res.ClusterSteps = sub.searchRate(ctx, c.nodes, g, hint, cc.SearchIters)
	el := time.Since(start).Seconds()
	edge1, _ := ProcTreeCPU(c.edge.PID())
	redis1, _ := ProcCPU(c.redis.PID())
	nodes1, _ := c.nodes.usage()
	res.EdgeCores, res.RedisCores, res.NodeCores = (edge1-edge0).Seconds()/el, (redis1-redis0).Seconds()/el, (nodes1-nodes0).Seconds()/el
	for i, u := range c.nodes.uploaded(ctx) {
		res.Spread = append(res.Spread, u-up0[i])
	}
	return nil
}

// splitRTPRange splits the RTP port range lo-hi into n disjoint ranges,
// one per node, each starting on an even port (Hotline's rtp.port_min
// must be even: RTP on the even port, RTCP on the next).
func splitRTPRange(lo, hi, n int) [][2]int {
	lo += lo % 2
	span := (hi - lo + 1) / n &^ 1
	out := make([][2]int, n)
	for i := range out {
		out[i] = [2]int{lo + i*span, lo + (i+1)*span - 1}
	}
	return out
}

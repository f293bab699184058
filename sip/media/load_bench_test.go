//go:build unix

package media

import (
	"encoding/binary"
	"errors"
	"flag"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"hotline/audio"
	"hotline/recording"
)

// Relay modes compared by BenchmarkRelayLoad, all over the same kind of
// loopback sockets and driven by the same paced phones.
const (
	modeDirect   = "direct"   // phones send to each other: the generator's own cost
	modeBare     = "bare"     // one goroutine per leg socket: read, write, nothing else
	modeLegs     = "legs"     // two bridged Legs
	modeRecorded = "recorded" // two bridged Legs with recording taps (file backend)
)

// loadCalls is how many calls BenchmarkRelayLoad runs at once: 50 packets
// per second each way per call, like real G.711 20 ms audio.
const loadCalls = 200

// modeCalls is how many calls BenchmarkRelayLoadMode runs at once
// (-loadcalls; e.g. 1000 to see the relay on a saturated machine).
var modeCalls = flag.Int("loadcalls", loadCalls, "calls BenchmarkRelayLoadMode runs at once")

// loadPhone is one paced RTP sender/receiver on 127.0.0.1.
type loadPhone struct {
	conn *net.UDPConn
	dst  netip.AddrPort
	pkt  [12 + 160]byte
	seq  uint16
	ts   uint32
	recv atomic.Uint64
}

func (p *loadPhone) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *loadPhone) readLoop(wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 1600)
	for {
		if _, _, err := p.conn.ReadFromUDPAddrPort(buf); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.recv.Add(1)
	}
}

func (p *loadPhone) send() error {
	binary.BigEndian.PutUint16(p.pkt[2:], p.seq)
	binary.BigEndian.PutUint32(p.pkt[4:], p.ts)
	p.seq++
	p.ts += 160
	_, err := p.conn.WriteToUDPAddrPort(p.pkt[:], p.dst)
	return err
}

// cpuTime is the process's user+system CPU time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadSetup is loadCalls calls of one relay mode, with their phones.
type loadSetup struct {
	mode            string
	callers, agents []*loadPhone
	wg              sync.WaitGroup
	closers         []func()
	recorders       []*recording.Recorder
	legs            [][2]*Leg // caller's and agent's leg of each call (not in the direct and bare modes)
	received0       uint64
	sentTotal       uint64 // every packet the phones sent, warm-up included
}

// newLoadSetup builds calls calls in mode; close releases everything.
func newLoadSetup(b *testing.B, mode string, calls int, ports *Ports) *loadSetup {
	s := &loadSetup{mode: mode, callers: make([]*loadPhone, calls), agents: make([]*loadPhone, calls)}
	dir := b.TempDir() // before the cleanup below, which runs first
	b.Cleanup(s.close)
	for i := range calls {
		for _, p := range []**loadPhone{&s.callers[i], &s.agents[i]} {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			s.closers = append(s.closers, func() { _ = c.Close() })
			*p = &loadPhone{conn: c}
		}
		s.callers[i].init(fmtPCMU.PT, uint32(2*i))
		s.agents[i].init(fmtPCMA.PT, uint32(2*i+1))
	}
	if mode == modeDirect {
		for i := range calls {
			s.callers[i].dst, s.agents[i].dst = s.agents[i].addr(), s.callers[i].addr()
		}
	} else {
		var mgr *recording.Manager
		if mode == modeRecorded {
			var err error
			mgr, err = recording.New(recording.Config{
				SpoolDir: filepath.Join(dir, "spool"),
				File:     recording.FileConfig{Dir: filepath.Join(dir, "store")},
			}, recording.Options{})
			if err != nil {
				b.Fatal(err)
			}
			s.closers = append(s.closers, func() { _ = mgr.Close() })
		}
		cfg := testConfig()
		for i := range calls {
			cl, err := NewLeg(cfg, ports, nil)
			if err != nil {
				b.Fatal(err)
			}
			al, err := NewLeg(cfg, ports, nil)
			if err != nil {
				_ = cl.Close()
				b.Fatal(err)
			}
			s.closers = append(s.closers, func() {
				_, _ = cl.Close(), al.Close()
				<-cl.Done()
				<-al.Done()
			})
			s.callers[i].dst, s.agents[i].dst = cl.LocalAddr(), al.LocalAddr()
			if mode == modeBare {
				x, y := &bareRelay{conn: cl.conn}, &bareRelay{conn: al.conn}
				x.other, y.other = y, x
				s.wg.Add(2)
				go x.loop(&s.wg)
				go y.loop(&s.wg)
				continue
			}
			cl.SetRemote(s.callers[i].addr(), fmtPCMU)
			al.SetRemote(s.agents[i].addr(), fmtPCMA)
			cl.Start()
			al.Start()
			Bridge(cl, al)
			s.legs = append(s.legs, [2]*Leg{cl, al})
			if mgr != nil {
				rec, err := mgr.Begin(recording.CallInfo{CallID: "load-" + strconv.Itoa(i)})
				if err != nil {
					b.Fatal(err)
				}
				rec.SetFormat(recording.Agent, audio.PCMA().WithPT(fmtPCMA.PT))
				cl.SetBatchTap(func(ps [][]byte, _ uint64, at time.Time) { rec.Packets(recording.Caller, ps, at) })
				al.SetBatchTap(func(ps [][]byte, _ uint64, at time.Time) { rec.Packets(recording.Agent, ps, at) })
				s.recorders = append(s.recorders, rec)
				s.closers = append(s.closers, func() {
					cl.SetTap(nil)
					al.SetTap(nil)
					if err := rec.Finish(time.Now()); err != nil {
						b.Error(err)
					}
					if st := rec.Stats(); st.Dropped != 0 {
						b.Errorf("recorder %s dropped %d packets", rec.Key(), st.Dropped)
					}
				})
			}
		}
	}
	for _, p := range append(append([]*loadPhone(nil), s.callers...), s.agents...) {
		s.wg.Add(1)
		go p.readLoop(&s.wg)
	}
	return s
}

func (s *loadSetup) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	s.wg.Wait()
}

// run sends rounds 20 ms periods of audio (every call in its own 1 ms
// slot), waits up to 2 s for the packets to arrive and returns how many
// were sent and received.
func (s *loadSetup) run(rounds int) (sent, received uint64) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	calls := len(s.callers)
	for r := range rounds {
		for slot := range 20 {
			if r+slot > 0 {
				<-tick.C
			}
			for i := slot; i < calls; i += 20 {
				if s.callers[i].send() == nil {
					sent++
				}
				if s.agents[i].send() == nil {
					sent++
				}
			}
		}
	}
	s.sentTotal += sent
	want := s.received0 + sent
	deadline := time.Now().Add(2 * time.Second)
	for s.received() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := s.received()
	received = got - s.received0
	s.received0 = got
	return sent, received
}

// lost is how many of the packets sent since the setup was built have not
// arrived. A run's own sent minus received is not that: packets late for
// one run (the warm-up's, or any that missed a run's 2 s wait) are counted
// as received by the next, whose difference then goes below zero (in
// uint64, it wrapped to about 1.8e19).
func (s *loadSetup) lost() uint64 { return lostPackets(s.sentTotal, s.received()) }

// lostPackets is sent minus received, never below zero.
func lostPackets(sent, received uint64) uint64 {
	if received >= sent {
		return 0
	}
	return sent - received
}

func (s *loadSetup) received() (n uint64) {
	for i := range s.callers {
		n += s.callers[i].recv.Load() + s.agents[i].recv.Load()
	}
	return n
}

// BenchmarkRelayLoad compares the relay modes under paced load: loadCalls
// calls per mode with audio both ways (50 packets per second each way per
// call, every call in its own 1 ms slot of the 20 ms period, like
// cmd/hotline-load). One op is one cycle of 10 periods (200 ms) of each
// mode in turn, so that the shared machine's changing load affects every
// mode alike. Reported: the process's CPU time (user+system, from
// getrusage) per packet delivered, for the phones alone (direct-ns/pkt)
// and for each relay minus the phones' share (bare-, legs-,
// recorded-ns/pkt), and the ratio of the recorded relay to the bare relay.
func BenchmarkRelayLoad(b *testing.B) {
	modes := []string{modeDirect, modeBare, modeLegs, modeRecorded}
	// Below the ephemeral range (the phones' ports): Ports skips ports
	// other programs hold.
	ports := NewPorts(12000, 30000)
	setups := make([]*loadSetup, len(modes))
	for i, m := range modes {
		setups[i] = newLoadSetup(b, m, loadCalls, ports)
		setups[i].run(5) // latch, grow buffers
	}
	var cpu [4]time.Duration
	var pkts [4]uint64
	b.ResetTimer()
	for range b.N {
		for i, s := range setups {
			c0 := cpuTime(b)
			_, got := s.run(10)
			cpu[i] += cpuTime(b) - c0
			pkts[i] += got
		}
	}
	b.StopTimer()
	per := func(i int) float64 { return float64(cpu[i].Nanoseconds()) / float64(max(pkts[i], 1)) }
	direct := per(0)
	b.ReportMetric(direct, "direct-ns/pkt")
	for i := 1; i < len(modes); i++ {
		b.ReportMetric(per(i)-direct, modes[i]+"-ns/pkt")
	}
	b.ReportMetric((per(3)-direct)/(per(1)-direct), "recorded/bare")
	b.ReportMetric((per(2)-direct)/(per(1)-direct), "legs/bare")
	var lost uint64
	for _, s := range setups {
		lost += s.lost()
	}
	b.ReportMetric(float64(lost), "lost")
}

// BenchmarkRelayLoadMode runs one mode of BenchmarkRelayLoad alone, for
// profiling (-cpuprofile). One op is one 20 ms period.
func BenchmarkRelayLoadMode(b *testing.B) {
	for _, mode := range []string{modeDirect, modeBare, modeLegs, modeRecorded} {
		b.Run(mode, func(b *testing.B) {
			s := newLoadSetup(b, mode, *modeCalls, NewPorts(12000, 30000))
			s.run(5)
			b.ResetTimer()
			c0 := cpuTime(b)
			_, got := s.run(b.N)
			cpu := cpuTime(b) - c0
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(got, 1)), "cpu-ns/pkt")
			b.ReportMetric(float64(s.lost()), "lost")
		})
	}
}

func (p *loadPhone) init(pt uint8, ssrc uint32) {
	p.pkt[0] = 0x80
	p.pkt[1] = pt
	binary.BigEndian.PutUint32(p.pkt[8:], ssrc)
	for i := 12; i < len(p.pkt); i++ {
		p.pkt[i] = 0xFF // µ-law silence
	}
}

// BenchmarkCallMemory reports the memory each call of BenchmarkRelayLoad's
// modes holds once its audio flows (buffers at their working size): live
// heap plus goroutine stacks, and goroutines, per call. Subtract the
// direct mode (the phones alone) for the relay's own share.
func BenchmarkCallMemory(b *testing.B) {
	for _, mode := range []string{modeDirect, modeBare, modeLegs, modeRecorded} {
		b.Run(mode, func(b *testing.B) {
			ports := NewPorts(12000, 30000)
			var heap, stack, gs float64
			for range b.N {
				m0, g0 := memInUse()
				s := newLoadSetup(b, mode, loadCalls, ports)
				s.run(10)
				m1, g1 := memInUse()
				heap += float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
				stack += float64(m1.StackInuse) - float64(m0.StackInuse)
				gs += float64(g1 - g0)
				s.close()
			}
			n := float64(b.N * loadCalls)
			b.ReportMetric(heap/n, "heap-B/call")
			b.ReportMetric(stack/n, "stack-B/call")
			b.ReportMetric((heap+stack)/n, "B/call")
			b.ReportMetric(gs/n, "goroutines/call")
		})
	}
}

func memInUse() (runtime.MemStats, int) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m, runtime.NumGoroutine()
}

// TestLostPacketsNeverWraps: a run that receives packets late from the run
// before (more than it sent) reports nothing lost, not 1.8e19.
func TestLostPacketsNeverWraps(t *testing.T) {
	for _, c := range []struct{ sent, received, want uint64 }{
		{100, 100, 0}, {100, 97, 3}, {100, 103, 0}, {0, 5, 0},
	} {
		if got := lostPackets(c.sent, c.received); got != c.want {
			t.Errorf("lostPackets(%d, %d) = %d, want %d", c.sent, c.received, got, c.want)
		}
	}
}

//go:build unix

package media

import (
	"net"
	"testing"
	"time"
)

// monitorCalls is how many calls BenchmarkMonitorLoad runs at once.
const monitorCalls = 50

// BenchmarkMonitorLoad measures what monitoring costs: monitorCalls calls
// relayed by bridged legs (audio both ways, paced like
// BenchmarkRelayLoad), unmonitored or each with a supervisor in one mode
// whose phone sends audio too. Reported: the process's CPU time per
// second of call (cpu-us/call-s); a monitored mode minus "unmonitored"
// is the cost of one monitored call (the supervisor's leg, the mixing
// and the supervisor phone's share of the generator).
func BenchmarkMonitorLoad(b *testing.B) {
	for _, mode := range []string{"unmonitored", Listen.String(), Whisper.String(), Barge.String()} {
		b.Run(mode, func(b *testing.B) {
			ports := NewPorts(12000, 30000)
			s := newLoadSetup(b, modeLegs, monitorCalls, ports)
			var sups []*loadPhone
			if m, ok := ParseMonitorMode(mode); ok {
				cfg := testConfig()
				for i, legs := range s.legs {
					c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
					if err != nil {
						b.Fatal(err)
					}
					p := &loadPhone{conn: c}
					p.init(fmtPCMU.PT, uint32(1000+i))
					sl, err := NewLeg(cfg, ports, nil)
					if err != nil {
						b.Fatal(err)
					}
					sl.SetRemote(p.addr(), fmtPCMU)
					sl.Start()
					p.dst = sl.LocalAddr()
					mon, err := NewMonitor(legs[0], legs[1], sl, m)
					if err != nil {
						b.Fatal(err)
					}
					s.closers = append(s.closers, func() {
						mon.Stop()
						_ = sl.Close()
						<-sl.Done()
						_ = c.Close()
					})
					s.wg.Add(1)
					go p.readLoop(&s.wg)
					sups = append(sups, p)
				}
			}
			send := func() {
				for _, p := range sups {
					_ = p.send()
				}
			}
			send()
			s.run(5)
			b.ResetTimer()
			c0 := cpuTime(b)
			rounds := 0
			for range b.N {
				// The supervisors send once per 20 ms period, like the
				// callers and agents (run paces those).
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					t := time.NewTicker(20 * time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							send()
						}
					}
				}()
				s.run(10)
				close(stop)
				<-done
				rounds += 10
			}
			cpu := cpuTime(b) - c0
			b.StopTimer()
			callSeconds := float64(rounds) * 0.02 * monitorCalls
			b.ReportMetric(float64(cpu.Microseconds())/callSeconds, "cpu-us/call-s")
			var got uint64
			for _, p := range sups {
				got += p.recv.Load()
			}
			if len(sups) > 0 && got == 0 {
				b.Error("no supervisor received the mix")
			}
		})
	}
}

package media

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"hotline/audio"
)

// TestBurstIsRelayedInOrder: packets that queued up on a leg's socket
// while its goroutine was held up (here: before Start) are all read and
// relayed together (recvmmsg and sendmmsg on Linux), in order, rewritten
// for the agent, with garbage, oversized packets and an intruder dropped
// and every accepted packet seen by the batch tap as received (several
// at a time); on IPv4 and IPv6.
func TestBurstIsRelayedInOrder(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			addr := netip.MustParseAddr(ip)
			network := "udp4"
			if addr.Is6() {
				network = "udp6"
			}
			listen := func() *peer {
				c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				return &peer{t: t, conn: c}
			}
			cfg := testConfig()
			cfg.IP = ip
			ports := NewPorts(freeRange(t, 2), 65535) // freeRange probes IPv4 only: NewLeg skips taken ports
			caller, agent, intruder := listen(), listen(), listen()
			cl, al := newTestLeg(t, cfg, ports), newTestLeg(t, cfg, ports)
			cl.SetRemote(caller.addr(), fmtPCMU)
			al.SetRemote(agent.addr(), fmtPCMA)
			al.Start()
			Bridge(cl, al)
			var mu sync.Mutex
			var tapped [][]byte
			biggest := 0 // packets in the largest tap call
			cl.SetBatchTap(func(ps [][]byte, _ uint64, at time.Time) {
				if at.IsZero() {
					t.Error("zero arrival time")
				}
				mu.Lock()
				for _, p := range ps {
					tapped = append(tapped, append([]byte(nil), p...))
				}
				biggest = max(biggest, len(ps))
				mu.Unlock()
			})

			// 2 × batchLen + 3 audio packets, with a DTMF end packet,
			// garbage, an oversized datagram and an intruder in between.
			var want []*rtp.Packet
			seq := uint16(100)
			for i := range 2*8 + 3 {
				p := audioPacket(fmtPCMU.PT, seq, uint32(seq)*160, 9, bytes.Repeat([]byte{byte(0x80 + i)}, 160))
				seq++
				caller.send(cl.LocalAddr(), p)
				want = append(want, p)
				switch i {
				case 2:
					caller.sendRaw(cl.LocalAddr(), []byte("not RTP"))
				case 4:
					caller.sendRaw(cl.LocalAddr(), make([]byte, 1700))
				case 6:
					intruder.send(cl.LocalAddr(), audioPacket(fmtPCMU.PT, 1, 0, 77, []byte{1}))
				case 9:
					d := dtmfPacket(fmtPCMU.DTMFPT, seq, 5000, 5, true, 800, false)
					seq++
					caller.send(cl.LocalAddr(), d)
					want = append(want, d)
				}
			}
			time.Sleep(50 * time.Millisecond) // let the burst land in the socket's queue
			digits := make(chan rune, 2)
			cl.OnDTMF(func(r rune) { digits <- r })
			cl.Start()

			for i, w := range want {
				got, from := agent.mustRecv()
				if from != al.LocalAddr() {
					t.Fatalf("packet %d came from %v, want the agent leg %v", i, from, al.LocalAddr())
				}
				if got.SequenceNumber != w.SequenceNumber {
					t.Fatalf("packet %d: seq %d, want %d (order lost)", i, got.SequenceNumber, w.SequenceNumber)
				}
				if w.PayloadType == fmtPCMU.DTMFPT {
					if got.PayloadType != fmtPCMA.DTMFPT || !bytes.Equal(got.Payload, w.Payload) {
						t.Errorf("DTMF packet %d relayed as PT %d %x", i, got.PayloadType, got.Payload)
					}
					continue
				}
				if got.PayloadType != fmtPCMA.PT {
					t.Errorf("packet %d: PT %d, want %d", i, got.PayloadType, fmtPCMA.PT)
				}
				wantPayload := append([]byte(nil), w.Payload...)
				audio.Transcode(wantPayload, fmtPCMU.Encoding, fmtPCMA.Encoding)
				if !bytes.Equal(got.Payload, wantPayload) {
					t.Errorf("packet %d: payload not transcoded to PCMA", i)
				}
			}
			agent.expectNothing(100 * time.Millisecond)
			select {
			case d := <-digits:
				if d != '5' {
					t.Errorf("digit %q, want 5", d)
				}
			case <-time.After(time.Second):
				t.Error("DTMF digit not reported")
			}
			st, ast := cl.Stats(), al.Stats()
			if st.PacketsIn != uint64(len(want)) || st.Dropped != 3 {
				t.Errorf("caller leg: %d in, %d dropped; want %d in, 3 dropped", st.PacketsIn, st.Dropped, len(want))
			}
			if ast.PacketsOut != uint64(len(want)) {
				t.Errorf("agent leg sent %d packets, want %d", ast.PacketsOut, len(want))
			}
			mu.Lock()
			defer mu.Unlock()
			if batching && biggest < 2 {
				t.Errorf("the tap got at most %d packet(s) at a time from a queued burst, want batches", biggest)
			}
			if len(tapped) != len(want) {
				t.Fatalf("tap saw %d packets, want %d", len(tapped), len(want))
			}
			for i, w := range want {
				b, _ := w.Marshal()
				if !bytes.Equal(tapped[i], b) {
					t.Errorf("tap: packet %d not as received", i)
				}
			}
		})
	}
}

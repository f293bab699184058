package overload

import (
	"errors"
	"time"

	"hotline/internal/cfg"
)

// Config is the sip.overload section: when Hotline counts itself
// saturated and refuses new calls. Each threshold is where its signal
// starts shedding; 0 turns a signal off.
type Config struct {
	// Enabled turns overload control on (default true).
	Enabled *bool `yaml:"enabled"`
	// Interval is how often the signals are sampled (default 100ms).
	Interval time.Duration `yaml:"interval"`
	// SchedulingLag: shed while a probe timer (every Interval/10) keeps
	// firing this late. The signal is the standing lag, the least
	// lateness of the probes in the last two intervals (CoDel's minimum
	// over an interval): a garbage collection, a burst of work or a short
	// stall makes some probes late, not all of them. The runtime runs
	// due timers before the goroutines in its run queue, so the probe
	// catches a process that got no core at all, not the run queue's
	// wait (which go_sched_latencies_seconds shows; bench/README.md, "The
	// runtime's scheduling latency"). Default 10ms.
	SchedulingLag time.Duration `yaml:"scheduling_lag"`
	// SocketBacklog: shed while a SIP UDP socket's receive buffer is this
	// full (share, 0-1), default 0.3.
	SocketBacklog float64 `yaml:"socket_backlog"`
	// CPU: shed while Hotline's own process (getrusage: user + system
	// time, not the machine's) uses this share of the cores it may run on
	// (GOMAXPROCS, at most the CPUs of its affinity mask), default 0.9.
	CPU float64 `yaml:"cpu"`
	// MachineCPU: shed while the whole machine's CPUs are this busy
	// (share, 0-1, over a sample: /proc/stat, every process and
	// the kernel's own work, such as delivering the RTP), as
	// FreeSWITCH's min-idle-cpu; off by default (0). Past it every
	// thread, Hotline's SIP reader among them, waits for a CPU: answers
	// and refusals slow down together. Set it (0.9, say) to refuse new
	// calls before that, at the price of refusing some at a rate the
	// machine would still carry (bench/README.md has the figures). It
	// counts only while Hotline's own process used at least MachineShare
	// of the machine's busy time, so that other programs' load alone (a
	// build, a backup) does not make Hotline refuse calls. In a
	// container limited by a CPU quota use cpu instead. Linux only.
	MachineCPU float64 `yaml:"machine_cpu"`
	// MachineShare: the least share of the machine's busy CPU time that
	// Hotline's own process must have used in a sample for MachineCPU to
	// count (default 0.35).
	MachineShare float64 `yaml:"machine_share"`
	// MinCPU: the scheduling lag and the socket backlog count only while
	// Hotline's own process used at least this share of its usable cores
	// in the sample (default 0.5). Waiting for a core while using less
	// than half of them means other programs hold the cores (a load generator,
	// another service, a noisy neighbour): shedding Hotline's calls would
	// not give it a core back. Negative: they always count.
	MinCPU float64 `yaml:"min_cpu"`
	// RecorderDrops: shed while recorders drop this many packets per
	// sample (a call that cannot be recorded in full is not admitted),
	// default 1.
	RecorderDrops int `yaml:"recorder_drops"`
	// RecordsHeld: refuse every new call while this many call records
	// or more are kept only in memory, because neither the records
	// backend nor its spool directory takes them (the disk full or
	// gone). Below it calls go on and their records wait in memory for
	// the next flush; past it each call admitted would add records that
	// a restart loses to a memory that grows without bound. Hotline
	// admits calls again once a flush has kept them. Default 50000
	// (tens of megabytes; about 10,000 calls' records and events); 1
	// refuses new calls at the first record held; negative: off
	// (unbounded).
	RecordsHeld int `yaml:"records_held"`
	// SpoolFreeMB: refuse every new call while the recording spool's
	// file system has less than this many MiB free for Hotline's user,
	// and admit again once it has twice that (Release): a call admitted
	// then could not be recorded in full, and the calls in progress keep
	// what is left. For centres where no call may go unrecorded
	// (compliance); off by default (0 or negative), where a call that
	// starts with the spool full goes on unrecorded and Hotline logs why.
	// Not watched when the recording policy records no call.
	SpoolFreeMB int `yaml:"spool_free_mb"`
	// MaxSetups bounds the new calls being set up at once: admitted and
	// not yet ringing an agent, answered or ended (Hotline's own work on
	// a new call: RTP ports, SDP, routing, queueing). A new INVITE over it
	// gets 503 at once. It keeps call setup short while Hotline falls
	// behind (calls in setup / calls per second = seconds each waits), with
	// no sampling delay. With the door process (DoorProcess) a call is
	// admitted as Hotline reads its INVITE from the door, before its
	// handler runs. Default 64.
	MaxSetups int `yaml:"max_setups"`
	// MaxCPS bounds the new calls admitted per second, as FreeSWITCH's
	// sessions-per-second: a new INVITE beyond it gets 503 at once (at
	// the door for UDP, before sipgo parses it). Calls may come in bursts
	// of up to a tenth of a second's worth (at least one) after a quiet
	// spell. Set it below the rate `make bench` sustains on the machine
	// (S1; three quarters of it or less in bench/README.md's figures) to
	// hold Hotline under it without waiting for a signal to trip. A
	// configuration reload applies it without a restart
	// (Detector.SetMaxCPS). 0 (default): no bound.
	MaxCPS float64 `yaml:"max_cps"`
	// SocketDelay: a new INVITE that waited this long in a SIP UDP
	// socket before Hotline read it (the kernel's arrival stamp against
	// the time the door reads it) is refused at once, with no sampling,
	// while the queue stands: every datagram read in the last Interval
	// waited this long too (CoDel's minimum over a window; a GC, a
	// preempted reader or a burst makes some wait, not all). Hotline is
	// then that far behind its socket, the caller has waited already, and
	// admitting the call adds to the queue. With the INVITE socket
	// (InviteSocket) a new INVITE is refused too while the other
	// socket's queue stands that long, or while its reader has read
	// nothing for two intervals and the datagram at the head of its
	// queue has waited that long and an interval (the reader is held
	// up, not idle): the answers and in-dialog requests of the calls
	// admitted already wait. Unlike the lag it
	// counts whoever holds the cores (MinCPU does not apply): the wait
	// is the callers' already, and admitting fewer calls shortens it.
	// Default 50ms (half the answer-time budget of 100 ms); negative: off.
	SocketDelay time.Duration `yaml:"socket_delay"`
	// RTPDelay: shed while the RTP packets Hotline reads from its legs'
	// sockets have all waited this long (the kernel's arrival stamp
	// against the read; the least wait over a sample, so a standing
	// queue, not one late leg or a short stall). The media relay is then
	// behind: the admitted calls' audio reaches the other party and the
	// recording late, and what is still queued when a call ends is lost.
	// With the in-kernel relay (rtp.kernel) the packets it leaves to user
	// space count, a leg's first ones among them (until they are read, its
	// flow is not installed and its audio is not relayed at all), and so
	// does the reader of its ring to user space: the oldest copy each read
	// takes, against the kernel's relaying (the larger of the two standing
	// waits counts). A ring reader held up delivers the recordings' audio
	// late, and a full ring has the kernel relay packets without their
	// copies (the recordings' drops). Whoever holds the cores (MinCPU
	// does not apply). Linux.
	// Default 100ms; negative: off.
	RTPDelay time.Duration `yaml:"rtp_delay"`
	// QueueRefused: shed while the doors refuse this many new calls or
	// more a sample for a queue, Confirm samples in a row: for
	// socket_delay (Hotline behind its SIP socket) or max_setups (that
	// many calls in setup). Those refusals are judged per INVITE, at
	// once, and hold the calls admitted to what Hotline reads and sets
	// up in time, but every call they let through still waits in the
	// queue; sample after sample they are an overload like any other
	// signal's: shedding cuts the calls admitted and learns the rate
	// (Learn), which drains the queue. Whoever holds the cores (MinCPU
	// does not apply, as for socket_delay). Default 1; negative: off.
	QueueRefused int `yaml:"queue_refused"`
	// PressureFile, when set, is a file holding a number the operator (or
	// another program) writes: at 1 or more Hotline sheds, below release
	// it stops. A missing or empty file reads as 0.
	PressureFile string `yaml:"pressure_file"`
	// Confirm is how many samples in a row must be over a threshold before
	// shedding starts (default 2): one late timer does not shed.
	Confirm int `yaml:"confirm"`
	// Release is the share of each threshold every signal must be under
	// for shedding to stop (default 0.5), after Hold.
	Release float64 `yaml:"release"`
	// Cut is the share of the admitted new calls that shedding refuses
	// when it starts, and again each reaction time (Confirm samples)
	// while a signal stays over its threshold: 0.5 refuses half of the
	// new calls, then 75%, 87.5%, ... (multiplicative decrease, as TCP
	// and the loss-based SIP overload control of RFC 7339). A share
	// refused at random, so that only the excess over what Hotline
	// carries is refused instead of every call for the hold. 1 refuses
	// every new call while shedding. The pressure file always refuses
	// every new call. Default 0.5.
	Cut float64 `yaml:"cut"`
	// Hold is the least time after shedding started or last cut before
	// the share refused falls (default 2s).
	Hold time.Duration `yaml:"hold"`
	// ReleaseRamp: once Hold has passed and every signal is under
	// Release, the share of new calls refused falls a step each sample,
	// at a pace that would take it from all to none over this time,
	// instead of at once (default 1s; negative: at once). Admitting the
	// full offered load the moment shedding stops is a burst that
	// overloads again before the next samples can tell; a signal over
	// its threshold during the ramp cuts the admitted calls again, and
	// the share stays for Hold.
	ReleaseRamp time.Duration `yaml:"release_ramp"`
	// RetryAfter is the Retry-After of the 503 a shed call gets
	// (default 5s; whole seconds).
	RetryAfter time.Duration `yaml:"retry_after"`
	// Learn (default true): when shedding starts, Hotline also learns a
	// rate: the new calls it admitted in the last second, less Cut (and
	// no less than four fifths of the rate it carried with no signal
	// over its threshold for the 5 s before, when it did: a pause
	// tripped, not the load). Once
	// the share refused has fallen back to none, new calls are still
	// admitted at no more than that rate (a 503 past it, at once, with
	// the overload's reason), so that the whole offered load is not let
	// in again to overload Hotline anew: the rate rises by a tenth a
	// second while it refuses calls and every signal is under Release (a
	// fiftieth within four fifths of the rate admitted when a signal
	// last tripped, or of the rate learned after the first trip), is cut
	// by Cut again when one trips (once per overload: again only once
	// the signals have eased and tripped anew, or after Hold still over;
	// no share is refused then), after which it stands at nine tenths of
	// the rate that tripped for 30 s of refusing calls before it rises
	// past it, and is forgotten once it has refused no
	// call for five Holds (the overload is over). false: shedding
	// releases to the whole offered load.
	Learn *bool `yaml:"learn"`
	// LearnMemory (with Learn; off by default): a learned rate that
	// Hotline overloaded at again (a signal tripped while the rate held
	// new calls, and the rate was cut) is not forgotten when the
	// overload is over: it stays in force this long after it last
	// refused a call, as a bound on new calls a second that rises as
	// ever while it refuses calls and every signal is under Release. The
	// next surge is then admitted at the rate Hotline carried, not let
	// in whole for the second or two the signals take to show it (the
	// media of the calls admitted meanwhile weighs on the machine for
	// their whole length). The price: until it has risen, calls over a
	// rate the machine carries again (after another program's load
	// ended, say) are refused. A rate learned from one trip only (a
	// cold start, a pause) is forgotten after five Holds as before, and
	// a remembered one when a reload sets MaxCPS. 0 or negative: off.
	LearnMemory time.Duration `yaml:"learn_memory"`
	// InviteSocket (Linux, default true): each SIP UDP listener is two
	// sockets on its address, and the kernel puts the datagrams that
	// start "INVITE " in one and everything else (responses, ACK, BYE,
	// CANCEL, REGISTER, OPTIONS) in the other, each read by its own
	// reader. A flood of new calls then queues (and, past the buffer, is
	// dropped by the kernel) apart from the signalling of the calls
	// already admitted. The sockets share the port through SO_REUSEPORT,
	// set once the first is bound: a port another program holds is still
	// refused, but a process of Hotline's user that sets SO_REUSEPORT
	// itself could join it.
	InviteSocket *bool `yaml:"invite_socket"`
	// DoorProcess (Linux, default true with InviteSocket; false: Hotline
	// reads the INVITE socket itself): the INVITE socket (InviteSocket)
	// is read by a small process of its own, which Hotline starts from
	// its own executable and which dies with it. It refuses new calls
	// with 503 while Hotline sheds, past MaxCPS and the learned rate
	// (it takes their tokens), once the calls in setup and the new
	// INVITEs it passed on that Hotline has not read yet reach
	// MaxSetups, and while Hotline has left a datagram
	// unread for SocketDelay and an Interval (a new INVITE it passed
	// on, or the head of the other socket's queue: a garbage
	// collection, a stall, a process that gets no core), and passes
	// every other datagram on to Hotline, whose door judges the calls
	// in setup. Its work is a few microseconds a datagram on a heap of
	// its own, so neither Hotline's collector nor its goroutines' queue
	// delays a refusal. Should it exit, Hotline reads the socket itself
	// again, as without it; should it stop reading, Hotline kills it.
	DoorProcess *bool `yaml:"door_process"`
}

// SeparateDoor reports whether the INVITE socket's door runs in a
// process of its own (DoorProcess; unset: wherever there is an INVITE
// socket).
func (c *Config) SeparateDoor() bool {
	if c.DoorProcess == nil {
		return c.SplitInvites()
	}
	return *c.DoorProcess
}

// SplitInvites reports whether new INVITEs get a socket of their own
// (InviteSocket; overload control on or off).
func (c *Config) SplitInvites() bool { return c.InviteSocket == nil || *c.InviteSocket }

// Learning reports whether shedding learns a rate (Learn).
func (c *Config) Learning() bool { return c.Learn == nil || *c.Learn }

// On reports whether overload control is enabled.
func (c *Config) On() bool { return c.Enabled == nil || *c.Enabled }

// SetDefaults fills in unset values.
func (c *Config) SetDefaults() {
	if c.Enabled == nil {
		on := true
		c.Enabled = &on
	}
	if c.Interval == 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.SchedulingLag == 0 {
		c.SchedulingLag = 10 * time.Millisecond
	}
	if c.SocketBacklog == 0 {
		c.SocketBacklog = 0.3
	}
	if c.CPU == 0 {
		c.CPU = 0.9
	}
	if c.MaxSetups == 0 {
		c.MaxSetups = 64
	}
	if c.MachineShare == 0 {
		c.MachineShare = 0.35
	}
	if c.MinCPU == 0 {
		c.MinCPU = 0.5
	}
	if c.RecorderDrops == 0 {
		c.RecorderDrops = 1
	}
	if c.QueueRefused == 0 {
		c.QueueRefused = 1
	}
	if c.RecordsHeld == 0 {
		c.RecordsHeld = 50000
	}
	if c.Confirm == 0 {
		c.Confirm = 2
	}
	if c.Release == 0 {
		c.Release = 0.5
	}
	if c.Cut == 0 {
		c.Cut = 0.5
	}
	if c.Hold == 0 {
		c.Hold = 2 * time.Second
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = 5 * time.Second
	}
	if c.SocketDelay == 0 {
		c.SocketDelay = 50 * time.Millisecond
	}
	if c.RTPDelay == 0 {
		c.RTPDelay = 100 * time.Millisecond
	}
	if c.ReleaseRamp == 0 {
		c.ReleaseRamp = time.Second
	}
}

// Validate reports every problem in the section (after SetDefaults; a
// negative threshold turns its signal off).
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < 10*time.Millisecond || c.Interval > 10*time.Second {
		errs = append(errs, cfg.Errorf("interval", "must be between 10ms and 10s, got %s", c.Interval))
	}
	if c.SchedulingLag > 0 && c.SchedulingLag < time.Millisecond {
		errs = append(errs, cfg.Errorf("scheduling_lag", "must be at least 1ms (or negative: off), got %s", c.SchedulingLag))
	}
	if c.SocketDelay > 0 && c.SocketDelay < time.Millisecond {
		errs = append(errs, cfg.Errorf("socket_delay", "must be at least 1ms (or negative: off), got %s", c.SocketDelay))
	}
	if c.RTPDelay > 0 && c.RTPDelay < time.Millisecond {
		errs = append(errs, cfg.Errorf("rtp_delay", "must be at least 1ms (or negative: off), got %s", c.RTPDelay))
	}
	if c.MaxCPS < 0 {
		errs = append(errs, cfg.Errorf("max_cps", "is new calls per second: 0 (no bound) or more, got %g", c.MaxCPS))
	}
	if c.SocketBacklog > 1 {
		errs = append(errs, cfg.Errorf("socket_backlog", "is a share of the receive buffer: at most 1 (or negative: off), got %g", c.SocketBacklog))
	}
	if c.CPU > 1 {
		errs = append(errs, cfg.Errorf("cpu", "is a share of the usable cores: at most 1 (or negative: off), got %g", c.CPU))
	}
	if c.MachineCPU > 1 {
		errs = append(errs, cfg.Errorf("machine_cpu", "is a share of the machine's CPU time: at most 1 (or negative: off), got %g", c.MachineCPU))
	}
	if c.MachineShare < 0 || c.MachineShare > 1 {
		errs = append(errs, cfg.Errorf("machine_share", "is a share of the machine's busy CPU time: between 0 and 1, got %g", c.MachineShare))
	}
	if c.MinCPU > 1 {
		errs = append(errs, cfg.Errorf("min_cpu", "is a share of the usable cores: at most 1 (or negative: off), got %g", c.MinCPU))
	}
	if c.Confirm < 1 || c.Confirm > 100 {
		errs = append(errs, cfg.Errorf("confirm", "must be between 1 and 100 samples, got %d", c.Confirm))
	}
	if c.Release <= 0 || c.Release >= 1 {
		errs = append(errs, cfg.Errorf("release", "must be above 0 and below 1 (a share of each threshold), got %g", c.Release))
	}
	if c.Cut <= 0 || c.Cut > 1 {
		errs = append(errs, cfg.Errorf("cut", "is a share of the admitted new calls: above 0 and at most 1, got %g", c.Cut))
	}
	if c.Hold < 0 {
		errs = append(errs, cfg.Errorf("hold", "must not be negative, got %s", c.Hold))
	}
	if c.ReleaseRamp > time.Minute {
		errs = append(errs, cfg.Errorf("release_ramp", "must be at most 1m (or negative: release at once), got %s", c.ReleaseRamp))
	}
	if c.LearnMemory > 24*time.Hour {
		errs = append(errs, cfg.Errorf("learn_memory", "must be at most 24h (or 0: off), got %s", c.LearnMemory))
	}
	if c.DoorProcess != nil && *c.DoorProcess && !c.SplitInvites() {
		errs = append(errs, cfg.Errorf("door_process", "needs invite_socket: the door process reads the new INVITEs' own socket"))
	}
	if c.RetryAfter < time.Second || c.RetryAfter%time.Second != 0 {
		errs = append(errs, cfg.Errorf("retry_after", "must be whole seconds, at least 1s, got %s", c.RetryAfter))
	}
	return errors.Join(errs...)
}

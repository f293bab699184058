package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Event types that baresip 1.0.0 reports over ctrl_tcp (the "type" field).
// Call events carry the call id in Event.ID.
const (
	EventRegistering     = "REGISTERING"
	EventRegisterOK      = "REGISTER_OK"
	EventRegisterFail    = "REGISTER_FAIL"
	EventUnregistering   = "UNREGISTERING"
	EventCallIncoming    = "CALL_INCOMING"
	EventCallRinging     = "CALL_RINGING"     // outgoing call got 180/183
	EventCallProgress    = "CALL_PROGRESS"    // outgoing call got early media
	EventCallEstablished = "CALL_ESTABLISHED" // both directions
	EventCallClosed      = "CALL_CLOSED"      // Param holds the reason
	EventCallRTPEstab    = "CALL_RTPESTAB"    // first RTP received
	EventCallRTCP        = "CALL_RTCP"
	EventCallLocalSDP    = "CALL_LOCAL_SDP"
	EventCallRemoteSDP   = "CALL_REMOTE_SDP"
	EventAudioError      = "AUDIO_ERROR" // e.g. "end of file" of aufile; the call then closes
)

// Sentinel errors of the baresip driver.
var (
	ErrBaresipExited  = errors.New("e2e: baresip exited")
	ErrCommandFailed  = errors.New("e2e: baresip command failed")
	ErrRegisterFailed = errors.New("e2e: baresip registration failed")
)

// BaresipOptions configures one baresip 1.0.0 user agent (one account).
type BaresipOptions struct {
	// User is the account user part (default "baresip").
	User string
	// Password is the digest password (auth_pass); the auth user is User.
	Password string
	// Registrar is the host:port of the registrar (the server under test),
	// e.g. "127.0.0.1:5060". When set, the account AOR is
	// sip:User@Registrar and baresip registers there; when empty the AOR
	// is sip:User@127.0.0.1:<own SIP port> and baresip does not register
	// (direct peer-to-peer calls).
	Registrar string
	// Transport is "udp" (default) or "tcp" for the registrar and, through
	// the outbound proxy, every request of the account.
	Transport string
	// Outbound, if set, is the outbound proxy URI (e.g.
	// "sip:127.0.0.1:5060;transport=udp"). With Transport "tcp" and a
	// Registrar it defaults to sip:Registrar;transport=tcp so that calls
	// also use TCP.
	Outbound string
	// RegisterInterval is the registration interval (regint); default 600s.
	RegisterInterval time.Duration

	// ToneHz makes the audio source a sine at that frequency (ausine
	// module, 10..20000 Hz; baresip resamples its 48 kHz stereo output).
	ToneHz float64
	// SourceWAV makes the audio source that WAV file (aufile module,
	// 16-bit PCM). Careful: in baresip 1.0.0 the end of the file is an
	// audio error that CLOSES THE CALL; make the file longer than the call.
	SourceWAV string
	// Without ToneHz or SourceWAV the source is an unconnected aubridge
	// device, which produces no audio, so baresip sends no RTP.

	// Record saves audio of every call (sndfile module) into RecordDir:
	// dump-<timestamp>-dec.wav is what was received (decoded, 8 kHz mono
	// 16-bit), dump-<timestamp>-enc.wav what was sent. Two calls starting
	// in the same second overwrite each other.
	Record bool

	// AutoAnswer answers incoming calls: at once with baresip's own
	// answermode=auto, or after AnswerDelay (driven over ctrl_tcp).
	AutoAnswer  bool
	AnswerDelay time.Duration
	// Reject rejects every incoming call (baresip answers 486 Busy Here).
	Reject bool

	// Codecs lists the audio codecs to offer, in order (default PCMU,
	// PCMA; only G.711 is loaded).
	Codecs []string
	// RTPPorts is the local RTP port range "min-max" (default 20000-29998).
	RTPPorts string
	// MaxLifetime makes baresip quit by itself after this long (-t), a
	// safety net against orphans if the test binary dies (default 5 min).
	MaxLifetime time.Duration
	// SIPTrace logs every SIP message into the log (-s).
	SIPTrace bool
	// Logger receives driver diagnostics (default: discarded).
	Logger *slog.Logger
}

// Event is one event that baresip reported over ctrl_tcp.
type Event struct {
	Type       string `json:"type"`
	Class      string `json:"class"`
	AccountAOR string `json:"accountaor"`
	Direction  string `json:"direction"`
	PeerURI    string `json:"peeruri"`
	ID         string `json:"id"`
	Param      string `json:"param"`
	// Raw is the whole JSON object as received.
	Raw string `json:"-"`
	// At is when the driver received it.
	At time.Time `json:"-"`
}

// Baresip is a running baresip process driven over its ctrl_tcp socket.
type Baresip struct {
	// SIPPort is the local SIP port (UDP and TCP) baresip listens on.
	SIPPort int
	// CtrlPort is the ctrl_tcp port.
	CtrlPort int
	// AOR is the account's address of record, e.g. sip:alice@127.0.0.1:5060.
	AOR string
	// Dir is the config directory; LogPath the combined stdout/stderr.
	Dir, LogPath string
	// RecordDir holds the sndfile recordings when Options.Record is set.
	RecordDir string

	opts   BaresipOptions
	log    *slog.Logger
	cmd    *exec.Cmd
	exited chan struct{}
	conn   net.Conn
	readWG sync.WaitGroup
	bgWG   sync.WaitGroup
	bgCtx  context.Context
	bgStop context.CancelFunc

	writeMu sync.Mutex

	mu      sync.Mutex
	events  []Event
	cursor  int
	notify  chan struct{}
	pending map[string]chan ctrlResponse
	nextTok int
	stopped bool
}

type ctrlResponse struct {
	OK    bool   `json:"ok"`
	Data  string `json:"data"`
	Token string `json:"token"`
}

// StartBaresip writes a config directory under t.TempDir(), starts baresip
// on 127.0.0.1 and connects to its ctrl_tcp socket, then creates the
// account (so that no registration event is missed). The process is
// stopped by t.Cleanup, which also prints the tail of its log if the test
// failed. It fails the test on any error.
func StartBaresip(t testing.TB, opts BaresipOptions) *Baresip {
	t.Helper()
	bin := RequireTool(t, "baresip")
	for attempt := 1; ; attempt++ {
		b, err := startBaresip(t, bin, opts)
		if err == nil {
			return b
		}
		// A port found free may be taken (e.g. as the ephemeral port of
		// some connection) before baresip binds it (SIP, or SIP/TLS on the
		// next port up): try other ports.
		if attempt < 8 && errors.Is(err, errPortInUse) {
			continue
		}
		t.Fatalf("e2e: start baresip %q: %v", opts.User, err)
	}
}

// errPortInUse marks a start that failed because a chosen port was taken.
var errPortInUse = errors.New("e2e: port in use")

func startBaresip(t testing.TB, bin string, opts BaresipOptions) (*Baresip, error) {
	if opts.User == "" {
		opts.User = "baresip"
	}
	if opts.Transport == "" {
		opts.Transport = "udp"
	}
	if opts.Transport != "udp" && opts.Transport != "tcp" {
		return nil, fmt.Errorf("e2e: transport %q: want udp or tcp", opts.Transport)
	}
	if opts.RegisterInterval == 0 {
		opts.RegisterInterval = 600 * time.Second
	}
	if len(opts.Codecs) == 0 {
		opts.Codecs = []string{"PCMU", "PCMA"}
	}
	if opts.RTPPorts == "" {
		opts.RTPPorts = "20000-29998"
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ToneHz != 0 && (opts.ToneHz < 10 || opts.ToneHz > 20000) {
		return nil, fmt.Errorf("e2e: ToneHz %v: ausine accepts 10..20000 Hz", opts.ToneHz)
	}

	dir := t.TempDir()
	b := &Baresip{
		SIPPort:  FreeUDPTCPPort(t),
		CtrlPort: FreePort(t, "tcp"),
		Dir:      dir,
		LogPath:  filepath.Join(dir, "baresip.log"),
		opts:     opts,
		log:      opts.Logger.With("baresip", opts.User),
		exited:   make(chan struct{}),
		notify:   make(chan struct{}),
		pending:  map[string]chan ctrlResponse{},
	}
	if opts.Record {
		b.RecordDir = filepath.Join(dir, "rec")
		if err := os.Mkdir(b.RecordDir, 0o755); err != nil {
			return nil, fmt.Errorf("e2e: %w", err)
		}
	}
	conf, err := b.config()
	if err != nil {
		return nil, err
	}
	for name, body := range map[string]string{"config": conf, "accounts": "", "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("e2e: write %s: %w", name, err)
		}
	}
	logf, err := os.Create(b.LogPath)
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	args := []string{"-f", dir, "-n", Loopback, "-t", strconv.Itoa(int(opts.MaxLifetime.Seconds()))}
	if opts.SIPTrace {
		args = append(args, "-s")
	}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Dir = dir
	b.cmd.Stdout = logf
	b.cmd.Stderr = logf
	b.cmd.Stdin = nil
	b.cmd.SysProcAttr = childProcAttr()
	if err := b.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("e2e: exec baresip: %w", err)
	}
	b.log.Debug("baresip started", "pid", b.cmd.Process.Pid, "sip_port", b.SIPPort, "ctrl_port", b.CtrlPort, "dir", dir)
	go func() {
		err := b.cmd.Wait()
		logf.Close()
		b.log.Debug("baresip exited", "err", err)
		close(b.exited)
	}()
	b.bgCtx, b.bgStop = context.WithCancel(context.Background())
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("e2e: tail of baresip %q log %s:\n%s", opts.User, b.LogPath, LogTail(b.LogPath, 60))
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.connect(ctx); err != nil {
		if errors.Is(err, ErrBaresipExited) && logContains(b.LogPath, "Address already in use") {
			return nil, fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return nil, err
	}
	b.AOR = b.aor()
	if _, err := b.Command(ctx, "uanew", b.accountLine()); err != nil {
		if logContains(b.LogPath, "Address already in use") {
			// ctrl_tcp could not listen (its port was taken after it was
			// found free) and baresip went on without it: the connection
			// reached whatever holds the port. Kill this baresip (no
			// word on that connection) and try other ports.
			_ = b.cmd.Process.Kill()
			<-b.exited
			b.Stop()
			return nil, fmt.Errorf("%w: %w", errPortInUse, err)
		}
		return nil, fmt.Errorf("e2e: create account: %w", err)
	}
	return b, nil
}

func (b *Baresip) aor() string {
	if b.opts.Registrar != "" {
		return "sip:" + b.opts.User + "@" + b.opts.Registrar
	}
	return fmt.Sprintf("sip:%s@%s:%d", b.opts.User, Loopback, b.SIPPort)
}

// accountLine is the account in baresip's accounts-file syntax.
func (b *Baresip) accountLine() string {
	o := b.opts
	uri := b.aor()
	if o.Transport == "tcp" {
		uri += ";transport=tcp"
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "<%s>", uri)
	if o.Password != "" {
		fmt.Fprintf(&sb, ";auth_pass=%s", o.Password)
	}
	outbound := o.Outbound
	if outbound == "" && o.Registrar != "" && o.Transport == "tcp" {
		outbound = "sip:" + o.Registrar + ";transport=tcp"
	}
	if outbound != "" {
		fmt.Fprintf(&sb, ";outbound=\"%s\"", outbound)
	}
	if o.Registrar != "" {
		fmt.Fprintf(&sb, ";regint=%d", int(o.RegisterInterval.Seconds()))
	} else {
		sb.WriteString(";regint=0")
	}
	if o.AutoAnswer && o.AnswerDelay == 0 && !o.Reject {
		sb.WriteString(";answermode=auto")
	} else {
		sb.WriteString(";answermode=manual")
	}
	fmt.Fprintf(&sb, ";audio_codecs=%s", strings.Join(o.Codecs, ","))
	return sb.String()
}

func (b *Baresip) config() (string, error) {
	o := b.opts
	var sb strings.Builder
	line := func(k, v string) { fmt.Fprintf(&sb, "%-20s %s\n", k, v) }
	line("poll_method", "epoll")
	line("sip_listen", fmt.Sprintf("%s:%d", Loopback, b.SIPPort))
	line("call_local_timeout", "120")
	line("call_max_calls", "4")
	player := "aubridge,play-" + strconv.Itoa(b.SIPPort)
	line("audio_player", player)
	line("audio_alert", player)
	switch {
	case o.SourceWAV != "":
		_, info, err := ReadWAVInfo(o.SourceWAV)
		if err != nil {
			return "", fmt.Errorf("e2e: SourceWAV: %w", err)
		}
		if info.Format != 1 || info.Bits != 16 {
			return "", fmt.Errorf("%w: aufile needs 16-bit PCM", ErrUnsupportedWAVFormat)
		}
		line("audio_source", "aufile,"+o.SourceWAV)
		line("ausrc_srate", strconv.Itoa(info.Rate))
		line("ausrc_channels", strconv.Itoa(info.Channels))
	case o.ToneHz != 0:
		// ausine only produces 48 kHz stereo.
		line("audio_source", fmt.Sprintf("ausine,%d", int(o.ToneHz+0.5)))
		line("ausrc_srate", "48000")
		line("ausrc_channels", "2")
	default:
		line("audio_source", "aubridge,src-"+strconv.Itoa(b.SIPPort))
	}
	line("audio_level", "no")
	line("rtp_ports", o.RTPPorts)
	line("rtp_timeout", "0")
	line("module_path", "/usr/lib/baresip/modules")
	for _, m := range []string{"g711.so", "ausine.so", "aufile.so", "aubridge.so"} {
		line("module", m)
	}
	if o.Record {
		line("module", "sndfile.so")
		line("snd_path", b.RecordDir)
	}
	line("module_app", "account.so")
	line("module_app", "menu.so")
	line("module_app", "ctrl_tcp.so")
	line("ctrl_tcp_listen", fmt.Sprintf("%s:%d", Loopback, b.CtrlPort))
	return sb.String(), nil
}

func (b *Baresip) connect(ctx context.Context) error {
	addr := net.JoinHostPort(Loopback, strconv.Itoa(b.CtrlPort))
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp4", addr)
		if err == nil {
			b.conn = c
			break
		}
		select {
		case <-b.exited:
			return fmt.Errorf("%w before ctrl_tcp was up (see %s)", ErrBaresipExited, b.LogPath)
		case <-ctx.Done():
			return fmt.Errorf("e2e: connect ctrl_tcp %s: %w", addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	b.readWG.Add(1)
	go b.readLoop()
	return nil
}

// readLoop parses the netstring-framed JSON messages of ctrl_tcp.
func (b *Baresip) readLoop() {
	defer b.readWG.Done()
	r := bufio.NewReader(b.conn)
	for {
		msg, err := readNetstring(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				b.log.Debug("ctrl_tcp read", "err", err)
			}
			b.mu.Lock()
			for tok, ch := range b.pending {
				close(ch)
				delete(b.pending, tok)
			}
			b.mu.Unlock()
			return
		}
		var head struct {
			Event    bool `json:"event"`
			Response bool `json:"response"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			b.log.Debug("ctrl_tcp bad json", "msg", string(msg), "err", err)
			continue
		}
		switch {
		case head.Event:
			var ev Event
			if err := json.Unmarshal(msg, &ev); err != nil {
				continue
			}
			ev.Raw = string(msg)
			ev.At = time.Now()
			b.log.Debug("baresip event", "type", ev.Type, "id", ev.ID, "param", ev.Param)
			b.addEvent(ev)
		case head.Response:
			var resp ctrlResponse
			if err := json.Unmarshal(msg, &resp); err != nil {
				continue
			}
			b.mu.Lock()
			ch := b.pending[resp.Token]
			delete(b.pending, resp.Token)
			b.mu.Unlock()
			if ch != nil {
				ch <- resp
			}
		}
	}
}

func (b *Baresip) addEvent(ev Event) {
	b.mu.Lock()
	b.events = append(b.events, ev)
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
	if ev.Type != EventCallIncoming {
		return
	}
	switch {
	case b.opts.Reject:
		b.background(0, "hangup")
	case b.opts.AutoAnswer && b.opts.AnswerDelay > 0:
		b.background(b.opts.AnswerDelay, "accept")
	}
}

// background runs a ctrl_tcp command after delay without blocking the
// reader (a command needs the reader to deliver its response).
func (b *Baresip) background(delay time.Duration, cmd string) {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.bgWG.Add(1) // under mu, so never concurrent with Stop's Wait
	b.mu.Unlock()
	go func() {
		defer b.bgWG.Done()
		if delay > 0 {
			select {
			case <-b.bgCtx.Done():
				return
			case <-time.After(delay):
			}
		}
		ctx, cancel := context.WithTimeout(b.bgCtx, 5*time.Second)
		defer cancel()
		if _, err := b.Command(ctx, cmd, ""); err != nil {
			b.log.Debug("background command", "cmd", cmd, "err", err)
		}
	}()
}

func readNetstring(r *bufio.Reader) ([]byte, error) {
	lenStr, err := r.ReadString(':')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
	if err != nil || n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("e2e: bad netstring length %q", lenStr)
	}
	buf := make([]byte, n+1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	if buf[n] != ',' {
		return nil, fmt.Errorf("e2e: netstring not terminated by ','")
	}
	return buf[:n], nil
}

// Command sends a ctrl_tcp command (the long form of a menu command: "dial",
// "hangup", "accept", "quit", "uanew", "reginfo", "callstat", ...) with
// params, and returns the "data" of baresip's response. A response with
// "ok": false gives ErrCommandFailed.
func (b *Baresip) Command(ctx context.Context, cmd, params string) (string, error) {
	b.mu.Lock()
	if b.conn == nil {
		b.mu.Unlock()
		return "", fmt.Errorf("%w: not connected", ErrCommandFailed)
	}
	b.nextTok++
	tok := "t" + strconv.Itoa(b.nextTok)
	ch := make(chan ctrlResponse, 1)
	b.pending[tok] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, tok)
		b.mu.Unlock()
	}()

	body, err := json.Marshal(map[string]string{"command": cmd, "params": params, "token": tok})
	if err != nil {
		return "", fmt.Errorf("e2e: %w", err)
	}
	frame := strconv.Itoa(len(body)) + ":" + string(body) + ","
	b.writeMu.Lock()
	if dl, ok := ctx.Deadline(); ok {
		_ = b.conn.SetWriteDeadline(dl)
	}
	_, err = io.WriteString(b.conn, frame)
	b.writeMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("e2e: send %q: %w", cmd, err)
	}
	b.log.Debug("baresip command", "cmd", cmd, "params", params)
	select {
	case resp, ok := <-ch:
		if !ok {
			return "", fmt.Errorf("%w: %q: connection closed", ErrCommandFailed, cmd)
		}
		if !resp.OK {
			return resp.Data, fmt.Errorf("%w: %s %s: %s", ErrCommandFailed, cmd, params, strings.TrimSpace(resp.Data))
		}
		return resp.Data, nil
	case <-ctx.Done():
		return "", fmt.Errorf("e2e: command %q: %w", cmd, ctx.Err())
	case <-b.exited:
		return "", fmt.Errorf("%w during command %q", ErrBaresipExited, cmd)
	}
}

// Dial calls uri (e.g. "sip:100@127.0.0.1:5060"; a bare user is completed
// with the account's domain by baresip).
func (b *Baresip) Dial(ctx context.Context, uri string) error {
	_, err := b.Command(ctx, "dial", uri)
	return err
}

// Answer accepts the current incoming call.
func (b *Baresip) Answer(ctx context.Context) error {
	_, err := b.Command(ctx, "accept", "")
	return err
}

// Hangup ends (or rejects with 486, or cancels) the current call.
func (b *Baresip) Hangup(ctx context.Context) error {
	_, err := b.Command(ctx, "hangup", "")
	return err
}

// Events returns a copy of every event received so far.
func (b *Baresip) Events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Event(nil), b.events...)
}

// HasEvent reports whether an event of that type was received at any time.
func (b *Baresip) HasEvent(typ string) bool {
	for _, ev := range b.Events() {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

// WaitEvent waits for the next event whose type is one of types and returns
// it. "Next" means after the event returned by the previous WaitEvent /
// WaitEventFunc of this Baresip (a cursor over the event log, starting at
// the first event): waiting for CALL_ESTABLISHED then CALL_RINGING misses
// a ringing that came before the establishment. Use Events or HasEvent to
// look at the whole history.
func (b *Baresip) WaitEvent(ctx context.Context, types ...string) (Event, error) {
	return b.WaitEventFunc(ctx, func(ev Event) bool {
		for _, t := range types {
			if ev.Type == t {
				return true
			}
		}
		return false
	}, strings.Join(types, "|"))
}

// WaitEventFunc is WaitEvent with a predicate; what names it in errors.
func (b *Baresip) WaitEventFunc(ctx context.Context, match func(Event) bool, what string) (Event, error) {
	return b.waitEvent(ctx, match, what, true)
}

// waitEvent waits for the next event after the cursor that matches; with
// consume it moves the cursor past it.
func (b *Baresip) waitEvent(ctx context.Context, match func(Event) bool, what string, consume bool) (Event, error) {
	for {
		b.mu.Lock()
		for i := b.cursor; i < len(b.events); i++ {
			if match(b.events[i]) {
				if consume {
					b.cursor = i + 1
				}
				ev := b.events[i]
				b.mu.Unlock()
				return ev, nil
			}
		}
		notify := b.notify
		b.mu.Unlock()
		select {
		case <-notify:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("e2e: baresip %q waiting for %s (events so far: %s): %w", b.opts.User, what, b.eventSummary(), ctx.Err())
		case <-b.exited:
			return Event{}, fmt.Errorf("%w while waiting for %s (events: %s)", ErrBaresipExited, what, b.eventSummary())
		}
	}
}

func (b *Baresip) eventSummary() string {
	var types []string
	for _, ev := range b.Events() {
		if ev.Type == EventCallRTCP || ev.Type == EventCallLocalSDP || ev.Type == EventCallRemoteSDP {
			continue
		}
		s := ev.Type
		if ev.Param != "" {
			s += "(" + ev.Param + ")"
		}
		types = append(types, s)
	}
	return strings.Join(types, ", ")
}

// WaitRegistered waits for REGISTER_OK; REGISTER_FAIL gives
// ErrRegisterFailed with baresip's reason (e.g. "401 Unauthorized").
// It leaves the cursor where it was: Hotline may ring a phone as soon as
// it has stored the registration, so baresip can report that call
// (CALL_INCOMING, even CALL_ESTABLISHED with auto-answer) before it
// reports the REGISTER's 200 OK, and the next WaitEvent must still see it.
func (b *Baresip) WaitRegistered(ctx context.Context) error {
	ev, err := b.waitEvent(ctx, func(ev Event) bool {
		return ev.Type == EventRegisterOK || ev.Type == EventRegisterFail
	}, EventRegisterOK+"|"+EventRegisterFail, false)
	if err != nil {
		return err
	}
	if ev.Type == EventRegisterFail {
		return fmt.Errorf("%w: %s", ErrRegisterFailed, ev.Param)
	}
	return nil
}

// ReceivedWAVs returns the paths of the recordings of received audio (one
// per call, oldest first). It needs Options.Record.
func (b *Baresip) ReceivedWAVs() []string {
	return b.recordings("dec")
}

// SentWAVs returns the paths of the recordings of sent audio.
func (b *Baresip) SentWAVs() []string {
	return b.recordings("enc")
}

func (b *Baresip) recordings(kind string) []string {
	if b.RecordDir == "" {
		return nil
	}
	m, _ := filepath.Glob(filepath.Join(b.RecordDir, "dump-*-"+kind+".wav"))
	sort.Strings(m)
	return m
}

// Stop asks baresip to quit over ctrl_tcp and kills it by PID if it has not
// exited 3 s later. It is idempotent and registered with t.Cleanup.
func (b *Baresip) Stop() {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.stopped = true
	b.mu.Unlock()
	if b.bgStop != nil {
		b.bgStop()
	}
	b.bgWG.Wait()
	select {
	case <-b.exited:
	default:
		if b.conn != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, _ = b.Command(ctx, "quit", "")
			cancel()
		}
		select {
		case <-b.exited:
		case <-time.After(3 * time.Second):
			b.log.Debug("baresip did not quit, killing", "pid", b.cmd.Process.Pid)
			_ = b.cmd.Process.Kill()
			<-b.exited
		}
	}
	if b.conn != nil {
		b.conn.Close()
	}
	b.readWG.Wait()
}

// Exited is closed when the baresip process has exited.
func (b *Baresip) Exited() <-chan struct{} { return b.exited }

func logContains(path, s string) bool {
	raw, err := os.ReadFile(path)
	return err == nil && bytes.Contains(raw, []byte(s))
}

// LogTail returns the last n lines of a log file, without baresip's
// carriage-return status lines ("[0:00:03] audio=...").
func LogTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	raw = bytes.ReplaceAll(raw, []byte("\r"), []byte("\n"))
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || (strings.HasPrefix(t, "[") && strings.Contains(t, "] audio=")) {
			continue
		}
		lines = append(lines, l)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Kill ends baresip at once with SIGKILL, by PID: a softphone that
// vanishes (no BYE, no more RTP, nothing listening on its ports). It waits
// for the process to exit; Stop stays safe to call afterwards.
func (b *Baresip) Kill() {
	select {
	case <-b.exited:
	default:
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

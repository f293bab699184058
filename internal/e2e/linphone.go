package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Sentinel errors of the linphonec driver.
var (
	ErrLinphoneExited = errors.New("e2e: linphonec exited")
	ErrLinphoneWait   = errors.New("e2e: linphonec did not print what was awaited")
)

// LinphoneOptions configures one linphonec (Debian package linphone-cli)
// user agent: one account, no sound card (audio from and to WAV files).
type LinphoneOptions struct {
	// User and Password are the account's digest credentials; the AOR is
	// sip:User@Registrar.
	User, Password string
	// Registrar is the host:port (UDP) of the registrar, the server under
	// test; linphonec registers there and sends every request there.
	Registrar string
	// SourceWAV is what linphonec sends in calls (16-bit PCM WAV; 8 kHz
	// mono avoids resampling). Required: without it there is no audio.
	SourceWAV string
	// Record makes linphonec write what it receives in calls to
	// RecordPath (a WAV file; the last call's audio).
	Record bool
	// AutoAnswer answers incoming calls at once (linphonec -a).
	AutoAnswer bool
	// MaxLifetime bounds the process: it is killed by PID after this long
	// (default 5 min), a safety net should a test hang.
	MaxLifetime time.Duration
}

// Linphone is a running linphonec driven over its standard input (its
// command line) and read through its output.
type Linphone struct {
	// SIPPort is the local SIP (UDP) port; RTPPort the audio RTP port.
	SIPPort, RTPPort int
	// AOR is the account's address of record.
	AOR string
	// Dir is its home and configuration directory; LogPath its output
	// and log; RecordPath the recording of received audio (Record).
	Dir, LogPath, RecordPath string

	opts   LinphoneOptions
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}

	mu      sync.Mutex
	out     bytes.Buffer // what linphonec printed (its console)
	stopped bool
}

// StartLinphone writes a configuration under t.TempDir() (HOME is that
// directory too: nothing is written to the user's ~/.linphonerc), starts
// linphonec on 127.0.0.1 with a free SIP port and RTP port, switches it to
// WAV files instead of a sound card, and enables auto-answer if asked. It
// is stopped by PID by t.Cleanup, which prints the tail of its output and
// log if the test failed. It fails the test on any error.
func StartLinphone(t testing.TB, opts LinphoneOptions) *Linphone {
	t.Helper()
	bin := RequireTool(t, "linphonec")
	stdbuf := RequireTool(t, "stdbuf")
	if opts.User == "" || opts.Registrar == "" || opts.SourceWAV == "" {
		t.Fatalf("e2e: StartLinphone needs User, Registrar and SourceWAV: %+v", opts)
	}
	if opts.MaxLifetime == 0 {
		opts.MaxLifetime = 5 * time.Minute
	}
	dir := t.TempDir()
	l := &Linphone{
		SIPPort: FreeUDPTCPPort(t),
		RTPPort: freeEvenUDPPort(t),
		AOR:     "sip:" + opts.User + "@" + opts.Registrar,
		Dir:     dir,
		LogPath: filepath.Join(dir, "linphonec.log"),
		opts:    opts,
		exited:  make(chan struct{}),
	}
	if opts.Record {
		l.RecordPath = filepath.Join(dir, "received.wav")
	}
	// linphonec keeps its databases in $HOME/.local/share/linphone; it
	// does not create the directory, and without it the core never
	// leaves its startup state (no SIP listener).
	if err := os.MkdirAll(filepath.Join(dir, ".local", "share", "linphone"), 0o700); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	rc := filepath.Join(dir, "linphonerc")
	if err := os.WriteFile(rc, []byte(l.config()), 0o600); err != nil {
		t.Fatalf("e2e: %v", err)
	}
	// -S prints state changes (registration, calls) on the console.
	args := []string{"-c", rc, "-S", "-d", "5", "-l", l.LogPath}
	if opts.AutoAnswer {
		args = append(args, "-a")
	}
	// linphonec prints with stdio, which a pipe buffers fully: stdbuf
	// (coreutils) makes its output line-buffered so that states show up
	// as they happen.
	l.cmd = exec.Command(stdbuf, append([]string{"-oL", "-eL", bin}, args...)...)
	l.cmd.Dir = dir
	l.cmd.Env = append(os.Environ(), "HOME="+dir)
	w := &lockedWriter{l: l}
	l.cmd.Stdout, l.cmd.Stderr = w, w
	stdin, err := l.cmd.StdinPipe()
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	l.stdin = stdin
	l.cmd.SysProcAttr = childProcAttr()
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("e2e: exec linphonec: %v", err)
	}
	go func() {
		_ = l.cmd.Wait()
		close(l.exited)
	}()
	life := time.AfterFunc(opts.MaxLifetime, l.Kill)
	t.Cleanup(func() {
		life.Stop()
		l.Stop()
		if t.Failed() {
			t.Logf("e2e: linphonec %q output:\n%s\nlog tail %s:\n%s", opts.User, tailLines(l.Output(), 40), l.LogPath, LogTail(l.LogPath, 60))
		}
	})
	// Its prompt comes in about a second; under the full -race suite it
	// once took over 15 s.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if _, err := l.WaitOutput(ctx, regexp.MustCompile(`linphonec> `)); err != nil {
		t.Fatalf("e2e: linphonec %q did not start: %v", opts.User, err)
	}
	cmds := []string{"soundcard use files", "play " + opts.SourceWAV}
	if opts.Record {
		cmds = append(cmds, "record "+l.RecordPath)
	}
	for _, c := range cmds {
		if err := l.Command(c); err != nil {
			t.Fatalf("e2e: linphonec %q: %v", opts.User, err)
		}
	}
	return l
}

// config is the linphonerc: SIP on 127.0.0.1:SIPPort over UDP only, one
// RTP port, G.711 only, no video, no sound card, one account.
func (l *Linphone) config() string {
	o := l.opts
	return fmt.Sprintf(`[sip]
sip_port=%d
sip_tcp_port=0
sip_tls_port=0
bind_address=%s
use_ipv6=0
default_proxy=0
register_only_when_network_is_up=0
auto_net_state_mon=0
ping_with_options=0

[net]
firewall_policy=0

[rtp]
bind_address=%s
audio_rtp_port=%d
rtcp_mux=0
audio_jitt_comp=60
nortp_timeout=300

[sound]
echocancellation=0
agc=0
mic_gain_db=0
playback_gain_db=0

[video]
enabled=0
capture=0
display=0
automatically_initiate=0
automatically_accept=0

[audio_codec_0]
mime=PCMU
rate=8000
channels=1
enabled=1

[audio_codec_1]
mime=PCMA
rate=8000
channels=1
enabled=1

[proxy_0]
reg_proxy=<sip:%s;transport=udp>
reg_identity=%s
reg_expires=600
reg_sendregister=1
publish=0
dial_escape_plus=0

[auth_info_0]
username=%s
userid=%s
passwd=%s
`, l.SIPPort, Loopback, Loopback, l.RTPPort, o.Registrar, l.AOR, o.User, o.User, o.Password)
}

// lockedWriter collects linphonec's output.
type lockedWriter struct{ l *Linphone }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.out.Write(p)
}

// Output returns everything linphonec printed so far.
func (l *Linphone) Output() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out.String()
}

// Command types one command line into linphonec.
func (l *Linphone) Command(cmd string) error {
	select {
	case <-l.exited:
		return fmt.Errorf("%w before %q", ErrLinphoneExited, cmd)
	default:
	}
	if _, err := io.WriteString(l.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("e2e: linphonec command %q: %w", cmd, err)
	}
	return nil
}

// WaitOutput waits until linphonec's output matches re and returns the
// match.
func (l *Linphone) WaitOutput(ctx context.Context, re *regexp.Regexp) (string, error) {
	return l.waitOutputFrom(ctx, 0, re)
}

// waitOutputFrom is WaitOutput on the output after its first from bytes.
func (l *Linphone) waitOutputFrom(ctx context.Context, from int, re *regexp.Regexp) (string, error) {
	for {
		if m := re.FindString(l.Output()[from:]); m != "" {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: %s: %w", ErrLinphoneWait, re, ctx.Err())
		case <-l.exited:
			if m := re.FindString(l.Output()[from:]); m != "" {
				return m, nil
			}
			return "", fmt.Errorf("%w: waiting for %s", ErrLinphoneExited, re)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitRegistered asks linphonec ("status register") until it reports
// its account registered ("registered, identity=...").
func (l *Linphone) WaitRegistered(ctx context.Context) error {
	ok := regexp.MustCompile(`registered, identity=\S+`)
	for {
		from := len(l.Output())
		if err := l.Command("status register"); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err := l.waitOutputFrom(wctx, from, ok)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrLinphoneExited) {
			return fmt.Errorf("linphonec not registered (last: %q): %w", lastLine(l.Output()[from:]), err)
		}
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// WaitCallConnected waits until linphonec reports a call connected.
func (l *Linphone) WaitCallConnected(ctx context.Context) (string, error) {
	return l.WaitOutput(ctx, regexp.MustCompile(`Call \d+ with .* connected`))
}

// WaitCallEnded waits until linphonec reports a call ended.
func (l *Linphone) WaitCallEnded(ctx context.Context) (string, error) {
	return l.WaitOutput(ctx, regexp.MustCompile(`Call \d+ with .* ended.*`))
}

// Stop types quit and, if linphonec has not exited 3 s later, kills it by
// PID. It is idempotent and registered with t.Cleanup.
func (l *Linphone) Stop() {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.stopped = true
	l.mu.Unlock()
	_ = l.Command("quit")
	_ = l.stdin.Close()
	select {
	case <-l.exited:
	case <-time.After(3 * time.Second):
		l.Kill()
	}
}

// Kill ends linphonec at once with SIGKILL, by PID, and waits for it.
func (l *Linphone) Kill() {
	select {
	case <-l.exited:
	default:
		_ = l.cmd.Process.Kill()
		<-l.exited
	}
}

// freeEvenUDPPort returns an even UDP port on 127.0.0.1 whose next port
// (RTCP) was free too.
func freeEvenUDPPort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p, err := freePort("udp")
		if err != nil || p%2 != 0 || p >= 65535 {
			continue
		}
		if portFree("udp", p+1) {
			return p
		}
	}
	t.Fatalf("e2e: free even UDP port: %v", ErrNoFreePort)
	return 0
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package recording

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// killChildEnv names the spool directory of the child process of
// TestKillBetweenBeginAndFinish.
const killChildEnv = "HOTLINE_RECORDING_KILL_CHILD_SPOOL"

// killChild is the child process of TestKillBetweenBeginAndFinish: it
// begins a recording, feeds it audio for 1.2 s (its first second goes
// to the spool), says "recording" and waits to be killed.
func killChild(t *testing.T, spool string) {
	m, err := New(Config{SpoolDir: spool, File: FileConfig{Dir: filepath.Join(filepath.Dir(spool), "store")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.Begin(CallInfo{CallID: "killed", Caller: "+1777", Agent: "dave", Queue: "care"})
	if err != nil {
		t.Fatal(err)
	}
	c, a := callerU, agentA
	for k := 0; k < 60; k++ {
		now := time.Now()
		r.Packet(c.side, c.pkt(k, code(k)), now)
		r.Packet(a.side, a.pkt(k, code(k)), now)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the mixing goroutine writes the first second
	os.Stdout.WriteString("recording\n")
	time.Sleep(time.Minute)
	t.Error("not killed")
}

// A process killed (SIGKILL) between Begin and Finish: the next start
// uploads the recording and its call record, with the call's details and
// the audio that reached the spool.
func TestKillBetweenBeginAndFinish(t *testing.T) {
	if spool := os.Getenv(killChildEnv); spool != "" {
		killChild(t, spool)
		return
	}
	c := testConfig(t)
	if err := os.MkdirAll(c.SpoolDir, 0o750); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKillBetweenBeginAndFinish$", "-test.count", "1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+c.SpoolDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	said := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "recording" {
				said <- true
				return
			}
		}
		said <- false
	}()
	select {
	case ok := <-said:
		if !ok {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("child exited before recording")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child did not start recording in 30 s")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	m := newTestManager(t, c)
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "upload", func() bool { return m.Backlog().Uploaded == 1 })
	var wav, rec string
	filepath.WalkDir(c.File.Dir, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasSuffix(p, ".wav"):
			wav = p
		case strings.HasSuffix(p, ".json"):
			rec = p
		}
		return nil
	})
	if wav == "" || rec == "" {
		t.Fatalf("store holds WAV %q, record %q", wav, rec)
	}
	info, err := ReadWAVInfo(wav)
	if err != nil || info.Frames < SampleRate/2 {
		t.Errorf("stored WAV: %+v, %v; want the audio written before the kill (at least 0.5 s)", info, err)
	}
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	var got CallRecord
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("stored call record: %v\n%s", err, b)
	}
	if got.CallID != "killed" || got.Caller != "+1777" || got.Agent != "dave" || got.Queue != "care" || !got.Recovered || got.Frames != info.Frames {
		t.Errorf("stored record = %+v (WAV frames %d)", got, info.Frames)
	}
	if names := spoolFiles(t, c.SpoolDir); len(names) != 0 {
		t.Errorf("spool still holds %v", names)
	}
}

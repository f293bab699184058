package callflow_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"hotline/callflow"
	"hotline/callflow/callflowtest"
	"hotline/metrics"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

const number = "+84912000111"

// countMetrics notes the callback metrics.
type countMetrics struct {
	mu                        sync.Mutex
	attempts, completed, fail []string
}

func (m *countMetrics) CallbackAttempt(queue, kind, result string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts = append(m.attempts, result)
}

func (m *countMetrics) CallbackCompleted(queue, kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.completed = append(m.completed, queue)
}

func (m *countMetrics) CallbackFailed(queue, kind, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = append(m.fail, reason)
}

func (m *countMetrics) get() (attempts, completed, fail []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.attempts), slices.Clone(m.completed), slices.Clone(m.fail)
}

type dialerFixture struct {
	t       *testing.T
	line    *callflowtest.Line
	store   *callbacks.Store
	metrics *countMetrics
	stop    func()
}

// newDialer runs a dialer on line with agent alice logged in; mod may
// change its configuration.
func newDialer(t *testing.T, line *callflowtest.Line, mod func(*callflow.DialerConfig)) *dialerFixture {
	t.Helper()
	rc := configtest.MustValid(t, configtest.BaseConfig(configtest.Agents("alice")...))
	a, err := acd.New(rc, acd.Options{LoginOnRegister: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetRegistered("alice", true); err != nil {
		t.Fatal(err)
	}
	store, err := callbacks.OpenStore("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := callflow.DialerConfig{Interval: 20 * time.Millisecond, RetryDelay: 50 * time.Millisecond,
		MaxRetryDelay: 50 * time.Millisecond, MaxAttempts: 2}
	if mod != nil {
		mod(&cfg)
	}
	m := &countMetrics{}
	d, err := callflow.NewDialer(callflow.DialerOptions{Line: line, Config: cfg, Store: store, ACD: a, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			line.Wait()
		})
	}
	t.Cleanup(stop)
	return &dialerFixture{t: t, line: line, store: store, metrics: m, stop: stop}
}

func (f *dialerFixture) add(number string) callbacks.Callback {
	f.t.Helper()
	cb, err := f.store.Add(callbacks.Callback{Kind: callbacks.Queued, Number: number, Queue: config.DefaultQueueName})
	if err != nil {
		f.t.Fatal(err)
	}
	return cb
}

func (f *dialerFixture) wait(id, what string, cond func(callbacks.Callback) bool) callbacks.Callback {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, cb := range f.store.List() {
			if cb.ID == id && cond(cb) {
				return cb
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("callback %s: %+v, want %s", id, f.store.List(), what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDialerCallbackCompleted: the agent takes the callback, hears the
// whisper, the customer's number is dialled and answers; the callback is
// completed and counted, the call torn down once.
func TestDialerCallbackCompleted(t *testing.T) {
	f := newDialer(t, &callflowtest.Line{}, nil)
	cb := f.add(number)
	got := f.wait(cb.ID, "completed", func(c callbacks.Callback) bool { return c.Status == callbacks.Completed })
	if got.Attempts != 1 {
		t.Errorf("completed callback %+v, want 1 attempt", got)
	}
	f.stop()
	calls := f.line.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	st := calls[0].State()
	if st.Agent == nil || st.Agent.Name != "alice" || st.Agent.Played() == 0 {
		t.Errorf("agent %+v: want alice, played the whisper", st.Agent)
	}
	if !slices.Equal(st.Dialled, []string{number}) || !st.Connected || !st.Closed || !errors.Is(st.Cause, callflow.ErrCustomerHangup) {
		t.Errorf("call %+v, want %s dialled, connected, closed by the customer's hang-up", st, number)
	}
	attempts, completed, fail := f.metrics.get()
	if !slices.Equal(attempts, []string{callflow.CallbackAnswered}) || len(completed) != 1 || len(fail) != 0 {
		t.Errorf("metrics: attempts %v completed %v failed %v", attempts, completed, fail)
	}
}

// TestDialerBusyRetriedThenFailed: a busy customer is tried again after
// the retry delay and, busy at the last attempt, the callback fails with
// its last result.
func TestDialerBusyRetriedThenFailed(t *testing.T) {
	line := &callflowtest.Line{DialResult: func(string) error { return &callflow.Refused{Code: 486, Reason: "Busy Here"} }}
	f := newDialer(t, line, nil)
	cb := f.add(number)
	got := f.wait(cb.ID, "failed", func(c callbacks.Callback) bool { return c.Status == callbacks.Failed })
	if got.Attempts != 2 || got.LastResult != callflow.CallbackBusy {
		t.Errorf("failed callback %+v, want 2 attempts, last result busy", got)
	}
	f.stop()
	if n := len(line.Calls()); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	for _, c := range line.Calls() {
		if st := c.State(); st.Connected || !st.Closed {
			t.Errorf("call %+v: want closed, not connected", st)
		}
	}
	attempts, _, fail := f.metrics.get()
	if !slices.Equal(attempts, []string{callflow.CallbackBusy, callflow.CallbackBusy}) ||
		!slices.Equal(fail, []string{callflow.CallbackFailAttempts}) {
		t.Errorf("metrics: attempts %v failed %v", attempts, fail)
	}
}

// TestDialerCustomerResults: how each way of not reaching the customer
// is counted.
func TestDialerCustomerResults(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&callflow.Refused{Code: 603, Reason: "Decline"}, callflow.CallbackDeclined},
		{&callflow.Refused{Code: 480, Reason: "Temporarily Unavailable"}, callflow.CallbackNoAnswer},
		{&callflow.Refused{Code: 503, Reason: "Service Unavailable"}, callflow.CallbackUnreachable},
		{callflow.ErrNoAnswer, callflow.CallbackNoAnswer},
		{callflow.ErrBadAnswer, callflow.CallbackError},
		{callflow.ErrAgentHangup, callflow.CallbackAbandoned},
		{errors.New("timer B"), callflow.CallbackUnreachable},
	} {
		line := &callflowtest.Line{DialResult: func(string) error { return tc.err }}
		f := newDialer(t, line, func(c *callflow.DialerConfig) { c.MaxAttempts = 1 })
		cb := f.add(number)
		got := f.wait(cb.ID, "failed", func(c callbacks.Callback) bool { return c.Status == callbacks.Failed })
		if got.LastResult != tc.want {
			t.Errorf("%v: last result %q, want %q", tc.err, got.LastResult, tc.want)
		}
		f.stop()
	}
}

// TestDialerNeverDialsBadNumbers: numbers that are not numbers, or
// outside the allowed prefixes, fail without a call.
func TestDialerNeverDialsBadNumbers(t *testing.T) {
	f := newDialer(t, &callflowtest.Line{}, func(c *callflow.DialerConfig) { c.AllowedPrefixes = []string{"+84"} })
	bad := f.add("0912@evil.example;transport=tcp")
	abroad := f.add("+19005550100")
	for _, tc := range []struct {
		cb   callbacks.Callback
		want string
	}{{bad, callflow.CallbackFailInvalidNumber}, {abroad, callflow.CallbackFailNotAllowed}} {
		got := f.wait(tc.cb.ID, "failed", func(c callbacks.Callback) bool { return c.Status == callbacks.Failed })
		if got.LastResult != tc.want || got.Attempts != 0 {
			t.Errorf("callback to %q: %+v, want failed %s", tc.cb.Number, got, tc.want)
		}
	}
	f.stop()
	if n := len(f.line.Calls()); n != 0 {
		t.Errorf("%d calls for bad numbers, want none", n)
	}
}

// TestDialerAgentLeavesBeforeDialling: an agent who hangs up before the
// customer is called costs no attempt: the callback is released.
func TestDialerAgentLeavesBeforeDialling(t *testing.T) {
	f := newDialer(t, &callflowtest.Line{AgentLeavesAtTake: true}, func(c *callflow.DialerConfig) {
		c.RetryDelay, c.MaxRetryDelay = time.Hour, time.Hour
	})
	cb := f.add(number)
	f.wait(cb.ID, "released", func(c callbacks.Callback) bool { return !c.Claimed && c.Due.After(time.Now().Add(30*time.Minute)) })
	f.stop()
	got := f.wait(cb.ID, "pending", func(c callbacks.Callback) bool { return true })
	if got.Status != callbacks.Pending || got.Attempts != 0 {
		t.Errorf("callback %+v, want pending with no attempt", got)
	}
	for _, c := range f.line.Calls() {
		if st := c.State(); len(st.Dialled) != 0 || !st.Closed {
			t.Errorf("call %+v: want closed, nobody dialled", st)
		}
	}
}

// TestDialerWaitsWhileLineBusy: while the line admits no call, due
// callbacks stay due and unclaimed.
func TestDialerWaitsWhileLineBusy(t *testing.T) {
	f := newDialer(t, &callflowtest.Line{AdmitErr: errors.New("max calls")}, nil)
	cb := f.add(number)
	time.Sleep(200 * time.Millisecond) // several rounds
	f.stop()
	got := f.wait(cb.ID, "pending", func(c callbacks.Callback) bool { return true })
	if got.Claimed || got.Attempts != 0 || got.Status != callbacks.Pending || len(f.line.Calls()) != 0 {
		t.Errorf("callback %+v with %d calls, want it untouched", got, len(f.line.Calls()))
	}
}

// TestCallbackResultsAreMetricsValues: the dialer's results and failure
// reasons are the values the metrics count.
func TestCallbackResultsAreMetricsValues(t *testing.T) {
	for _, p := range [][2]string{
		{callflow.CallbackAnswered, metrics.CallbackAnswered}, {callflow.CallbackBusy, metrics.CallbackBusy},
		{callflow.CallbackNoAnswer, metrics.CallbackNoAnswer}, {callflow.CallbackDeclined, metrics.CallbackDeclined},
		{callflow.CallbackUnreachable, metrics.CallbackUnreachable}, {callflow.CallbackAbandoned, metrics.CallbackAbandoned},
		{callflow.CallbackError, metrics.CallbackError},
		{callflow.CallbackFailAttempts, metrics.CallbackFailAttempts}, {callflow.CallbackFailInvalidNumber, metrics.CallbackFailInvalidNumber},
		{callflow.CallbackFailNotAllowed, metrics.CallbackFailNotAllowed}, {callflow.CallbackFailNoTime, metrics.CallbackFailNoTime},
		{callflow.CallbackFailUnknownQueue, metrics.CallbackFailUnknownQueue},
	} {
		if p[0] != p[1] {
			t.Errorf("callflow %q, metrics %q", p[0], p[1])
		}
	}
}

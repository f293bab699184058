package sip

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/internal/cfg"
	"hotline/routing/acd"
	"hotline/routing/callbacks"
	"hotline/routing/config"
	"hotline/routing/rules"
)

// customerNumber is the number the test callbacks call back.
const customerNumber = "+84912000111"

// dialerFixture is a Hotline whose outbound gateway is a test phone (the
// customer's phone behind the gateway), with a callback store and the
// dialer running.
type dialerFixture struct {
	*fixture
	customer *phone
	store    *callbacks.Store
	stop     func() // stops the dialer (also at cleanup, before Shutdown)
}

// newDialerFixture starts the customer's phone, Hotline with the
// customer's phone as its gateway (mods may change the outbound section)
// and the dialer with window w (nil: any time).
func newDialerFixture(t *testing.T, w *callbacks.Window, mods ...func(*Outbound)) *dialerFixture {
	t.Helper()
	customer := newPhone(t, "customer", netip.AddrPort{})
	f := newFixture(t, func(o *fixtureOpts) {
		o.cfg.Outbound = Outbound{Gateway: customer.addr.String(), From: "1900", Interval: 100 * time.Millisecond,
			RingTimeout: 2 * time.Second, RetryDelay: time.Second, MaxRetryDelay: time.Second, MaxAttempts: 2}
		for _, m := range mods {
			m(&o.cfg.Outbound)
		}
	})
	store, err := callbacks.OpenStore("", nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := f.srv.CallbackLine()
	if err != nil {
		t.Fatal(err)
	}
	d, err := callflow.NewDialer(callflow.DialerOptions{Line: line, Config: f.srv.cfg.Outbound.DialerConfig(),
		Store: store, Window: w, ACD: f.acd, Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("the dialer did not stop")
		}
	}
	t.Cleanup(stop) // before the fixture's Shutdown
	return &dialerFixture{fixture: f, customer: customer, store: store, stop: stop}
}

// add stores a callback due now in the default queue.
func (f *dialerFixture) add(number string) callbacks.Callback {
	f.t.Helper()
	cb, err := f.store.Add(callbacks.Callback{Kind: callbacks.Queued, Number: number, Queue: config.DefaultQueueName})
	if err != nil {
		f.t.Fatal(err)
	}
	return cb
}

// callback returns the stored callback id.
func (f *dialerFixture) callback(id string) callbacks.Callback {
	for _, cb := range f.store.List() {
		if cb.ID == id {
			return cb
		}
	}
	f.t.Fatalf("callback %s is not listed", id)
	return callbacks.Callback{}
}

// waitCallback waits until the stored callback satisfies cond.
func (f *dialerFixture) waitCallback(id, what string, cond func(callbacks.Callback) bool) callbacks.Callback {
	f.t.Helper()
	deadline := time.Now().Add(2 * waitTimeout)
	for {
		cb := f.callback(id)
		if cond(cb) {
			return cb
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("callback %s: %+v, want %s", id, cb, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkCustomerInvite checks what reaches the gateway: the callback's
// number at the gateway, from the configured number.
func checkCustomerInvite(t *testing.T, f *dialerFixture, in *incoming, number string) {
	t.Helper()
	ru := in.req.Recipient
	if ru.User != number || ru.Host != "127.0.0.1" || ru.Port != int(f.customer.addr.Port()) {
		t.Errorf("customer's INVITE to %s, want sip:%s@%s", ru.String(), number, f.customer.addr)
	}
	if u := in.req.From().Address.User; u != "1900" {
		t.Errorf("customer sees the call from %q, want the hotline number 1900", u)
	}
	// The gateway never sent Hotline anything before: the INVITE still
	// leaves from Hotline's SIP listener, the address a trunk (or a
	// Kamailio edge) knows it by, not from a port of its own.
	if src := in.req.Source(); src != f.addr.String() {
		t.Errorf("customer's INVITE came from %s, want Hotline's SIP address %s", src, f.addr)
	}
	if via := in.req.Via(); via.Port != int(f.addr.Port()) {
		t.Errorf("customer's INVITE has Via %s, want Hotline's SIP port %d", via.Value(), f.addr.Port())
	}
}

// TestCallbackRingsAgentThenCustomer: a due callback rings a free agent
// first (the customer's phone does not ring meanwhile); once the agent
// answers, the customer is called through the gateway, both are bridged
// with media flowing both ways, and when the customer hangs up the agent
// is hung up on, the callback is completed and its call record written.
func TestCallbackRingsAgentThenCustomer(t *testing.T) {
	f := newDialerFixture(t, nil)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	cb := f.add(customerNumber)

	ain := agent.nextInvite()
	if u := ain.req.From().Address.User; u != customerNumber {
		t.Errorf("agent sees the callback from %q, want the customer's number", u)
	}
	ain.ring()
	time.Sleep(300 * time.Millisecond) // the agent's phone rings a while
	f.customer.noInvite()
	if c := f.callback(cb.ID); c.Attempts != 0 || !c.Claimed {
		t.Errorf("while the agent rings: %+v, want claimed with no attempt", c)
	}
	ain.answer()
	if err := ain.wait(); err != nil {
		t.Fatalf("agent's answer: %v", err)
	}
	cin := f.customer.nextInvite()
	checkCustomerInvite(t, f, cin, customerNumber)
	if c := f.callback(cb.ID); c.Attempts != 1 || c.LastCallID != cin.callID() {
		t.Errorf("while the customer rings: %+v, want attempt 1 with Call-ID %s", c, cin.callID())
	}
	cin.ring()
	cin.answer()
	if err := cin.wait(); err != nil {
		t.Fatalf("customer's answer: %v", err)
	}
	flows(t, agent, ain.remoteRTP(), f.customer)
	flows(t, f.customer, cin.remoteRTP(), agent)
	if calls := f.srv.Calls(); len(calls) != 1 || calls[0].Agent != "alice" || calls[0].From != customerNumber {
		t.Errorf("calls in progress: %+v", calls)
	}

	cin.bye()
	agent.waitRequest(sip.BYE, ain.callID())
	got := f.waitCallback(cb.ID, "completed", func(c callbacks.Callback) bool { return c.Status == callbacks.Completed })
	if got.Attempts != 1 || got.Claimed {
		t.Errorf("completed callback %+v", got)
	}
	r := wantRecord(t, f.fixture, cin.callID(), callflow.OutcomeAnswered, callflow.ErrCustomerHangup, "alice")
	if r.Direction != callflow.DirectionCallback || r.Callback != cb.ID || r.Caller != customerNumber || r.Bridged.IsZero() {
		t.Errorf("call record %+v", r)
	}
	waitAgentState(t, f.fixture, "alice", acd.StateAvailable)
}

// TestCallbackBusyCustomerRetriedThenFailed: the customer is busy; the
// agent hears a tone and is hung up on, the callback is tried again after
// the retry delay and, busy again at the last allowed attempt, fails: it
// stays listed as failed.
func TestCallbackBusyCustomerRetriedThenFailed(t *testing.T) {
	f := newDialerFixture(t, nil)
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	cb := f.add(customerNumber)

	for attempt := 1; attempt <= 2; attempt++ {
		ain := agent.nextInvite()
		ain.answer()
		if err := ain.wait(); err != nil {
			t.Fatal(err)
		}
		cin := f.customer.nextInvite()
		cin.reject(486)
		_ = cin.wait()
		agent.waitRequest(sip.BYE, ain.callID())
		if attempt == 1 {
			got := f.waitCallback(cb.ID, "pending for a retry", func(c callbacks.Callback) bool { return !c.Claimed && c.LastResult == "busy" })
			if got.Status != callbacks.Pending || got.Attempts != 1 || !got.Due.After(got.LastAttempt) {
				t.Errorf("after a busy customer: %+v, want pending, 1 attempt, due later", got)
			}
			r := f.record(cin.callID())
			if r.Direction != callflow.DirectionCallback || r.Outcome != callflow.OutcomeFailed || r.Agent != "alice" || !strings.Contains(r.Cause, "busy") {
				t.Errorf("call record %+v, want a failed callback call with alice, cause busy", r)
			}
		}
	}
	got := f.waitCallback(cb.ID, "failed", func(c callbacks.Callback) bool { return c.Status == callbacks.Failed })
	if got.Attempts != 2 || got.LastResult != "busy" || got.Claimed {
		t.Errorf("failed callback %+v", got)
	}
	time.Sleep(300 * time.Millisecond) // a few dialer rounds: nothing more
	agent.noInvite()
}

// TestCallbackAgentNoAnswerBackToQueue: the first agent offered does not
// answer; the callback goes back to the queue and the next agent gets it;
// only then is the customer called.
func TestCallbackAgentNoAnswerBackToQueue(t *testing.T) {
	f := newDialerFixture(t, nil)
	alice := newPhone(t, "alice", f.addr)
	alice.register("alice") // idle longest: offered first
	bob := newPhone(t, "bob", f.addr)
	bob.register("bob")
	cb := f.add(customerNumber)

	ain := alice.nextInvite()
	ain.reject(486)
	_ = ain.wait()
	bin := bob.nextInvite()
	f.customer.noInvite()
	bin.answer()
	if err := bin.wait(); err != nil {
		t.Fatal(err)
	}
	cin := f.customer.nextInvite()
	cin.answer()
	if err := cin.wait(); err != nil {
		t.Fatal(err)
	}
	flows(t, f.customer, cin.remoteRTP(), bob)
	// The agent hangs up: the customer gets the BYE.
	bin.bye()
	f.customer.waitRequest(sip.BYE, cin.callID())
	f.waitCallback(cb.ID, "completed", func(c callbacks.Callback) bool { return c.Status == callbacks.Completed })
	wantRecord(t, f.fixture, cin.callID(), callflow.OutcomeAnswered, callflow.ErrAgentHangup, "bob")
}

// TestCallbackAgentHangsUpWhileCustomerRings: the customer's ringing
// phone is CANCELled when the agent hangs up; the attempt counts and the
// callback is tried again.
func TestCallbackAgentHangsUpWhileCustomerRings(t *testing.T) {
	f := newDialerFixture(t, nil, func(o *Outbound) { o.RetryDelay, o.MaxRetryDelay = time.Hour, time.Hour })
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	cb := f.add(customerNumber)

	ain := agent.nextInvite()
	ain.answer()
	if err := ain.wait(); err != nil {
		t.Fatal(err)
	}
	cin := f.customer.nextInvite()
	cin.ring()
	time.Sleep(100 * time.Millisecond) // Hotline has the 180
	ain.bye()
	f.customer.waitRequest(sip.CANCEL, cin.callID())
	if err := cin.wait(); err == nil {
		t.Error("the customer's INVITE was not ended")
	}
	got := f.waitCallback(cb.ID, "pending again", func(c callbacks.Callback) bool { return !c.Claimed && c.LastResult == "abandoned" })
	if got.Status != callbacks.Pending || got.Attempts != 1 || got.Due.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("after the agent left: %+v, want pending, 1 attempt, due in an hour", got)
	}
}

// TestCallbackNeverDialsBadNumbers: a number with anything but digits,
// or outside the allowed prefixes, fails at once: no agent rings and the
// gateway gets nothing.
func TestCallbackNeverDialsBadNumbers(t *testing.T) {
	f := newDialerFixture(t, nil, func(o *Outbound) { o.AllowedPrefixes = []string{"+84"} })
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	bad := f.add("0912@evil.example;transport=tcp")
	abroad := f.add("+19005550100")
	for _, tc := range []struct {
		cb   callbacks.Callback
		want string
	}{{bad, "invalid_number"}, {abroad, "not_allowed"}} {
		got := f.waitCallback(tc.cb.ID, "failed", func(c callbacks.Callback) bool { return c.Status == callbacks.Failed })
		if got.LastResult != tc.want || got.Attempts != 0 {
			t.Errorf("callback to %q: %+v, want failed %s", tc.cb.Number, got, tc.want)
		}
	}
	time.Sleep(300 * time.Millisecond)
	agent.noInvite()
	f.customer.noInvite()
}

// TestCallbackWaitsOutQuietHours: a callback due now while it is quiet
// hours is not placed: it is due again when they end, with no attempt.
func TestCallbackWaitsOutQuietHours(t *testing.T) {
	now := time.Now().UTC()
	quiet := fmt.Sprintf("%s-%s", now.Add(-time.Hour).Format("15:04"), now.Add(time.Hour).Format("15:04"))
	rc := config.Config{Hotlines: []config.Hotline{{Number: "1900"}},
		Agents:    []config.Agent{{Username: "alice", Password: "pw"}},
		Callbacks: config.CallbackConfig{QuietHours: []string{quiet}}} // no schedule: UTC
	rc.SetDefaults()
	if err := rc.Validate(); err != nil {
		t.Fatal(err)
	}
	router, err := rules.NewRouter(&rc)
	if err != nil {
		t.Fatal(err)
	}
	f := newDialerFixture(t, callbacks.NewWindow(&rc, router))
	agent := newPhone(t, "alice", f.addr)
	agent.register("alice")
	cb := f.add(customerNumber)
	end := now.Add(time.Hour).Truncate(time.Minute)
	got := f.waitCallback(cb.ID, "postponed", func(c callbacks.Callback) bool { return c.Due.Sub(c.Created) > time.Minute })
	if !got.Due.Equal(end) || got.Attempts != 0 || got.Claimed || got.Status != callbacks.Pending {
		t.Errorf("callback in quiet hours %s: %+v, want pending, due %v", quiet, got, end)
	}
	time.Sleep(300 * time.Millisecond)
	agent.noInvite()
	f.customer.noInvite()
}

// TestCallbackReleasedWhenDialerStops: a callback waiting for an agent
// when the dialer stops is released, due again, with no attempt counted.
func TestCallbackReleasedWhenDialerStops(t *testing.T) {
	f := newDialerFixture(t, nil)
	cb := f.add(customerNumber) // nobody is logged in: it waits
	f.waitCallback(cb.ID, "claimed", func(c callbacks.Callback) bool { return c.Claimed })
	f.stop()
	got := f.waitCallback(cb.ID, "released", func(c callbacks.Callback) bool { return !c.Claimed })
	if got.Status != callbacks.Pending || got.Attempts != 0 || got.Due.After(time.Now()) {
		t.Errorf("released callback %+v, want pending, due, no attempt", got)
	}
	if len(f.store.Due(time.Now())) != 1 {
		t.Error("the released callback is not due")
	}
}

// TestOutboundConfig: a gateway needs a caller number, a listener of its
// transport and sane retry settings; errors name the field.
func TestOutboundConfig(t *testing.T) {
	base := func() Config {
		c := Config{Listen: []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}}}
		c.SetDefaults()
		return c
	}
	c := base()
	if err := c.Validate(); err != nil {
		t.Fatalf("no gateway: %v", err)
	}
	c.Outbound = Outbound{Gateway: "127.0.0.1:5080", From: "+18005550100"}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("gateway: %v", err)
	}
	for _, tc := range []struct {
		mod   func(*Outbound)
		field string
	}{
		{func(o *Outbound) { o.Gateway = "127.0.0.1" }, "outbound.gateway"},
		{func(o *Outbound) { o.Gateway = "gw@x:5060" }, "outbound.gateway"},
		{func(o *Outbound) { o.Transport = "tls" }, "outbound.transport"},
		{func(o *Outbound) { o.Transport = "sctp" }, "outbound.transport"},
		{func(o *Outbound) { o.From = "" }, "outbound.from"},
		{func(o *Outbound) { o.From = "hotline" }, "outbound.from"},
		{func(o *Outbound) { o.Password = "x" }, "outbound.username"},
		{func(o *Outbound) { o.AllowedPrefixes = []string{"+84", "0x"} }, "outbound.allowed_prefixes[1]"},
		{func(o *Outbound) { o.MaxAttempts = -1 }, "outbound.max_attempts"},
		{func(o *Outbound) { o.RetryDelay = time.Millisecond }, "outbound.retry_delay"},
		{func(o *Outbound) { o.MaxRetryDelay = time.Minute }, "outbound.max_retry_delay"},
		{func(o *Outbound) { o.RingTimeout = time.Millisecond }, "outbound.ring_timeout"},
		{func(o *Outbound) { o.Interval = time.Millisecond }, "outbound.interval"},
	} {
		c := base()
		c.Outbound = Outbound{Gateway: "127.0.0.1:5080", From: "1900"}
		c.SetDefaults()
		tc.mod(&c.Outbound)
		err := c.Validate()
		if err == nil || !containsField(err, tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}

func containsField(err error, field string) bool {
	for _, fe := range cfg.Fields(err) {
		if fe.Field == field {
			return true
		}
	}
	return false
}

package acd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"hotline/routing/config"
	"hotline/routing/config/configtest"
)

// The ACD reports its queue_log: logins, offers, a ring without answer
// (with how long it rang), the connection (with the wait), the wrap-up,
// an abandoned call with its position and wait, a callback request,
// pauses and a logout when the registration is lost, in order.
func TestACDEvents(t *testing.T) {
	c := configtest.BaseConfig(configtest.Agents("alice", "bob")...)
	c.Queue.RetryDelay = time.Minute
	c.Queues = []config.QueueDef{{Name: "default", WrapUp: 10 * time.Second}}
	var got []string
	f := newACD(t, c, func(o *Options) {
		o.OnEvent = func(e Event) {
			s := fmt.Sprintf("%s %s agent=%s queue=%s pos=%d dur=%s reason=%s", e.Kind, e.CallID, e.Agent, e.Queue, e.Position, e.Duration, e.Reason)
			got = append(got, strings.TrimSpace(s))
		}
	})
	q := f.acd.queues[0].def.Name
	if err := f.acd.Pause("bob", "lunch"); err != nil {
		t.Fatal(err)
	}
	c1 := f.enqueue(CallRequest{ID: "c1", Caller: "+8490"})
	f.offer(c1)
	f.clk.Add(3 * time.Second)
	if err := c1.NoAnswer("alice"); err != nil {
		t.Fatal(err)
	}
	c2 := f.enqueue(CallRequest{ID: "c2"})
	c3 := f.enqueue(CallRequest{ID: "c3"})
	f.clk.Add(2 * time.Second)
	c3.Abandon() // second in line
	if _, err := c2.RequestCallback("+8491"); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.Unpause("bob"); err != nil {
		t.Fatal(err)
	}
	f.offer(c1)
	f.clk.Add(time.Second)
	if err := c1.Answered("bob"); err != nil {
		t.Fatal(err)
	}
	f.clk.Add(30 * time.Second)
	if err := c1.Hangup(); err != nil {
		t.Fatal(err)
	}
	if err := f.acd.SetRegistered("alice", false); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"login  agent=alice queue= pos=0 dur=0s reason=",
		"login  agent=bob queue= pos=0 dur=0s reason=",
		"pause  agent=bob queue= pos=0 dur=0s reason=lunch",
		"entered_queue c1 agent= queue=" + q + " pos=0 dur=0s reason=",
		"offered c1 agent=alice queue=" + q + " pos=0 dur=0s reason=",
		"ring_no_answer c1 agent=alice queue=" + q + " pos=0 dur=3s reason=",
		"entered_queue c2 agent= queue=" + q + " pos=0 dur=0s reason=",
		"offered c2 agent=alice queue=" + q + " pos=0 dur=0s reason=", // c1 waits out alice's retry delay
		"entered_queue c3 agent= queue=" + q + " pos=0 dur=0s reason=",
		"abandoned c3 agent= queue=" + q + " pos=3 dur=2s reason=", // behind c1 and c2 (ringing)
		"callback_request c2 agent= queue=" + q + " pos=2 dur=2s reason=",
		"unpause  agent=bob queue= pos=0 dur=0s reason=",
		"offered c1 agent=bob queue=" + q + " pos=0 dur=0s reason=",
		"connected c1 agent=bob queue=" + q + " pos=0 dur=6s reason=",
		"wrap_up c1 agent=bob queue=" + q + " pos=0 dur=10s reason=",
		"logout  agent=alice queue= pos=0 dur=0s reason=registration lost",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

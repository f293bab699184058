package sip

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"hotline/callflow"
	"hotline/sip/media"
)

func testTransfers(out Outbound) *Transfers {
	return NewTransfers([]string{"alice", "bob", "carol"},
		[]TransferQueue{{Name: "complaints", TransferNumber: "2001"}, {Name: "sales", TransferNumber: "2002"}, {Name: "vip"}}, out)
}

var gateway = Outbound{Gateway: "127.0.0.1:5080", AllowedPrefixes: []string{"+84", "0"}}

func TestTransferResolve(t *testing.T) {
	tr := testTransfers(gateway)
	for uri, want := range map[string]Target{
		"sip:bob@127.0.0.1":         {TargetAgent, "bob"},
		"sip:2001@hotline.example":  {TargetQueue, "complaints"},
		"sip:2002@127.0.0.1:5060":   {TargetQueue, "sales"},
		"sip:+84901234567@gw":       {TargetNumber, "+84901234567"},
		"sip:0901234567@127.0.0.1":  {TargetNumber, "0901234567"},
		"tel:+84901234567":          {TargetNumber, "+84901234567"},
		"sips:carol@evil.example":   {TargetAgent, "carol"}, // the host never counts
		"sip:alice@10.0.0.1;user=x": {TargetAgent, "alice"},
	} {
		var u sip.Uri
		if strings.HasPrefix(uri, "tel:") {
			u = sip.Uri{Scheme: "tel", User: strings.TrimPrefix(uri, "tel:")}
		} else if err := sip.ParseUri(uri, &u); err != nil {
			t.Fatal(err)
		}
		got, err := tr.Resolve(u)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %v, %v; want %v", uri, got, err, want)
		}
	}
}

func TestTransferResolveRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  Outbound
		user string
		code int
	}{
		{"unknown short number", gateway, "2999", 404},
		{"unknown name", gateway, "dave", 404},
		{"queue by name (REFER needs its number)", gateway, "complaints", 404},
		{"no user", gateway, "", 404},
		{"prefix not allowed", gateway, "+1900555000", 403},
		{"national number outside prefixes", gateway, "1900555000", 404},
		{"no gateway", Outbound{AllowedPrefixes: []string{"+84"}}, "+84901234567", 403},
		{"no allowed prefixes", Outbound{Gateway: "127.0.0.1:5080"}, "+84901234567", 403},
		{"feature code", gateway, "*21", 404},
	} {
		_, err := testTransfers(tc.out).Resolve(sip.Uri{Scheme: "sip", User: tc.user, Host: "127.0.0.1"})
		code, reason := StatusOf(err)
		if code != tc.code || reason == "" || err == nil {
			t.Errorf("%s: %d %q (%v), want %d", tc.name, code, reason, err, tc.code)
		}
	}
}

func TestParseTargetAndCheck(t *testing.T) {
	tr := testTransfers(gateway)
	for in, code := range map[string]int{
		"agent:bob": 0, "queue:complaints": 0, "queue:vip": 0, "number:+84901234567": 0, "QUEUE:sales": 0,
		"agent:dave": 404, "queue:nosuch": 404, "number:+1555": 403, "number:abc": 404,
	} {
		tg, err := ParseTarget(in)
		if err != nil {
			t.Errorf("ParseTarget(%q): %v", in, err)
			continue
		}
		err = tr.Check(tg)
		if got := refusalCode(err); got != code {
			t.Errorf("Check(%s) = %d (%v), want %d", in, got, err, code)
		}
	}
	if tg, _ := ParseTarget(" agent:bob "); tg.String() != "agent:bob" {
		t.Errorf("String() = %q", tg.String())
	}
	for _, bad := range []string{"", "bob", "agent:", "phone:123", ":x"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
	if err := tr.Check(Target{Kind: "x", Name: "y"}); refusalCode(err) != 400 {
		t.Errorf("Check of an unknown kind: %v", err)
	}
}

func TestParseMonitorCode(t *testing.T) {
	for in, want := range map[string]string{"*31bob#": "bob", "*31bob%23": "bob", "*31bob": "bob", "*31a.b-c#": "a.b-c"} {
		if got, ok := ParseMonitorCode(in); !ok || got != want {
			t.Errorf("ParseMonitorCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"*31", "*31#", "*21", "1900", "*31bob##", "*31b<o>b#", "31bob#"} {
		if got, ok := ParseMonitorCode(in); ok {
			t.Errorf("ParseMonitorCode(%q) = %q, accepted", in, got)
		}
	}
}

// TestMonitorRefusals: the monitoring policy's refusals (callflow) get
// the feature code's SIP answers, and each mode its media mode.
func TestMonitorRefusals(t *testing.T) {
	sup := func(u string) bool { return u == "sue" }
	for _, tc := range []struct {
		err    error
		code   int
		reason string
	}{
		{callflow.CheckMonitor("bob", "alice", sup, nil), 403, "Not A Supervisor"},
		{callflow.CheckMonitor("sue", "sue", sup, nil), 403, "Cannot Monitor Yourself"},
		{callflow.CheckMonitor("sue", "bob", sup, &callflow.Watched{}), 404, "Agent Not On A Call"},
		{callflow.CheckMonitor("sue", "bob", sup, &callflow.Watched{Agent: "bob", Bridged: true, Monitored: true}), 486, "Already Monitored"},
		{callflow.ErrBadMode, 400, "Bad Monitoring Mode"},
	} {
		if code, reason := StatusOf(monitorRefusal(tc.err)); code != tc.code || reason != tc.reason {
			t.Errorf("%v: %d %s, want %d %s", tc.err, code, reason, tc.code, tc.reason)
		}
	}
	for m, want := range map[callflow.MonitorMode]media.MonitorMode{callflow.MonitorListen: media.Listen,
		callflow.MonitorWhisper: media.Whisper, callflow.MonitorBarge: media.Barge} {
		if got := mediaMode(m); got != want || got.String() != string(m) {
			t.Errorf("mode %s: media mode %v, want %v", m, got, want)
		}
	}
}

func TestDialPlan(t *testing.T) {
	tr := testTransfers(gateway)
	isHotline := func(n string) bool { return n == "1900" || n == "+18005550100" }
	for user, want := range map[string]Dialled{
		"1900":         {Kind: DialHotline},
		"+18005550100": {Kind: DialHotline},
		"*21":          {Kind: DialFeature, Code: "*21"},
		"*24":          {Kind: DialFeature, Code: "*24"},
		"*31bob#":      {Kind: DialMonitor, Code: "*31", Agent: "bob"},
		"*31bob%23":    {Kind: DialMonitor, Code: "*31", Agent: "bob"},
		"bob":          {Kind: DialAgent, Agent: "bob"},
		"2001":         {Kind: DialQueue, Queue: "complaints"},
		"2999":         {Kind: DialUnknown},
		"*99":          {Kind: DialUnknown},
		"+84901234567": {Kind: DialUnknown}, // Hotline is no outside line for its callers
	} {
		got := tr.Dial(user, isHotline)
		if got != want {
			t.Errorf("Dial(%q) = %+v, want %+v", user, got, want)
		}
		if internal := want.Kind != DialHotline && want.Kind != DialUnknown; got.Internal() != internal {
			t.Errorf("Dial(%q).Internal() = %v", user, got.Internal())
		}
	}
}

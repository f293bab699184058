package e2e

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
)

// Scenario is a SIPp scenario: generated XML, or (XML empty) the name of a
// scenario embedded in SIPp ("uac", "uas", "uac_pcap", "regexp", ...).
type Scenario struct {
	Name string
	XML  string
}

// Builtin names a scenario embedded in SIPp (-sn).
func Builtin(name string) Scenario { return Scenario{Name: name} }

// WithMediaPort returns the scenario with the SDP media port fixed to port
// instead of SIPp's own -mp port ([media_port]): point it at a UDPRecorder
// to capture (and send) the RTP of a SIPp-signalled call. SIPp's
// play_pcap_audio still sends from -mp.
func (s Scenario) WithMediaPort(port int) Scenario {
	s.XML = strings.ReplaceAll(s.XML, "[media_port]", strconv.Itoa(port))
	return s
}

// SDP bodies for the UAC builders. [media_ip]/[media_port] are SIPp's -mi
// and -mp (see Scenario.WithMediaPort).
const (
	// SDPOfferPCMU offers PCMU and telephone-event.
	SDPOfferPCMU = "v=0\n" +
		"o=sipp 1 1 IN IP[media_ip_type] [media_ip]\n" +
		"s=-\n" +
		"c=IN IP[media_ip_type] [media_ip]\n" +
		"t=0 0\n" +
		"m=audio [media_port] RTP/AVP 0 101\n" +
		"a=rtpmap:0 PCMU/8000\n" +
		"a=rtpmap:101 telephone-event/8000\n" +
		"a=fmtp:101 0-16\n" +
		"a=ptime:20\n" +
		"a=sendrecv\n"
	// SDPOfferG729 offers only G.729, which a G.711-only server cannot
	// accept (488 expected).
	SDPOfferG729 = "v=0\n" +
		"o=sipp 1 1 IN IP[media_ip_type] [media_ip]\n" +
		"s=-\n" +
		"c=IN IP[media_ip_type] [media_ip]\n" +
		"t=0 0\n" +
		"m=audio [media_port] RTP/AVP 18\n" +
		"a=rtpmap:18 G729/8000\n" +
		"a=fmtp:18 annexb=no\n" +
		"a=sendrecv\n"
	// SDPMalformed is a body labelled application/sdp that is not SDP
	// (400 expected).
	SDPMalformed = "v=0\n" +
		"o=broken\n" +
		"this line is not sdp\n" +
		"m=audio not-a-port RTP/AVP zero\n"
	// SDPAnswerPCMU is the answer of the UAS builders (PCMU and
	// telephone-event).
	SDPAnswerPCMU = SDPOfferPCMU
)

// scenario assembles SIPp XML, tracking message indexes for [branch-N].
type scenario struct {
	name string
	sb   strings.Builder
	n    int // index of the next message element
}

func newScenario(name string) *scenario {
	s := &scenario{name: name}
	s.sb.WriteString("<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n")
	s.sb.WriteString("<!DOCTYPE scenario SYSTEM \"sipp.dtd\">\n")
	fmt.Fprintf(&s.sb, "<scenario name=%q>\n", name)
	return s
}

// send adds a <send> and returns its message index.
func (s *scenario) send(attrs, msg string) int {
	fmt.Fprintf(&s.sb, "  <send%s><![CDATA[\n%s\n]]></send>\n", attrs, strings.TrimRight(msg, "\n")+"\n")
	s.n++
	return s.n - 1
}

func (s *scenario) elem(xml string) int {
	s.sb.WriteString("  " + xml + "\n")
	s.n++
	return s.n - 1
}

func (s *scenario) recvResponse(code int, attrs string) int {
	return s.elem(fmt.Sprintf("<recv response=\"%d\"%s/>", code, attrs))
}

func (s *scenario) pause(d time.Duration) int {
	return s.elem(fmt.Sprintf("<pause milliseconds=\"%d\"/>", d.Milliseconds()))
}

func (s *scenario) playPCAP(path string) int {
	return s.elem(fmt.Sprintf("<nop><action><exec play_pcap_audio=\"%s\"/></action></nop>", html.EscapeString(path)))
}

// label is not a message: it does not take an index.
func (s *scenario) label(id string) {
	fmt.Fprintf(&s.sb, "  <label id=%q/>\n", id)
}

// branchOf is the [branch-N] keyword that reuses the branch of message idx
// from the message about to be added.
func (s *scenario) branchOf(idx int) string {
	if d := s.n - idx; d > 0 {
		return fmt.Sprintf("[branch-%d]", d)
	}
	return "[branch]"
}

func (s *scenario) build() Scenario {
	s.sb.WriteString("  <ResponseTimeRepartition value=\"10, 20, 30, 40, 50, 100, 150, 200\"/>\n")
	s.sb.WriteString("  <CallLengthRepartition value=\"10, 50, 100, 500, 1000, 5000, 10000\"/>\n")
	s.sb.WriteString("</scenario>\n")
	return Scenario{Name: s.name, XML: s.sb.String()}
}

// UAC message parts. [caller] is a -key set by StartSIPp.
const (
	uacRURI = "sip:[service]@[remote_ip]:[remote_port]"
	uacFrom = "From: \"[caller]\" <sip:[caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]"
	uacTo   = "To: <sip:[service]@[remote_ip]:[remote_port]>"
	contact = "Contact: <sip:[caller]@[local_ip]:[local_port];transport=[transport]>"
)

func uacInvite(sdp string) string {
	return "INVITE " + uacRURI + " SIP/2.0\n" +
		"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n" +
		uacFrom + "\n" + uacTo + "\n" +
		"Call-ID: [call_id]\n" +
		"CSeq: 1 INVITE\n" +
		contact + "\n" +
		"Max-Forwards: 70\n" +
		"User-Agent: hotline-e2e SIPp\n" +
		"Content-Type: application/sdp\n" +
		"Content-Length: [len]\n" +
		"\n" + sdp
}

// uacInDialog is an in-dialog request after a 2xx (rrs="true" on it).
func uacInDialog(method string, cseq int) string {
	return method + " [next_url] SIP/2.0\n" +
		"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n" +
		"[routes]\n" +
		uacFrom + "\n" +
		"[last_To:]\n" +
		"Call-ID: [call_id]\n" +
		fmt.Sprintf("CSeq: %d %s\n", cseq, method) +
		contact + "\n" +
		"Max-Forwards: 70\n" +
		"Content-Length: 0\n"
}

// uacNon2xxAck acknowledges a final error response to the INVITE at index
// invite (same branch, as RFC 3261 17.1.1.3 wants).
func (s *scenario) uacNon2xxAck(invite int) int {
	return s.send("", "ACK "+uacRURI+" SIP/2.0\n"+
		"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch="+s.branchOf(invite)+"\n"+
		uacFrom+"\n"+
		"[last_To:]\n"+
		"Call-ID: [call_id]\n"+
		"CSeq: 1 ACK\n"+
		"Max-Forwards: 70\n"+
		"Content-Length: 0\n")
}

func (s *scenario) uacProvisionals(optional string) {
	for _, c := range []int{100, 180, 183} {
		s.recvResponse(c, fmt.Sprintf(" optional=%q", optional))
	}
}

// uacEstablish sends the INVITE, accepts 100/180/183 and a 200, sends the
// ACK.
func (s *scenario) uacEstablish(sdp string) {
	s.send(` retrans="500"`, uacInvite(sdp))
	s.uacProvisionals("true")
	s.recvResponse(200, ` rrs="true" rtd="true"`)
	s.send("", uacInDialog("ACK", 1))
}

func (s *scenario) uacBye() {
	s.send(` retrans="500"`, uacInDialog("BYE", 2))
	s.recvResponse(200, "")
}

// replyToRequest answers the last received request (BYE, CANCEL...).
func replyToRequest(code int) string {
	return fmt.Sprintf("SIP/2.0 %d %s\n", code, reasonPhrase(code)) +
		"[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\n" +
		"Content-Length: 0\n"
}

// UACPlayPCAP is a caller that sends an INVITE offering PCMU and
// telephone-event, accepts 100/180/183 then 200, ACKs, replays pcap (e.g.
// from WriteTonePCAP) towards the media address of the answer, waits hold
// (which should cover the pcap duration: the replay runs in the
// background), sends BYE and expects 200. pcap "" sends no audio.
func UACPlayPCAP(pcap string, hold time.Duration) Scenario {
	s := newScenario("uac_play_pcap")
	s.uacEstablish(SDPOfferPCMU)
	if pcap != "" {
		s.playPCAP(pcap)
	}
	s.pause(hold)
	s.uacBye()
	return s.build()
}

// UACRemoteBye is a caller whose call is ended by the far end: INVITE,
// 100/180/183, 200, ACK, optionally replays pcap, then waits up to maxWait
// for a BYE (the call fails if none comes) and answers it 200.
func UACRemoteBye(pcap string, maxWait time.Duration) Scenario {
	s := newScenario("uac_remote_bye")
	s.uacEstablish(SDPOfferPCMU)
	if pcap != "" {
		s.playPCAP(pcap)
	}
	s.elem(fmt.Sprintf("<recv request=\"BYE\" timeout=\"%d\"/>", maxWait.Milliseconds()))
	s.send("", replyToRequest(200))
	return s.build()
}

// UACCancelAfter is a caller that gives up: INVITE, then a CANCEL d after
// the INVITE or the last provisional response (100/180/183) if any; it expects the 200 to
// the CANCEL (optional) and 487 to the INVITE, and ACKs the 487.
func UACCancelAfter(d time.Duration) Scenario {
	s := newScenario("uac_cancel")
	inv := s.send(` retrans="500"`, uacInvite(SDPOfferPCMU))
	// A pause would treat a 1xx arriving during it as unexpected, and
	// SIPp refuses optional receptions right before a pause: instead
	// each reception times out after d and jumps to the CANCEL (so the
	// CANCEL leaves d after the last provisional response). The final,
	// mandatory reception never matches: it only times out.
	to := fmt.Sprintf(` timeout="%d" ontimeout="cancel"`, d.Milliseconds())
	for _, c := range []int{100, 180, 183} {
		s.recvResponse(c, ` optional="true"`+to)
	}
	s.elem(`<recv request="UNREACHABLE"` + to + `/>`)
	s.label("cancel")
	s.send(` retrans="500"`, "CANCEL "+uacRURI+" SIP/2.0\n"+
		"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch="+s.branchOf(inv)+"\n"+
		uacFrom+"\n"+uacTo+"\n"+
		"Call-ID: [call_id]\n"+
		"CSeq: 1 CANCEL\n"+
		"Max-Forwards: 70\n"+
		"Content-Length: 0\n")
	s.recvResponse(200, ` optional="true"`)
	s.recvResponse(487, "")
	s.uacNon2xxAck(inv)
	return s.build()
}

// UACExpectStatus is a caller whose INVITE (offering PCMU) must be refused
// with code (e.g. 404, 480, 486, 503): 100/180/183 are accepted before it,
// and the final response is ACKed.
func UACExpectStatus(code int) Scenario {
	return UACExpectStatusSDP(code, SDPOfferPCMU)
}

// UACExpectStatusSDP is UACExpectStatus with the given SDP body.
func UACExpectStatusSDP(code int, sdp string) Scenario {
	s := newScenario(fmt.Sprintf("uac_expect_%d", code))
	inv := s.send(` retrans="500"`, uacInvite(sdp))
	s.uacProvisionals("true")
	s.recvResponse(code, "")
	s.uacNon2xxAck(inv)
	return s.build()
}

// UACBadSDP sends an INVITE whose application/sdp body is malformed and
// expects 400.
func UACBadSDP() Scenario { return UACExpectStatusSDP(400, SDPMalformed) }

// UACNoCommonCodec offers only G.729 and expects 488.
func UACNoCommonCodec() Scenario { return UACExpectStatusSDP(488, SDPOfferG729) }

// UAS message parts: responses to the INVITE use [last_*] of the INVITE.
const uasTag = ";tag=[pid]SIPpTag01[call_number]"

func uasResponse(code int, sdp string) string {
	msg := fmt.Sprintf("SIP/2.0 %d %s\n", code, reasonPhrase(code)) +
		"[last_Via:]\n[last_From:]\n[last_To:]" + uasTag + "\n[last_Call-ID:]\n[last_CSeq:]\n" +
		"[last_Record-Route:]\n" +
		"Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>\n"
	if sdp == "" {
		return msg + "Content-Length: 0\n"
	}
	return msg + "Content-Type: application/sdp\nContent-Length: [len]\n\n" + sdp
}

// recvInvite receives the INVITE; keepDialog keeps its From and To (for a
// BYE), keepCSeq its CSeq number (for a 487). SIPp refuses variables that
// are set but never used, so only what is used is kept.
func (s *scenario) recvInvite(keepDialog, keepCSeq bool) int {
	var actions string
	if keepDialog {
		actions += `<ereg regexp=".*" search_in="hdr" header="From:" assign_to="inv_from"/>` +
			`<ereg regexp=".*" search_in="hdr" header="To:" assign_to="inv_to"/>`
	}
	if keepCSeq {
		actions += `<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>`
	}
	if actions != "" {
		actions = "<action>" + actions + "</action>"
	}
	return s.elem(`<recv request="INVITE" rrs="true">` + actions + `</recv>`)
}

// UASRespond is a callee that refuses every INVITE with code (>= 300) and
// waits for the ACK.
func UASRespond(code int) Scenario {
	s := newScenario(fmt.Sprintf("uas_respond_%d", code))
	s.recvInvite(false, false)
	s.send("", uasResponse(100, ""))
	s.send("", uasResponse(code, ""))
	s.elem(`<recv request="ACK"/>`)
	return s.build()
}

// UASRingNoAnswer is a callee that rings (180) and never answers: it
// expects the caller (or the server under test) to CANCEL, answers 200 to
// the CANCEL and 487 to the INVITE, and waits for the ACK.
func UASRingNoAnswer() Scenario {
	s := newScenario("uas_ring_no_answer")
	s.recvInvite(false, true)
	s.send("", uasResponse(180, ""))
	s.elem(`<recv request="CANCEL"/>`)
	s.send("", replyToRequest(200))
	// The 487 answers the INVITE transaction: the CANCEL carries the
	// INVITE's Via, From, To and Call-ID; its CSeq number was kept.
	s.send("", "SIP/2.0 487 Request Terminated\n"+
		"[last_Via:]\n[last_From:]\n[last_To:]"+uasTag+"\n[last_Call-ID:]\n"+
		"CSeq: [$inv_cseq] INVITE\n"+
		"Content-Length: 0\n")
	s.elem(`<recv request="ACK"/>`)
	return s.build()
}

// UASAnswerOptions configures UASAnswer.
type UASAnswerOptions struct {
	// Ring is how long the callee rings (180) before answering.
	Ring time.Duration
	// PlayPCAP is replayed after the ACK (see WriteTonePCAP).
	PlayPCAP string
	// HangupAfter > 0 makes the callee send BYE that long after the ACK;
	// 0 makes it wait for the caller's BYE (bounded by SIPp's -timeout).
	HangupAfter time.Duration
	// SDP is the answer body (default SDPAnswerPCMU).
	SDP string
}

// UASAnswer is a callee that rings, answers with SDP, and either hangs up
// after o.HangupAfter or waits for the BYE.
func UASAnswer(o UASAnswerOptions) Scenario {
	if o.SDP == "" {
		o.SDP = SDPAnswerPCMU
	}
	s := newScenario("uas_answer")
	s.recvInvite(o.HangupAfter > 0, false)
	s.send("", uasResponse(180, ""))
	if o.Ring > 0 {
		s.pause(o.Ring)
	}
	s.send(` retrans="500"`, uasResponse(200, o.SDP))
	s.elem(`<recv request="ACK" rtd="true" crlf="true"/>`)
	if o.PlayPCAP != "" {
		s.playPCAP(o.PlayPCAP)
	}
	if o.HangupAfter > 0 {
		s.pause(o.HangupAfter)
		s.send(` retrans="500"`, "BYE [next_url] SIP/2.0\n"+
			"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"+
			"[routes]\n"+
			"From: [$inv_to]"+uasTag+"\n"+
			"To: [$inv_from]\n"+
			"Call-ID: [call_id]\n"+
			"CSeq: 101 BYE\n"+
			"Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>\n"+
			"Max-Forwards: 70\n"+
			"Content-Length: 0\n")
		s.recvResponse(200, "")
	} else {
		s.elem(`<recv request="BYE"/>`)
		s.send("", replyToRequest(200))
	}
	return s.build()
}

// reasonPhrase returns the RFC 3261 reason phrase of a status code.
func reasonPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 480:
		return "Temporarily Unavailable"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 603:
		return "Decline"
	}
	return "Status"
}

// UACKeypad is a caller that talks, then answers a survey by keypad:
// INVITE (PCMU and telephone-event), 200, ACK; replays talk (a tone pcap,
// "" for none); waits wait; replays each of keys (RFC 4733 pcaps such as
// /usr/share/sip-tester/dtmf_2833_4.pcap, PT 101) with gap after each;
// then waits up to maxWait for the far end's BYE and answers it.
func UACKeypad(talk string, wait time.Duration, keys []string, gap, maxWait time.Duration) Scenario {
	s := newScenario("uac_keypad")
	s.uacEstablish(SDPOfferPCMU)
	if talk != "" {
		s.playPCAP(talk)
	}
	s.pause(wait)
	for _, k := range keys {
		s.playPCAP(k)
		s.pause(gap)
	}
	s.elem(fmt.Sprintf("<recv request=\"BYE\" timeout=\"%d\"/>", maxWait.Milliseconds()))
	s.send("", replyToRequest(200))
	return s.build()
}

// DTMFPCAP is the path of SIPp's RFC 4733 capture of one key (0-9, "star",
// "pound"), shipped by the Debian package sip-tester.
func DTMFPCAP(key string) string { return "/usr/share/sip-tester/dtmf_2833_" + key + ".pcap" }

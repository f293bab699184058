// Package e2e drives real SIP peers — SIPp 3.6.1, baresip 1.0.0 and
// linphonec 5.1 (StartLinphone, linphone.go) — on
// 127.0.0.1 for end-to-end tests of a SIP server (Hotline). It lives in
// non-test files so that any package's tests can import it. Nothing here
// ever binds or sends to an address other than 127.0.0.1.
//
// # Tools and ports
//
// RequireTool(t, "sipp") / RequireTool(t, "baresip") fail the test (never
// skip) when a program is missing, naming its Debian package (sip-tester,
// baresip-core); `make test` installs them. StartBaresip and StartSIPp call
// it themselves.
//
// FreePort(t, "udp"|"tcp"), FreeUDPTCPPort(t) (SIP listeners bind both),
// FreeRTPPortPair(t) and FreeUDPPortBlock(t, n) pick loopback ports. A port
// found free can still be taken before it is bound; StartBaresip and
// StartSIPp retry with new ports when that happens to ports they chose.
//
// # Audio
//
//	pcap := filepath.Join(t.TempDir(), "caller.pcap")
//	err := e2e.WriteTonePCAP(pcap, 1000, 2*time.Second, e2e.PayloadPCMU)
//
// writes an Ethernet/IPv4/UDP/RTP capture (20 ms packets, consistent
// sequence numbers and timestamps) for SIPp's play_pcap_audio.
// ToneSamples, EncodeG711/DecodeG711, WriteWAV and WriteRTPPCAP build
// other material. To check what a peer heard:
//
//	samples, rate, err := e2e.ReadWAV(path) // 16-bit PCM, A-law or µ-law
//	e2e.DominantTone(samples, rate, []float64{440, 1000}) // 0 if none
//	e2e.ToneLevel(samples, rate, 440)  // ~0.3 for ToneSamples' default level
//	e2e.ActiveDuration(samples, rate)  // non-silent time, 20 ms resolution
//
// # baresip
//
//	agent := e2e.StartBaresip(t, e2e.BaresipOptions{
//		User: "alice", Password: "secret", Registrar: "127.0.0.1:5060",
//		Transport: "udp", ToneHz: 440, Record: true, AutoAnswer: true,
//	})
//	if err := agent.WaitRegistered(ctx); err != nil { t.Fatal(err) }
//	ev, err := agent.WaitEvent(ctx, e2e.EventCallEstablished)
//	...
//	agent.Hangup(ctx)
//	agent.WaitEvent(ctx, e2e.EventCallClosed)
//	samples, _, _ := e2e.ReadWAV(agent.ReceivedWAVs()[0])
//
// StartBaresip writes a config directory in t.TempDir (only g711, ausine,
// aufile, aubridge, [sndfile], account, menu and ctrl_tcp are loaded),
// starts `baresip -f dir -n 127.0.0.1 -t <MaxLifetime>`, connects to
// ctrl_tcp and only then creates the account with the "uanew" command, so
// that no REGISTER_OK is missed. Command(ctx, cmd, params) sends any
// ctrl_tcp command (dial, accept, hangup, quit, reginfo...); Dial, Answer
// and Hangup wrap the usual ones. WaitEvent returns the next matching event
// after the one the previous WaitEvent returned (a cursor); Events and
// HasEvent see the whole history. Stop (also run by t.Cleanup) sends quit
// and kills the process 3 s later if needed; on test failure the tail of
// baresip's log (stdout and stderr, in LogPath) is printed. Kill sends
// SIGKILL at once: a softphone that vanishes mid-call (no BYE, no RTP).
//
// # SIPp
//
//	callee := e2e.StartSIPp(t, e2e.SIPpOptions{Scenario: e2e.UASRespond(486)})
//	// ... route the server under test to callee.Addr() ...
//	res := e2e.RunSIPp(ctx, t, e2e.SIPpOptions{
//		Target: "127.0.0.1:5060", Service: "hotline",
//		Scenario: e2e.UACPlayPCAP(pcap, 3*time.Second), Calls: 5, Rate: 5,
//	})
//	res.RequireCalls(t, 5, 0)
//
// RunSIPp runs SIPp to completion, bounded by -m Calls, -r Rate, -l
// Concurrent and -timeout (with -timeout_error), on -i/-mi 127.0.0.1 and
// free -p/-mp/-cp ports, and reads the cumulative counters of its
// -trace_stat file into SIPpResult.Stats. StartSIPp starts it in the
// background (Wait, Stop, Kill: SIGKILL, a caller that vanishes). Failing
// to start fails the test; call results are only reported: use
// RequireCalls, which prints SIPp's error and message traces on mismatch.
//
// Scenario builders: UACPlayPCAP, UACRemoteBye, UACCancelAfter,
// UACExpectStatus, UACExpectStatusSDP, UACBadSDP (expects 400),
// UACNoCommonCodec (G.729 only, expects 488); UASRespond, UASRingNoAnswer,
// UASAnswer. Builtin("uac") selects a scenario embedded in SIPp. The From
// user of the builders is SIPpOptions.Caller (default "sipp").
//
// To check what a SIPp caller hears, give its SDP the port of a
// UDPRecorder, which records RTP (packet counts, payload types, decoded
// G.711) and sends tones back from the same socket (symmetric RTP):
//
//	rec := e2e.NewUDPRecorder(t)
//	p := e2e.StartSIPp(t, e2e.SIPpOptions{Target: hotline, Service: "hotline",
//		Scenario: e2e.UACPlayPCAP("", 5*time.Second).WithMediaPort(rec.Port())})
//	rec.WaitPackets(ctx, 10)
//	rec.SendTone(ctx, netip.AddrPort{}, 1000, 2*time.Second, e2e.PayloadPCMU)
//	res, _ := p.Wait(ctx)
//	e2e.DominantTone(rec.Samples(), 8000, []float64{440, 1000})
//
// # Quirks found in baresip 1.0.0
//
//   - Flags: -f config dir, -n 127.0.0.1 (an IP works; the interface name
//     "lo" fails with "could not get network address"), -t seconds before
//     quitting, -s SIP trace, -e command at start, -v verbose.
//   - ausine only produces 48 kHz stereo (ausrc_srate 48000,
//     ausrc_channels 2 are required; baresip resamples to 8 kHz). The
//     frequency is the device: "audio_source ausine,440" (10..20000 Hz).
//     Its level is high: ToneLevel ≈ 0.43–0.5.
//   - aufile is only a source in 1.0.0 (no player). Its file must match
//     ausrc_srate/ausrc_channels, and its end of file raises AUDIO_ERROR
//     "end of file" which CLOSES THE CALL (baresip sends BYE).
//   - Recording received audio needs the sndfile filter: snd_path <dir>
//     gets dump-YYYY-MM-DD-hh-mm-ss-dec.wav (received) and -enc.wav (sent),
//     8 kHz mono 16-bit, named by the call's start second.
//   - A player is needed: "aubridge,<unique name>" acts as a null sink.
//     Without an audio source (an unpaired aubridge device) baresip sends
//     no RTP at all.
//   - ctrl_tcp: netstrings "len:{json},". Commands
//     {"command":"dial","params":"sip:...","token":"t1"} get
//     {"response":true,"ok":true,"data":"...","token":"t1"}; events are
//     {"event":true,"type":"CALL_ESTABLISHED","class":"call",
//     "accountaor":...,"direction":"incoming|outgoing","peeruri":...,
//     "id":<call id>,"param":...}. Types seen in these tests: REGISTERING,
//     REGISTER_OK (param "200 OK"), CALL_INCOMING, CALL_RINGING,
//     CALL_ESTABLISHED, CALL_RTPESTAB, CALL_RTCP, CALL_LOCAL_SDP and
//     CALL_REMOTE_SDP (class "other"), AUDIO_ERROR, CALL_CLOSED with param
//     "Connection reset by user" (local hangup), "Connection reset by peer"
//     (BYE received) or the final status of a refused call ("486 Busy
//     Here"). REGISTER_FAIL, UNREGISTERING and CALL_PROGRESS also exist.
//   - A call auto-answered with ";answermode=auto" produces NO
//     CALL_INCOMING event (only CALL_ESTABLISHED); with a manual answer
//     mode (AnswerDelay > 0, Reject) CALL_INCOMING comes and the driver
//     answers with "accept" or rejects with "hangup" (486 Busy Here).
//   - Accounts: "<sip:user@registrar;transport=tcp>;auth_pass=..;
//     regint=..;answermode=auto|manual;audio_codecs=PCMU,PCMA;
//     outbound=\"sip:host:port;transport=tcp\"". The digest user is the
//     AOR user; baresip answers 401 with MD5/qop=auth fine.
//   - REGISTER: Request-URI sip:<registrar>, Contact
//     <sip:user-0x55...@127.0.0.1:port>;expires=600 — the Contact user is
//     the AOR user plus a unique suffix, and the expiry is a Contact
//     parameter (no Expires header). On quit baresip unregisters
//     (expires=0, authenticating again).
//   - The log is flooded with "\r[0:00:03] audio=64000/64000 (bit/s)"
//     status lines; LogTail drops them.
//
// # Quirks found in SIPp 3.6.1
//
//   - Exit codes: 0 all calls OK, 1 some failed, 97 internal exit, 99 no
//     call processed, 255 fatal (bad scenario...), 254 cannot bind.
//   - -mp p binds p and p+2 (RTP echo ports, audio and video). SIPp also
//     binds a UDP control port on 0.0.0.0 (-cp, default 8888): the driver
//     passes a free one to each instance.
//   - play_pcap_audio sends through a RAW socket: it needs root (or
//     CAP_NET_RAW on /usr/bin/sipp). It keeps the UDP payload (RTP header
//     included) and rewrites only ports (from -mp, to the SDP media port)
//     and checksum; pacing follows the pcap timestamps. Replay is
//     asynchronous: pause at least as long as the capture.
//   - SIPp records nothing it receives (-rtp_echo only echoes), hence
//     UDPRecorder.
//   - -trace_stat/-stf file: ';'-separated, last row holds cumulative
//     "(C)" columns (SuccessfulCall(C), FailedCall(C), ...), written on
//     exit too. A call is "successful" when its scenario completes, even
//     if that scenario expected a 486.
//   - Scenario rules: a variable set by <ereg> but used only once is a
//     fatal error; optional <recv> right before a <pause> is refused; a
//     1xx arriving during a <pause> is an unexpected message that aborts
//     the call (so UACCancelAfter uses receive timeouts with ontimeout
//     instead of a pause). [branch-N] reuses the branch of the message N
//     elements back (used for CANCEL and non-2xx ACK). An empty
//     [last_Record-Route:] leaves no empty line.
//
// # Quirks found in linphonec 5.1.65 (Debian linphone-cli)
//
//   - It is driven through its standard input (one command a line) and
//     read through its console output, which a pipe buffers fully:
//     StartLinphone runs it under stdbuf -oL. Flags: -c linphonerc, -a
//     auto-answer, -S state messages, -d level -l logfile.
//   - HOME is the test's directory (it writes .linphone-zidcache and
//     .linphonec_history there, never the user's ~/.linphonerc). Without
//     $HOME/.local/share/linphone its database does not open and the core
//     never leaves LinphoneGlobalStartup: no SIP listener, REGISTER fails
//     with "No listening point matching".
//   - [sip] sip_tcp_port/sip_tls_port -1 means a RANDOM port, 0 disabled;
//     bind_address=127.0.0.1 (in [sip] and [rtp]) and use_ipv6=0 keep it
//     off other interfaces (otherwise it binds [::0]).
//   - No sound card: "soundcard use files", then "play file.wav" is what
//     it sends and "record file.wav" where it writes what it receives.
//   - It prints no registration message: "status register" answers
//     "registered, identity=sip:... duration=N" once registered
//     ("registered=-1" before). Calls print "Receiving new incoming call
//     from ...", "Call N with ... connected.", "Call N with ... ended
//     (No error)." after the peer's BYE.
//   - [rtp] nortp_timeout=0 does not turn the no-RTP check off: it hangs
//     up by itself ("ended (IO error)", "Media connectivity ... is lost")
//     when RTP pauses for a few seconds; the driver sets 300 s.
package e2e

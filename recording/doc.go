// Package recording records hotline calls and stores them, losing nothing.
//
// Each call (or call segment) becomes one stereo WAV file, 8 kHz, the
// caller on the left channel and the agent on the right, with both legs
// aligned sample by sample from their RTP timestamps: lost packets become
// silence of the right length, reordered packets are put in place within
// the jitter window, duplicates are ignored, and a new SSRC or a timestamp
// jump (hold, re-INVITE) re-anchors that leg to the packets' arrival time.
// PCMU and PCMA are decoded (each leg may use its own codec); the file is
// 16-bit PCM (default) or G.711 u-law.
//
// Use:
//
//	m, err := recording.New(cfg, recording.Options{Log: logger, Now: clock}) // cfg.SetDefaults/Validate done by New
//	m.Start(ctx)                         // recovers the spool, runs the uploader
//	r, err := m.Begin(recording.CallInfo{CallID: id, Caller: from, Agent: agent, Queue: q})
//	// from each leg's RTP read loop, for every packet (never blocks):
//	r.Packet(recording.Caller, pkt, time.Now())
//	r.Packet(recording.Agent, pkt, time.Now())
//	// when the SDP says so (dynamic payload types, re-INVITE):
//	r.SetFormat(recording.Agent, audio.PCMA().WithPT(96))
//	r.Pause(time.Now(), "card details"); r.Resume(time.Now())
//	r.Finish(time.Now())                 // file complete, queued for upload
//	m.Backlog()                          // upload queue, for metrics and health
//	m.Close()
//
// Recordings are written to a local spool directory first (the WAV header
// is kept valid every second, the file is synced at Finish) together with
// a JSON call record (CallRecord). Begin does not touch the disk: the
// spool file is created on a goroutine of their own (no fsync then: a
// process crash keeps it). Until Finish a recording is that one file, the
// WAV, which carries its call record in a chunk of its own ("hrec", before
// the data; players skip it; SetExtra and SetCSAT rewrite it in place):
// a crash keeps the call's details without a second file. Finish writes
// the final record into the chunk, syncs the WAV, then, for the file
// backend (which links the spooled files into the store), writes the
// record beside it as <name>.json (a torn one is rewritten from the
// WAV's); other backends upload the record from memory or from the chunk.
// An uploader goroutine stores both in the backend (a directory, or an
// S3-compatible bucket through minio-go; the file backend hard-links the
// spooled files into the store when both are on one file system, a batch
// of queued recordings at a time with one fsync of each directory per
// batch), confirms the stored objects (size and CRC-32C; a link: same
// inode and size) and only then deletes the spool copies. Failed uploads are retried with exponential backoff for as
// long as it takes; calls never wait for storage. At Start, every spooled
// recording left by an earlier run is queued, and one cut short by a crash
// is first repaired (RepairWAV) and its call record completed.
package recording

package recording

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"hotline/internal/fsinfo"
)

var (
	// ErrClosed is returned by Manager.Begin after Close.
	ErrClosed = errors.New("recording: manager closed")
	// ErrNoCallID is returned by Manager.Begin for a CallInfo without CallID.
	ErrNoCallID = errors.New("recording: call id required")
	// ErrDuplicateKey is returned by Manager.Begin when a recording in
	// progress already has the same object key (one would overwrite the
	// other): give each segment its own Segment and put {{.Segment}} in
	// the key template.
	ErrDuplicateKey = errors.New("recording: another recording in progress has the same key")
)

// Backlog is the state of the upload queue.
type Backlog struct {
	// Files is the number of finished recordings waiting in the spool
	// (each a WAV and its call record).
	Files int `json:"files"`
	// Bytes is their size on disk.
	Bytes int64 `json:"bytes"`
	// OldestAge is how long the oldest of them has been waiting.
	OldestAge time.Duration `json:"oldest_age"`
	// Recording is the number of recordings in progress.
	Recording int `json:"recording"`
	// Failures counts failed upload attempts since Start.
	Failures uint64 `json:"failures"`
	// ConsecutiveFailures counts failed attempts since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// LastError is the error of the most recent failed attempt ("" if none).
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Uploaded counts recordings stored (and removed from the spool) since Start.
	Uploaded uint64 `json:"uploaded"`
	// DroppedPackets counts RTP packets the recorders of this manager
	// dropped (their audio is silence in the recordings; see
	// Stats.Dropped in each call record) because the mixing goroutine was
	// too far behind. It should stay 0.
	DroppedPackets uint64 `json:"dropped_packets"`
}

type pending struct {
	base   string // spool path without extension
	queued time.Time
	bytes  int64
	// rec is the call record Finish spooled (nil: read it from the
	// spool). The spool file is not written again after Finish.
	rec *CallRecord
	// unsynced: Finish left the spool files unsynced (deferSync); the
	// uploader syncs them before it stores them.
	unsynced bool
}

// Manager records calls to the spool directory and uploads finished
// recordings to the backend in the background, retrying with exponential
// backoff for as long as it takes; a spool file is deleted only once the
// stored copy is confirmed. Storage problems never affect calls.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time // dates recordings (Options.Now)
	backend Backend
	keys    keyTemplate

	mu          sync.Mutex
	active      map[string]*Recorder // by spool base
	activeKeys  map[string]bool      // the active recordings' object keys
	onUpload    func(time.Duration)  // told how long each successful upload took
	recent      map[string]string    // call id -> key, recordings begun by this process
	recentOrder []string             // call ids in the order begun, to bound recent
	queue       []*pending
	queued      map[string]bool
	failures    uint64
	consecutive int
	uploaded    uint64
	lastErr     string
	lastErrAt   time.Time
	started     bool
	closed      bool
	cancel      context.CancelFunc

	kick     chan struct{}
	wg       sync.WaitGroup
	prepared bool // uploader goroutine only
	retained bool // uploader goroutine only

	// The mixing goroutine runs while recordings are in progress.
	mixers  []*Recorder // recordings it serves; guarded by mu
	mixing  bool        // it runs; guarded by mu
	mixKick chan struct{}
	mixWG   sync.WaitGroup
	drops   dropTally // packets dropped by all recorders

	// spoolSync syncs the spool directory: the Finishes (call records
	// renamed into place) and the uploader (spool files removed) of many
	// calls share each fsync.
	spoolSync *dirSync
	// spoolFD is the spool directory, open for syncSpool; syncFS syncs
	// its file system (fsinfo.SyncFS; tests count the calls).
	spoolFD *os.File
	syncFS  func(*os.File) error
	// bufs keeps the large buffers of finished recordings for new ones.
	bufs *bufferPool
}

// Options are a Manager's collaborators.
type Options struct {
	// Log receives the manager's logs (component=recording is added);
	// nil discards them.
	Log *slog.Logger
	// Now is the clock that dates a recording begun without a start
	// (its call record's times, its object key and its spool file name);
	// nil means time.Now. The audio itself is placed by the packets'
	// arrival on the real clock, whatever Now says.
	Now func() time.Time
}

// New returns a Manager for c (defaults are filled in and c is validated)
// with the backend c selects. It creates the spool directory but contacts
// no server; call Start to recover the spool and run the uploader.
func New(c Config, o Options) (*Manager, error) {
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("recording config: %w", err)
	}
	b, err := newBackend(c)
	if err != nil {
		return nil, err
	}
	return NewWithBackend(c, b, o)
}

// NewWithBackend is New with a backend of the caller's choosing (c's
// backend section is ignored).
func NewWithBackend(c Config, b Backend, o Options) (*Manager, error) {
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("recording config: %w", err)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	kt, err := parseKeyTemplate(c.KeyTemplate)
	if err != nil {
		return nil, fmt.Errorf("recording config: key_template: %w", err)
	}
	if err := os.MkdirAll(c.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("recording spool: %w", err)
	}
	return &Manager{
		cfg:        c,
		log:        log.With("component", "recording"),
		now:        now,
		backend:    b,
		keys:       kt,
		active:     map[string]*Recorder{},
		activeKeys: map[string]bool{},
		recent:     map[string]string{},
		queued:     map[string]bool{},
		kick:       make(chan struct{}, 1),
		mixKick:    make(chan struct{}, 1),
		spoolSync:  newDirSync(c.SpoolDir),
		syncFS:     fsinfo.SyncFS,
		bufs:       newBufferPool(c.Format, windowFrames(c.JitterWindow)),
	}, nil
}

// OnUpload registers f to be told how long each successful upload (of a
// recording and its call record) took.
func (m *Manager) OnUpload(f func(time.Duration)) {
	m.mu.Lock()
	m.onUpload = f
	m.mu.Unlock()
}

// Backend returns the store recordings are uploaded to, for retrieval
// (Open, URL).
func (m *Manager) Backend() Backend { return m.backend }

// URL returns where a stored recording (or call record) can be fetched:
// a pre-signed GET URL valid for s3.presign_expiry, or a file:// URL.
func (m *Manager) URL(ctx context.Context, key string) (string, error) {
	return m.backend.URL(ctx, key, m.cfg.S3.PresignExpiry)
}

// Start recovers the spool directory (recordings left by an earlier run,
// including ones cut short by a crash, are repaired and queued) and starts
// the uploader and, for the file backend with a retention, the sweeper.
// They run until ctx ends or Close.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.started {
		m.mu.Unlock()
		return errors.New("recording: manager already started")
	}
	m.started = true
	ctx, m.cancel = context.WithCancel(ctx)
	m.mu.Unlock()

	if err := m.recover(); err != nil {
		m.log.Error("spool recovery incomplete", "err", err)
	}
	m.warnNoJournal()
	if fsinfo.CanSyncFS && m.linksRecords() {
		// Open now, not at the first sync: syncfs then reports every
		// write-back error since the start, and the descriptor is part
		// of what Hotline holds open from the start. On failure the
		// first sync tries again.
		_ = m.openSpool()
	}
	m.wg.Add(1)
	go m.uploader(ctx)
	if m.cfg.Backend == BackendFile && m.cfg.Retention > 0 {
		m.wg.Add(1)
		go m.sweeper(ctx)
	}
	return nil
}

// warnNoJournal warns, once per directory, when the spool or the file
// store is on an ext4 without a journal (fsinfo.NoJournalNote): every
// recording creates files there, and the store's retention deletes them.
func (m *Manager) warnNoJournal() {
	dirs := []string{m.cfg.SpoolDir}
	if m.cfg.Backend == BackendFile && m.cfg.File.Dir != m.cfg.SpoolDir {
		dirs = append(dirs, m.cfg.File.Dir)
	}
	for _, d := range dirs {
		if fsinfo.JournallessExt4(d) {
			m.log.Warn("recordings are kept on "+fsinfo.NoJournalNote, "dir", d)
		}
	}
}

// Begin starts recording a call. It returns at once: the spool files
// (the WAV and its call record) are created on a goroutine of their own,
// off the caller's path (a call's setup must not wait for the spool
// disk); packets handed to the recorder meanwhile wait in its hand-off
// buffer. Frame 0 of the recording is info.Start; when zero, it is the
// real time of this call (packets, pauses and Finish are on the real
// clock), and the recording is dated by the manager's clock (Options.Now).
// If the files cannot be created the failure is logged, the recorder
// ignores packets and Finish returns the error.
func (m *Manager) Begin(info CallInfo) (*Recorder, error) {
	if info.CallID == "" {
		return nil, ErrNoCallID
	}
	origin := info.Start
	if info.Start.IsZero() {
		origin, info.Start = time.Now(), m.now()
	}
	key, err := m.keys.key(info)
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	id := keySafe(info.CallID)
	if len(id) > 64 {
		id = id[:64]
	}
	base := filepath.Join(m.cfg.SpoolDir, fmt.Sprintf("%s-%s-%s",
		info.Start.UTC().Format("20060102T150405Z"), id, hex.EncodeToString(rnd[:])))
	r := &Recorder{
		info:      info,
		origin:    origin,
		key:       key,
		base:      base,
		format:    m.cfg.Format,
		log:       m.log,
		done:      m.finished,
		drops:     &m.drops,
		spoolSync: m.spoolSync,
		pool:      m.bufs,
		jsonFile:  m.linksRecords(),
		deferSync: fsinfo.CanSyncFS && m.linksRecords(),
		maxIn:     m.cfg.QueuePackets,
		ready:     make(chan struct{}),
	}
	r.codecs.Store(defaultCodecs())
	// The buffers of a finished recording, if the manager keeps one: the
	// hand-off buffers now (packets may come before the files exist),
	// the WAV's and the mixer's for create. If the files cannot be
	// created they are left to the garbage collector.
	r.bufs = m.bufs.get()
	r.in, r.spare = r.bufs.in, r.bufs.spare
	r.bufs.in, r.bufs.spare = nil, nil // r owns them until Finish gives them back

	// Registered before its files exist, so that recovery never takes a
	// live recording for a crashed one.
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.bufs.put(r.giveBack()) // unused
		return nil, ErrClosed
	}
	if m.activeKeys[key] {
		m.mu.Unlock()
		m.bufs.put(r.giveBack()) // unused
		return nil, fmt.Errorf("%w: %s", ErrDuplicateKey, key)
	}
	m.active[base] = r
	m.activeKeys[key] = true
	m.remember(info.CallID, key)
	m.mu.Unlock()
	go m.create(r)
	return r, nil
}

// create creates r's spool file, the WAV, which carries the call record
// in a chunk of its own (wavWriter), and hands r to the mixing goroutine;
// r.ready is closed when it is done, whatever the outcome. One file per
// recording until Finish (creating files is most of a recording's CPU):
// the record is not synced (a process crash keeps what the page cache
// holds, and recovery rebuilds a record it cannot read from the WAV's
// name and length). Finish writes the final record into the chunk, syncs
// the WAV, then writes the .json beside it and syncs it and the
// directory; with the file backend on Linux it leaves those syncs to the
// uploader, which makes a batch of finished recordings durable with one
// syncfs before it links them into the store. A record too big for the
// chunk goes to a .json of its own from the start (sideRecord), written
// as before the chunk existed.
func (m *Manager) create(r *Recorder) {
	defer close(r.ready)
	base := r.base
	fail := func(err error) {
		r.openErr = fmt.Errorf("recording %s: %w", r.info.CallID, err)
		r.finished.Store(true) // packets are ignored from here on
		m.mu.Lock()
		delete(m.active, base)
		delete(m.activeKeys, r.key)
		m.mu.Unlock()
		os.Remove(base + ".wav")
		os.Remove(base + ".json")
		m.log.Error("recording not started; the call goes on unrecorded", "call_id", r.info.CallID, "error", err)
	}
	// The buffers Begin took (left to the garbage collector on a failure).
	bufs := r.bufs
	r.mu.Lock() // a SetExtra meanwhile writes its record before or after this one
	rec := r.recordLocked()
	b, err := encodeRecord(rec)
	var w *wavWriter
	if err == nil {
		w, err = createWAV(base+".wav", m.cfg.Format, true, b, bufs.wav)
		if errors.Is(err, errRecordTooBig) {
			r.sideRecord = true
			if err = createRecord(base+".json", rec); err != nil {
				w.f.Close()
			}
		}
	}
	if err == nil {
		r.recw = w
	}
	r.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	r.wmu.Lock()
	r.wav = w
	r.mix = newMixer(m.cfg.JitterWindow, r.codecs.Load, w, r, &r.st, bufs.mix)
	bufs.wav, bufs.mix = nil, nil // w and r.mix own them until Finish gives them back
	r.lastFlush = time.Now()
	r.wmu.Unlock()
	m.mu.Lock()
	r.mixIdx = len(m.mixers)
	m.mixers = append(m.mixers, r)
	if !m.mixing {
		m.mixing = true
		m.mixWG.Add(1)
		go m.mixLoop()
	}
	m.mu.Unlock()
	m.log.Debug("recording started", "call_id", r.info.CallID, "key", r.key, "spool", base+".wav")
}

// linksRecords tells whether the backend stores a spooled call record by
// linking its file (the file backend): Finish then writes it beside the
// WAV. Other backends upload it from memory (or from the WAV's record
// chunk), so the spool holds one file per recording.
func (m *Manager) linksRecords() bool {
	_, ok := m.backend.(*FileBackend)
	return ok
}

// finished is called by Recorder.Finish: the recording joins the upload queue.
func (m *Manager) finished(r *Recorder) {
	m.mu.Lock()
	delete(m.active, r.base)
	delete(m.activeKeys, r.key)
	if i := r.mixIdx; i >= 0 && i < len(m.mixers) && m.mixers[i] == r {
		last := len(m.mixers) - 1
		m.mixers[i] = m.mixers[last]
		m.mixers[i].mixIdx = i
		m.mixers[last] = nil
		m.mixers = m.mixers[:last]
		r.mixIdx = -1
	}
	idle := len(m.mixers) == 0
	m.mu.Unlock()
	if idle {
		select { // let the mixing goroutine see it has nothing left to do
		case m.mixKick <- struct{}{}:
		default:
		}
	}
	m.enqueueRecord(r.base, time.Now(), r.final, r.unsynced)
}

// mixInterval is how often the mixing goroutine takes each recording's
// handed-off packets; flushInterval how often it writes each recording's
// buffered audio to its file and updates the WAV header.
const (
	mixInterval   = 50 * time.Millisecond
	flushInterval = time.Second
)

// mixLoop is the mixing goroutine: every mixInterval it places the packets
// handed off to each recording in progress. One goroutine serves every
// recording, so a packet never wakes a goroutine of its own (the work per
// packet is small; a recording of a call is about 100 packets a second).
// It exits when no recording is in progress; the next recording's
// create starts it again.
func (m *Manager) mixLoop() {
	defer m.mixWG.Done()
	t := time.NewTicker(mixInterval)
	defer t.Stop()
	var batch []*Recorder
	for {
		select {
		case <-t.C:
		case <-m.mixKick:
		}
		m.mu.Lock()
		if len(m.mixers) == 0 {
			m.mixing = false
			m.mu.Unlock()
			m.drops.tell(m.log, time.Now(), true)
			return
		}
		batch = append(batch[:0], m.mixers...)
		m.mu.Unlock()
		now := time.Now()
		drainAll(batch, now)
		clear(batch)
		m.drops.tell(m.log, now, false)
	}
}

// drainAll gives every recording of batch its turn, on up to one worker
// per CPU: a file write that blocks (disk busy) or a busy scheduler then
// holds up only the recordings of one worker, not every call's.
func drainAll(batch []*Recorder, now time.Time) {
	workers := min(runtime.GOMAXPROCS(0), (len(batch)+drainShare-1)/drainShare)
	if workers <= 1 {
		for _, r := range batch {
			r.drain(now)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(batch)); i = next.Add(1) - 1 {
				batch[i].drain(now)
			}
		})
	}
	wg.Wait()
}

// drainShare is the number of recordings one drain worker is worth.
const drainShare = 64

func (m *Manager) enqueue(base string, at time.Time) {
	m.enqueueRecord(base, at, nil, false)
}

// enqueueRecord queues base for upload; rec, if not nil, is its call
// record as spooled, which the uploader then need not read back, and
// unsynced says Finish left its spool files for the uploader to sync.
func (m *Manager) enqueueRecord(base string, at time.Time, rec *CallRecord, unsynced bool) {
	var size int64
	for _, ext := range []string{".wav", ".json"} {
		if st, err := os.Stat(base + ext); err == nil {
			size += st.Size()
		}
	}
	m.mu.Lock()
	if !m.queued[base] {
		m.queued[base] = true
		if len(m.queue) >= maxHeldRecords {
			rec = nil // a long backlog (store down) is not held in memory
		}
		m.queue = append(m.queue, &pending{base: base, queued: at, bytes: size, rec: rec, unsynced: unsynced})
	}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// maxHeldRecords is the length of the upload queue from which the call
// records of newly finished recordings are no longer kept in memory for
// the uploader (it reads them from the spool instead).
const maxHeldRecords = 1024

// Backlog returns the state of the upload queue.
func (m *Manager) Backlog() Backlog {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := Backlog{
		Files:               len(m.queue),
		Recording:           len(m.active),
		Failures:            m.failures,
		ConsecutiveFailures: m.consecutive,
		LastError:           m.lastErr,
		LastErrorAt:         m.lastErrAt,
		Uploaded:            m.uploaded,
		DroppedPackets:      m.drops.total.Load(),
	}
	var oldest time.Time
	for _, p := range m.queue {
		b.Bytes += p.bytes
		if oldest.IsZero() || p.queued.Before(oldest) {
			oldest = p.queued
		}
	}
	if !oldest.IsZero() {
		b.OldestAge = time.Since(oldest)
	}
	return b
}

// Close finishes recordings still in progress (at the current time, so
// their files are complete in the spool), then stops the uploader. What is
// not uploaded yet stays in the spool for the next Start.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var live []*Recorder
	for _, r := range m.active {
		live = append(live, r)
	}
	cancel := m.cancel
	m.mu.Unlock()

	var errs []error
	now := time.Now()
	for _, r := range live {
		if err := r.Finish(now); err != nil && !errors.Is(err, ErrFinished) {
			errs = append(errs, err)
		}
	}
	if cancel != nil {
		cancel()
	}
	m.wg.Wait()
	m.mixWG.Wait() // it exits once the recordings above are finished
	if m.deferredLeft() {
		// Finished recordings the uploader did not store: on disk before
		// the process ends, as if Finish had synced them.
		if err := m.syncSpool(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.spoolFD != nil {
		m.spoolFD.Close()
		m.spoolFD = nil
	}
	return errors.Join(errs...)
}

// deferredLeft reports whether the upload queue holds a recording whose
// spool files Finish left unsynced.
func (m *Manager) deferredLeft() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.queue {
		if p.unsynced {
			return true
		}
	}
	return false
}

// recover queues every recording found in the spool that this process is
// not handling: finished ones as they are, ones cut short by a crash
// (call record without end, or no call record) after repairing the WAV
// and completing the call record.
func (m *Manager) recover() error {
	entries, err := os.ReadDir(m.cfg.SpoolDir)
	if err != nil {
		return err
	}
	bases := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, ".json.tmp") {
			os.Remove(filepath.Join(m.cfg.SpoolDir, name))
			continue
		}
		if ext := filepath.Ext(name); ext == ".wav" || ext == ".json" {
			bases[filepath.Join(m.cfg.SpoolDir, strings.TrimSuffix(name, ext))] = true
		}
	}
	var todo []string
	m.mu.Lock()
	for b := range bases {
		if m.active[b] == nil && !m.queued[b] {
			todo = append(todo, b)
		}
	}
	m.mu.Unlock()
	sort.Strings(todo) // names start with the start time: oldest first
	var errs []error
	for _, b := range todo {
		at := time.Now()
		if err := m.recoverOne(b); err != nil {
			errs = append(errs, err)
		}
		if st, err := os.Stat(b + ".json"); err == nil {
			at = st.ModTime()
		}
		m.enqueue(b, at)
	}
	if len(todo) > 0 {
		m.log.Info("spooled recordings queued for upload", "count", len(todo))
	}
	return errors.Join(errs...)
}

// recoverOne makes base's call record complete, repairing the WAV first
// when the recording was cut short. The record is the .json's when it is
// complete, else the one the WAV carries (in progress, or finished but
// the .json torn or missing), else one rebuilt from the spool name.
func (m *Manager) recoverOne(base string) error {
	rec, rerr := readRecord(base + ".json")
	if rerr == nil && !rec.End.IsZero() {
		return nil // finished normally, not uploaded yet
	}
	if rerr != nil {
		if wrec, err := readWAVRecord(base + ".wav"); err == nil {
			rec, rerr = wrec, nil
		}
	}
	info, werr := RepairWAV(base + ".wav")
	if rerr == nil && !rec.End.IsZero() && werr == nil && info.Frames == rec.Frames {
		// Finished (the WAV synced with its final record) but the .json
		// beside it was not written in full: write it from the WAV's.
		m.log.Info("call record rewritten from its recording", "call_id", rec.CallID, "key", rec.Key)
		if err := writeRecord(base+".json", rec, m.spoolSync); err != nil {
			return fmt.Errorf("recover %s: %w", base, err)
		}
		return nil
	}
	if werr != nil {
		if errors.Is(werr, fs.ErrNotExist) && rerr == nil {
			werr = nil // crashed before the WAV was created: the record alone
		} else {
			m.log.Warn("spooled recording cannot be repaired; uploading it as it is", "file", base+".wav", "err", werr)
		}
	}
	if rerr != nil {
		// No usable call record: rebuild one from what the file tells.
		name := filepath.Base(base)
		start := m.now().Add(-time.Duration(info.Duration() * float64(time.Second)))
		if st, err := os.Stat(base + ".wav"); err == nil {
			start = st.ModTime().Add(-time.Duration(info.Duration() * float64(time.Second)))
		}
		if t, err := time.Parse("20060102T150405Z", strings.SplitN(name, "-", 2)[0]); err == nil {
			start = t
		}
		// Spool names are <start>-<call id>-<8 hex digits>.
		callID := name
		if i := strings.IndexByte(callID, '-'); i >= 0 {
			callID = callID[i+1:]
		}
		if i := strings.LastIndexByte(callID, '-'); i > 0 {
			callID = callID[:i]
		}
		key, err := m.keys.key(CallInfo{CallID: callID, Start: start})
		if err != nil {
			key = "recovered/" + name + ".wav"
		}
		rec = CallRecord{CallID: callID, Start: start.UTC(), Key: key, Format: info.Format,
			SampleRate: SampleRate, Channels: []string{Caller.String(), Agent.String()}}
	}
	rec.Frames = info.Frames
	rec.DurationSeconds = info.Duration()
	rec.End = rec.Start.Add(time.Duration(info.Frames) * (time.Second / SampleRate))
	rec.Recovered = true
	if rec.Extra == nil {
		rec.Extra = map[string]string{}
	}
	if werr != nil {
		rec.Extra["repair_error"] = werr.Error()
	}
	m.log.Info("recovered recording cut short", "call_id", rec.CallID, "key", rec.Key, "seconds", rec.DurationSeconds)
	if err := writeRecord(base+".json", rec, m.spoolSync); err != nil {
		return fmt.Errorf("recover %s: %w", base, err)
	}
	return nil
}

// uploader uploads queued recordings one at a time, oldest first. After a
// failure it waits (min_backoff doubling up to max_backoff) and moves the
// failed recording to the back of the queue.
func (m *Manager) uploader(ctx context.Context) {
	defer m.wg.Done()
	var began time.Time // the last batch's start
	for {
		m.mu.Lock()
		n := len(m.queue)
		m.mu.Unlock()
		if n == 0 {
			select {
			case <-ctx.Done():
				return
			case <-m.kick:
				continue
			}
		}
		if n < maxBatch && !m.gather(ctx, began) {
			return
		}
		m.mu.Lock()
		batch := slices.Clone(m.queue[:min(len(m.queue), maxBatch)])
		m.mu.Unlock()
		began = time.Now()
		k, err := m.uploadBatch(ctx, batch)
		// batch[:k] are stored and gone from the spool; they were, and
		// still are, the head of the queue (only this goroutine takes
		// from it or reorders it).
		m.mu.Lock()
		m.queue = m.queue[k:]
		for _, p := range batch[:k] {
			delete(m.queued, p.base)
		}
		m.uploaded += uint64(k)
		if k > 0 {
			m.consecutive = 0
		}
		observe := m.onUpload
		m.mu.Unlock()
		if observe != nil {
			d := time.Since(began)
			for range k {
				observe(d)
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue
		}
		p := batch[k]
		m.mu.Lock()
		p.rec = nil // read from the spool when retried: not held through an outage
		m.failures++
		m.consecutive++
		m.lastErr = err.Error()
		m.lastErrAt = time.Now()
		if len(m.queue) > 1 {
			m.queue = append(m.queue[1:], p)
		}
		delay := m.cfg.Upload.MinBackoff
		for i := 1; i < m.consecutive && delay < m.cfg.Upload.MaxBackoff; i++ {
			delay *= 2
		}
		delay = min(delay, m.cfg.Upload.MaxBackoff)
		attempt := m.consecutive
		m.mu.Unlock()
		m.log.Warn("recording upload failed; will retry", "file", p.base+".wav", "attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// gather lets finished recordings queue up for the file backend's next
// batch until recording.upload.batch_wait has passed since the last
// batch began (at once after a quiet spell), or a whole batch (maxBatch)
// waits. Under load the batch's syncfs and directory fsyncs are paid a
// few times a second for all the recordings instead of for each one or
// two. The recordings are in the spool meanwhile (Close leaves them
// there, synced, for the next start). false: ctx ended.
func (m *Manager) gather(ctx context.Context, last time.Time) bool {
	wait := m.cfg.Upload.BatchWait - time.Since(last)
	if _, file := m.backend.(*FileBackend); !file || wait <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		m.mu.Lock()
		n := len(m.queue)
		m.mu.Unlock()
		if n >= maxBatch {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-m.kick:
		}
	}
}

// upload stores p's WAV and call record, confirms both, then deletes them
// from the spool.
func (m *Manager) upload(ctx context.Context, p *pending) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Upload.Timeout)
	defer cancel()
	if !m.prepared {
		if err := m.backend.Prepare(ctx); err != nil {
			return err
		}
		m.prepared = true
		if !m.retained && m.cfg.Retention > 0 && m.cfg.Backend == BackendS3 && m.cfg.S3.SetLifecycle {
			m.retained = true
			if err := m.backend.Retain(ctx, m.keyPrefix(), m.cfg.Retention); err != nil {
				m.log.Warn("cannot set the bucket lifecycle rule for retention", "err", err)
			}
		}
	}
	var rec CallRecord
	var err error
	if p.rec != nil {
		rec = *p.rec
	} else {
		rec, err = readRecord(p.base + ".json")
		if errors.Is(err, fs.ErrNotExist) {
			// Finished by this process without a .json (not the file
			// backend): the synced WAV carries the final record.
			if wrec, werr := readWAVRecord(p.base + ".wav"); werr == nil && !wrec.End.IsZero() {
				rec, err = wrec, nil
			}
		}
	}
	if err != nil {
		if _, serr := os.Stat(p.base + ".wav"); serr != nil {
			if errors.Is(err, fs.ErrNotExist) && errors.Is(serr, fs.ErrNotExist) {
				return nil // nothing left to upload
			}
			return fmt.Errorf("read call record: %w", err)
		}
		// A WAV whose record is missing or unreadable: rebuild the record.
		m.log.Warn("call record unusable; rebuilding it from the recording", "file", p.base+".json", "err", err)
		if err := m.recoverOne(p.base); err != nil {
			return err
		}
		if rec, err = readRecord(p.base + ".json"); err != nil {
			return fmt.Errorf("read call record: %w", err)
		}
	}
	if rec.End.IsZero() {
		// Finished, but its final call record could not be written (e.g.
		// the spool disk was full): repair it like a recording cut short,
		// keeping what the WAV holds. On failure it is retried.
		m.log.Warn("call record incomplete; repairing it from the recording", "file", p.base+".json")
		if err := m.recoverOne(p.base); err != nil {
			return err
		}
		if rec, err = readRecord(p.base + ".json"); err != nil {
			return fmt.Errorf("read call record: %w", err)
		}
	}
	if err := m.store(ctx, p.base, rec, p.rec != nil && !p.unsynced); err != nil {
		return err
	}
	if err := m.unspool(p.base); err != nil {
		return err
	}
	if err := m.spoolSync.sync(); err != nil {
		m.log.Warn("spool directory sync failed", "err", err)
	}
	m.log.Info("recording stored", "call_id", rec.CallID, "key", rec.Key)
	return nil
}

// store stores base's WAV, then its call record rec, and confirms both.
// synced says Finish fsynced both spool files and nothing wrote them since.
func (m *Manager) store(ctx context.Context, base string, rec CallRecord, synced bool) error {
	if fb, ok := m.backend.(*FileBackend); ok {
		linked, err := m.linkBoth(fb, base, rec.Key, synced)
		if err != nil || linked {
			return err
		}
	}
	md := rec.metadata()
	if err := m.putVerified(ctx, base+".wav", rec.Key, "audio/wav", md); err != nil {
		return err
	}
	if _, err := os.Stat(base + ".json"); errors.Is(err, fs.ErrNotExist) {
		// No spooled .json (see linksRecords): the record itself.
		b, err := encodeRecord(rec)
		if err != nil {
			return err
		}
		return m.putChecked(ctx, bytes.NewReader(b), int64(len(b)), crc32.Checksum(b, castagnoli), recordKey(rec.Key), "application/json", md)
	}
	return m.putVerified(ctx, base+".json", recordKey(rec.Key), "application/json", md)
}

// linkBoth links base's WAV, then its call record into the file store
// (linkPair) and then syncs the store directory once for both, before the
// caller removes them from the spool. false means one could not be
// linked: the caller stores both with Put (what was linked already is
// found linked again).
func (m *Manager) linkBoth(fb *FileBackend, base, key string, synced bool) (bool, error) {
	dirs, linked, err := linkPair(fb, base, key, synced, nil)
	if err != nil || !linked {
		return false, err
	}
	for _, d := range dirs {
		if err := syncDir(d); err != nil {
			return false, err
		}
	}
	return true, nil
}

// linkPair links base's WAV, then its call record into the file store
// (FileBackend.linkSpooled: each confirmed as the spool file itself, no
// read, no checksum) and adds the store directories they are in to dirs,
// which the caller must sync before removing them from the spool.
func linkPair(fb *FileBackend, base, key string, synced bool, dirs []string) ([]string, bool, error) {
	for _, f := range [...]struct{ path, key string }{{base + ".wav", key}, {base + ".json", recordKey(key)}} {
		dir, linked, err := fb.linkSpooled(f.path, f.key, synced)
		if err != nil || !linked {
			return dirs, false, err
		}
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
	}
	return dirs, true, nil
}

// maxBatch is the most recordings the uploader links into the file store
// before one fsync of the store directory and one of the spool covers
// them all.
const maxBatch = 64

// maxBatchWait bounds recording.upload.batch_wait.
const maxBatchWait = 5 * time.Second

// uploadBatch stores the recordings of batch (the head of the queue) in
// order and returns how many were stored, and when it stopped short, the
// error of the next one. With the file backend, recordings finished by
// this process (their record in memory) are linked into the store one
// after the other; the store directories are then synced once, their
// spool files removed and the spool directory synced once for all of
// them. The first recording that cannot be linked that way, and every
// recording with the s3 backend, is stored by upload alone.
func (m *Manager) uploadBatch(ctx context.Context, batch []*pending) (int, error) {
	fb, ok := m.backend.(*FileBackend)
	if !ok || !m.prepared {
		if err := m.upload(ctx, batch[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	var dirs []string
	n := 0 // batch[:n] are linked
	var stop error
	fsSynced := m.syncSpoolFS(batch)
	for _, p := range batch {
		if p.rec == nil {
			break
		}
		d, linked, err := linkPair(fb, p.base, p.rec.Key, !p.unsynced || fsSynced, dirs)
		dirs = d
		if err != nil {
			stop = err
			break
		}
		if !linked {
			break
		}
		n++
	}
	if n > 0 {
		for _, d := range dirs {
			if err := syncDir(d); err != nil {
				return 0, err // nothing removed from the spool: all retried
			}
		}
		for i, p := range batch[:n] {
			if err := m.unspool(p.base); err != nil {
				return i, err
			}
		}
		if err := m.spoolSync.sync(); err != nil {
			m.log.Warn("spool directory sync failed", "err", err)
		}
		for _, p := range batch[:n] {
			m.log.Info("recording stored", "call_id", p.rec.CallID, "key", p.rec.Key)
		}
	}
	if stop != nil || n == len(batch) {
		return n, stop
	}
	if err := m.upload(ctx, batch[n]); err != nil {
		return n, err
	}
	return n + 1, nil
}

// syncSpoolFS syncs the spool's file system once (syncfs) if a
// recording the uploader will link from the head of batch was left
// unsynced by Finish, and reports whether that sync succeeded: every
// such recording was finished before batch was taken, so it is on disk
// now. On failure (logged) they are synced one by one as they are
// linked, each reporting its own error.
func (m *Manager) syncSpoolFS(batch []*pending) bool {
	for _, p := range batch {
		if p.rec == nil {
			break
		}
		if p.unsynced {
			err := m.syncSpool()
			if err != nil {
				m.log.Warn("spool file system sync failed; syncing each recording instead", "err", err)
			}
			return err == nil
		}
	}
	return false
}

// syncSpool syncs the spool's file system through a descriptor of the
// spool directory kept open from Start (or the first call: syncfs
// reports the write-back errors since the last call through the same
// descriptor). Only the uploader calls it, and Close once the uploader
// has stopped.
func (m *Manager) syncSpool() error {
	if err := m.openSpool(); err != nil {
		return err
	}
	return m.syncFS(m.spoolFD)
}

// openSpool opens the spool directory for syncSpool, once.
func (m *Manager) openSpool() error {
	if m.spoolFD != nil {
		return nil
	}
	d, err := os.Open(m.cfg.SpoolDir)
	if err != nil {
		return fmt.Errorf("open spool directory: %w", err)
	}
	m.spoolFD = d
	return nil
}

// unspool removes base's spool files, the WAV first: a record left
// behind by a crash here is simply uploaded again.
func (m *Manager) unspool(base string) error {
	for _, ext := range []string{".wav", ".json"} {
		if err := os.Remove(base + ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove spooled %s: %w", ext, err)
		}
	}
	return nil
}

// putVerified uploads the file at path (if it exists) and checks the
// stored object's size and, when the store keeps one, its CRC-32C.
func (m *Manager) putVerified(ctx context.Context, path, key, ctype string, md map[string]string) error {
	sum, size, err := fileCRC32C(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read spooled %s: %w", path, err)
	}
	f, err := openFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("read spooled %s: %w", path, err)
	}
	defer f.Close()
	var body io.Reader = f
	if _, ok := m.backend.(*FileBackend); ok {
		body = spoolFile{f} // it may link the file instead of copying it
	}
	return m.putChecked(ctx, body, size, sum, key, ctype, md)
}

// putChecked uploads size bytes of r, whose CRC-32C is sum, and checks
// the stored object's size and, when the store keeps one, its CRC-32C.
func (m *Manager) putChecked(ctx context.Context, r io.Reader, size int64, sum uint32, key, ctype string, md map[string]string) error {
	err := m.backend.Put(ctx, key, r, size, PutOptions{ContentType: ctype, Metadata: md, CRC32C: sum})
	if err != nil {
		if errors.Is(err, ErrNoBucket) || strings.Contains(err.Error(), "NoSuchBucket") || strings.Contains(err.Error(), "bucket does not exist") {
			m.prepared = false
		}
		return err
	}
	info, err := m.backend.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("confirm %s: %w", key, err)
	}
	if info.Size != size {
		return fmt.Errorf("%w: %s is %d bytes, spool file %d", ErrVerify, key, info.Size, size)
	}
	if info.HasCRC32C && info.CRC32C != sum {
		return fmt.Errorf("%w: %s has CRC-32C %08x, spool file %08x", ErrVerify, key, info.CRC32C, sum)
	}
	return nil
}

// keyPrefix is the fixed start of every key (up to the last "/" before
// the first template action), for lifecycle rules and sweeps.
func (m *Manager) keyPrefix() string {
	t := m.cfg.KeyTemplate
	if i := strings.Index(t, "{{"); i >= 0 {
		t = t[:i]
	}
	if i := strings.LastIndex(t, "/"); i >= 0 {
		return t[:i+1]
	}
	return ""
}

// sweeper applies the retention to the file backend periodically.
func (m *Manager) sweeper(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.cfg.File.SweepInterval)
	defer t.Stop()
	for {
		if err := m.backend.Retain(ctx, m.keyPrefix(), m.cfg.Retention); err != nil && ctx.Err() == nil {
			m.log.Warn("retention sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

package recording

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CallRecord is the JSON sidecar written beside each recording and
// uploaded next to it (same key, .json instead of .wav).
type CallRecord struct {
	CallID  string    `json:"call_id"`
	Caller  string    `json:"caller,omitempty"`
	Agent   string    `json:"agent,omitempty"`
	Queue   string    `json:"queue,omitempty"`
	Segment string    `json:"segment,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Start   time.Time `json:"start"`
	// End is zero while the call is being recorded; a spooled record
	// without End was cut short by a crash.
	End             time.Time         `json:"end,omitzero"`
	DurationSeconds float64           `json:"duration_seconds"`
	Pauses          []PauseInterval   `json:"pauses,omitempty"`
	CSAT            *int              `json:"csat,omitempty"`
	Extra           map[string]string `json:"extra,omitempty"`

	// Key is the object key of the recording.
	Key        string   `json:"key"`
	Format     Format   `json:"format"`
	SampleRate int      `json:"sample_rate"`
	Channels   []string `json:"channels"`
	Frames     int64    `json:"frames"`
	// Recovered is set when the recording was cut short by a crash and
	// repaired at the next start; End is then where the audio stops.
	Recovered bool   `json:"recovered,omitempty"`
	Stats     *Stats `json:"stats,omitempty"`
}

// metadata returns the S3 user metadata for the record's objects. Values
// that are not plain ASCII are RFC 2047 encoded (S3 headers are ASCII).
func (c *CallRecord) metadata() map[string]string {
	md := map[string]string{"call-id": c.CallID, "start": c.Start.UTC().Format(time.RFC3339Nano)}
	add := func(k, v string) {
		if v != "" {
			md[k] = v
		}
	}
	add("caller", c.Caller)
	add("agent", c.Agent)
	add("queue", c.Queue)
	add("segment", c.Segment)
	add("reason", c.Reason)
	if !c.End.IsZero() {
		md["end"] = c.End.UTC().Format(time.RFC3339Nano)
		md["duration"] = strconv.FormatFloat(c.DurationSeconds, 'f', 3, 64)
	}
	if c.CSAT != nil {
		md["csat"] = strconv.Itoa(*c.CSAT)
	}
	if c.Recovered {
		md["recovered"] = "true"
	}
	if c.Stats != nil && c.Stats.Dropped > 0 {
		// Audio is missing (silence) where the recorder could not keep up.
		md["dropped-packets"] = strconv.FormatUint(c.Stats.Dropped, 10)
	}
	for k, v := range md {
		md[k] = mime.QEncoding.Encode("utf-8", v)
	}
	return md
}

// writeRecord writes rec to path atomically and durably: a temporary file
// is synced and renamed over path, then the directory is synced.
//
// The directory is synced through ds, which shares one fsync among the
// records written at the same time; nil syncs it alone.
func writeRecord(path string, rec CallRecord, ds *dirSync) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	err = writeRecordFile(tmp, b, true)
	if err == nil {
		if err = renameFile(tmp, path); err != nil {
			err = fmt.Errorf("write call record: %w", err)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if ds != nil {
		return ds.sync()
	}
	return syncDir(filepath.Dir(path))
}

// createRecord writes the first call record of a recording in progress.
// It is not synced: see Manager.create.
func createRecord(path string, rec CallRecord) error {
	b, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	f, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write call record: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write call record: %w", err)
	}
	return nil
}

// readRecord reads a call record written by writeRecord.
func readRecord(path string) (CallRecord, error) {
	var rec CallRecord
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", path, err)
	}
	return rec, nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	if err := fsyncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// errNoRecordChunk is returned by readWAVRecord for a WAV without a call
// record chunk (written before the chunk existed, or not a spool WAV).
var errNoRecordChunk = errors.New("no call record chunk in the WAV")

// readWAVRecord reads the call record carried in the record chunk of the
// spool WAV at path (see wavWriter).
func readWAVRecord(path string) (CallRecord, error) {
	var rec CallRecord
	f, err := os.Open(path)
	if err != nil {
		return rec, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rec, err
	}
	size := st.Size()
	var head [12]byte
	if _, err := f.ReadAt(head[:], 0); err != nil || string(head[0:4]) != "RIFF" || string(head[8:12]) != "WAVE" {
		return rec, fmt.Errorf("%s: %w", path, ErrNotWAV)
	}
	var ch [8]byte
	for i, off := 0, int64(12); i < 16 && off+8 <= size; i++ {
		if _, err := f.ReadAt(ch[:], off); err != nil {
			return rec, fmt.Errorf("%s: %w", path, err)
		}
		id, n := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		if id == "data" {
			break
		}
		if id == recordChunkID {
			if n > spoolDataOffset || off+8+n > size {
				return rec, fmt.Errorf("%s: %w: record chunk truncated", path, ErrNotWAV)
			}
			b := make([]byte, n)
			if _, err := f.ReadAt(b, off+8); err != nil {
				return rec, fmt.Errorf("%s: %w", path, err)
			}
			if err := json.Unmarshal(b, &rec); err != nil {
				return rec, fmt.Errorf("%s: record chunk: %w", path, err)
			}
			return rec, nil
		}
		off += 8 + n + n%2
	}
	return rec, fmt.Errorf("%s: %w", path, errNoRecordChunk)
}

// ReadSpooledRecord returns the call record of the recording whose spool
// WAV is at wav: its .json beside it once Finish wrote it, otherwise (in
// progress, or cut short by a crash) the one the WAV carries.
func ReadSpooledRecord(wav string) (CallRecord, error) {
	rec, err := readRecord(strings.TrimSuffix(wav, ".wav") + ".json")
	if err == nil {
		return rec, nil
	}
	if wrec, werr := readWAVRecord(wav); werr == nil {
		return wrec, nil
	}
	return rec, err
}

// writeRecordFile writes the encoded record b to path (created or
// truncated) and, with sync, fsyncs it: not atomic, so only for a record
// the spool WAV also carries (a torn file is rebuilt from it). The caller
// syncs the directory (and the file, without sync).
func writeRecordFile(path string, b []byte, sync bool) error {
	f, err := openFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write call record: %w", err)
	}
	_, err = f.Write(b)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write call record: %w", err)
	}
	return nil
}

// encodeRecord is the JSON of rec as the spool and the store keep it.
func encodeRecord(rec CallRecord) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode call record: %w", err)
	}
	return append(b, '\n'), nil
}

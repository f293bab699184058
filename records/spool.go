package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// spool keeps batches the backend could not take, one JSON-lines file
// per batch, written to a temporary name, synced and renamed so that a
// file in the spool is always complete.
type spool struct {
	dir string
	mu  sync.Mutex
	seq uint64
	n   int
}

const spoolExt = ".jsonl"

func openSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("records: spool: %w", err)
	}
	sp := &spool{dir: dir}
	names, err := sp.names()
	if err != nil {
		return nil, err
	}
	sp.n = len(names)
	return sp, nil
}

func (sp *spool) names() ([]string, error) {
	ents, err := os.ReadDir(sp.dir)
	if err != nil {
		return nil, fmt.Errorf("records: spool: %w", err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), spoolExt) {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out) // names start with a fixed-width timestamp
	return out, nil
}

func (sp *spool) len() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.n
}

// put writes b as one spool file.
func (sp *spool) put(b *Batch) error {
	sp.mu.Lock()
	sp.seq++
	name := fmt.Sprintf("%020d-%06d%s", time.Now().UnixNano(), sp.seq%1000000, spoolExt)
	sp.mu.Unlock()
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeLines(w, b); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(sp.dir, name), buf.Bytes()); err != nil {
		return err
	}
	sp.mu.Lock()
	sp.n++
	sp.mu.Unlock()
	return nil
}

// oldest reads the oldest spool file; name is "" when the spool is empty.
func (sp *spool) oldest() (string, *Batch, error) {
	names, err := sp.names()
	if err != nil || len(names) == 0 {
		return "", nil, err
	}
	name := names[0]
	f, err := os.Open(filepath.Join(sp.dir, name))
	if err != nil {
		return name, nil, err
	}
	defer f.Close()
	var b Batch
	err = readLines(f, func(l *line) bool {
		if l.Call != nil {
			b.Calls = append(b.Calls, *l.Call)
		}
		if l.Event != nil {
			b.Events = append(b.Events, *l.Event)
		}
		return true
	})
	return name, &b, err
}

func (sp *spool) remove(name string) error {
	if err := os.Remove(filepath.Join(sp.dir, name)); err != nil {
		return err
	}
	sp.mu.Lock()
	sp.n--
	sp.mu.Unlock()
	return nil
}

func (sp *spool) setAside(name string) error {
	if err := os.Rename(filepath.Join(sp.dir, name), filepath.Join(sp.dir, name+".bad")); err != nil {
		return err
	}
	sp.mu.Lock()
	sp.n--
	sp.mu.Unlock()
	return nil
}

// writeLines writes b as JSON lines, calls first.
func writeLines(w *bufio.Writer, b *Batch) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range b.Calls {
		if err := enc.Encode(line{Call: &b.Calls[i]}); err != nil {
			return err
		}
	}
	for i := range b.Events {
		if err := enc.Encode(line{Event: &b.Events[i]}); err != nil {
			return err
		}
	}
	return nil
}

// readLines decodes JSON lines until f returns false. A torn last line
// (a crash in the middle of an append) is ignored.
func readLines(r *os.File, f func(*line) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		raw := sc.Bytes()
		if len(raw) == 0 {
			continue
		}
		var l line
		if err := json.Unmarshal(raw, &l); err != nil {
			if !sc.Scan() {
				return nil // the torn last line
			}
			return fmt.Errorf("%s: %w", r.Name(), err)
		}
		if !f(&l) {
			return nil
		}
	}
	return sc.Err()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

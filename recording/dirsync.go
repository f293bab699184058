package recording

import (
	"fmt"
	"sync"
)

// dirSync makes the renames and removals done in one directory durable,
// sharing each fsync of the directory among every caller that asked for
// one while another was under way (group commit). Under load many calls
// end at once, each Finish renaming its call record into the spool, and
// each fsync of a directory is a journal commit on ext4 (a millisecond or
// more of the disk's and the kernel's time): one fsync that began after a
// caller's rename covers it as well as a fsync of its own would.
type dirSync struct {
	dir     string
	fsync   func(dir string) error // fsyncDir; tests count the calls
	mu      sync.Mutex
	cond    sync.Cond
	running bool   // a fsync is under way
	started uint64 // fsyncs begun
	done    uint64 // the last fsync finished (its number)
	err     error  // its error
}

func newDirSync(dir string) *dirSync {
	s := &dirSync{dir: dir, fsync: fsyncDir}
	s.cond.L = &s.mu
	return s
}

// sync returns once a fsync of the directory that began after sync was
// called has finished, with that fsync's error. The fsync under way when
// it is called may have begun before the caller's rename, so it waits for
// the next one, which the first caller to find none under way runs for all
// those waiting.
func (s *dirSync) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.started + 1
	for s.done < need {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		n := s.started
		s.mu.Unlock()
		err := s.fsync(s.dir)
		s.mu.Lock()
		s.running = false
		s.done, s.err = n, err
		s.cond.Broadcast()
	}
	if s.err != nil {
		return fmt.Errorf("sync %s: %w", s.dir, s.err)
	}
	return nil
}

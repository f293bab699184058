package registrar

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// SavedBinding is a Binding as kept across a restart (the contact as
// text).
type SavedBinding struct {
	Username  string `json:"username"`
	Contact   string `json:"contact"`
	Source    string `json:"source,omitempty"`
	Transport string `json:"transport,omitempty"`
	// Expires is when the binding lapses unless the phone refreshes it.
	Expires   time.Time `json:"expires"`
	CallID    string    `json:"call_id,omitempty"`
	CSeq      uint32    `json:"cseq,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
	// Path is the REGISTER's Path (RFC 3327), as in Binding.
	Path []string `json:"path,omitempty"`
}

// Save returns every live binding, by user and contact, for a later
// Restore (by this process after a restart).
func (r *Registrar) Save() []SavedBinding {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []SavedBinding
	for _, st := range r.users {
		for _, b := range st.bindings {
			if !now.Before(b.Expires) {
				continue
			}
			out = append(out, SavedBinding{Username: b.Username, Contact: b.Contact.String(), Source: b.Source,
				Transport: b.Transport, Expires: b.Expires, CallID: b.CallID, CSeq: b.CSeq, UserAgent: b.UserAgent, Path: slices.Clone(b.Path)})
		}
	}
	slices.SortFunc(out, func(a, b SavedBinding) int {
		return cmp.Or(strings.Compare(a.Username, b.Username), strings.Compare(a.Contact, b.Contact))
	})
	return out
}

// Restore puts back the bindings a previous run saved that have not
// expired yet, for users known to the credentials, and reports users
// who come online to the OnChange listeners, as a REGISTER would. A
// binding the phone refreshed meanwhile is kept as it is. It returns how
// many bindings were restored.
func (r *Registrar) Restore(saved []SavedBinding) (int, error) {
	now := r.now()
	r.mu.Lock()
	n := 0
	var errs []string
	touched := map[string]bool{}
	for _, s := range saved {
		if !now.Before(s.Expires) {
			continue
		}
		if _, ok := r.creds(s.Username); !ok {
			errs = append(errs, fmt.Sprintf("%s: not a configured agent", s.Username))
			continue
		}
		var u sip.Uri
		if err := sip.ParseUri(s.Contact, &u); err != nil {
			errs = append(errs, fmt.Sprintf("%s: contact %q: %v", s.Username, s.Contact, err))
			continue
		}
		st := r.users[s.Username]
		if st == nil {
			st = &userState{bindings: map[string]*binding{}}
			r.users[s.Username] = st
		}
		key := contactKey(&u)
		if _, ok := st.bindings[key]; ok {
			continue
		}
		r.seq++
		r.gen++
		st.bindings[key] = &binding{seq: r.seq, Binding: Binding{Username: s.Username, Contact: u, Source: s.Source,
			Transport: s.Transport, Expires: s.Expires, CallID: s.CallID, CSeq: s.CSeq, UserAgent: s.UserAgent, Path: slices.Clone(s.Path)}}
		touched[s.Username] = true
		n++
		r.log.Info("registration restored", "user", s.Username, "contact", s.Contact, "expires", s.Expires)
	}
	var changes []change
	for u := range touched {
		if c, ok := r.settleLocked(u, now); ok {
			changes = append(changes, c)
		}
	}
	r.notifyUnlock(changes)
	if len(errs) > 0 {
		return n, fmt.Errorf("registrar: bindings not restored: %s", strings.Join(errs, "; "))
	}
	return n, nil
}

package audio

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
)

// Prompts are the recorded prompts Hotline plays (survey questions,
// after-hours messages, keypad menus, announcements): every
// <language>/<name>.wav of a file system, decoded once. It is the one
// prompt store; it is immutable and safe for concurrent use.
type Prompts struct {
	byLang map[string]map[string]*Clip
}

// LoadPrompts decodes every <language>/<name>.wav of fsys. Errors name
// the file.
func LoadPrompts(fsys fs.FS) (*Prompts, error) {
	files, err := fs.Glob(fsys, "*/*.wav")
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	p := &Prompts{byLang: map[string]map[string]*Clip{}}
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("prompts: %w", err)
		}
		c, err := DecodeClip(f, data)
		if err != nil {
			return nil, fmt.Errorf("prompts: %w", err)
		}
		lang, name := path.Dir(f), strings.TrimSuffix(path.Base(f), ".wav")
		if p.byLang[lang] == nil {
			p.byLang[lang] = map[string]*Clip{}
		}
		p.byLang[lang][name] = c
	}
	return p, nil
}

// Clip returns prompt name in lang, nil if that language does not have it.
func (p *Prompts) Clip(lang, name string) *Clip {
	if p == nil {
		return nil
	}
	return p.byLang[lang][name]
}

// HasLanguage reports whether there are prompts in lang.
func (p *Prompts) HasLanguage(lang string) bool {
	return p != nil && p.byLang[lang] != nil
}

// Languages lists the languages with prompts, sorted.
func (p *Prompts) Languages() []string {
	if p == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(p.byLang))
}

// Has reports whether any language has prompt name.
func (p *Prompts) Has(name string) bool {
	for _, l := range p.Languages() {
		if p.byLang[l][name] != nil {
			return true
		}
	}
	return false
}

// Find returns prompt name in the first of langs that has it, else in any
// language (sorted order), else nil.
func (p *Prompts) Find(name string, langs ...string) *Clip {
	for _, l := range append(langs, p.Languages()...) {
		if c := p.Clip(l, name); c != nil {
			return c
		}
	}
	return nil
}

// FindAll returns the prompts names in one language, the first of langs
// (then any, sorted) that has them all; failing that each as Find finds
// it. Missing prompts are left out.
func (p *Prompts) FindAll(names []string, langs ...string) []*Clip {
	for _, l := range append(langs, p.Languages()...) {
		if !p.HasLanguage(l) {
			continue
		}
		out := make([]*Clip, 0, len(names))
		for _, n := range names {
			if c := p.Clip(l, n); c != nil {
				out = append(out, c)
			}
		}
		if len(out) == len(names) {
			return out
		}
	}
	var out []*Clip
	for _, n := range names {
		if c := p.Find(n, langs...); c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Require reports, for every language, the prompts of names it lacks, and
// a fallback language without prompts.
func (p *Prompts) Require(fallback string, names ...string) error {
	if !p.HasLanguage(fallback) {
		return fmt.Errorf("prompts: no prompts for the default language %q", fallback)
	}
	for _, l := range p.Languages() {
		for _, n := range names {
			if p.Clip(l, n) == nil {
				return fmt.Errorf("prompts: language %s: no %s.wav", l, n)
			}
		}
	}
	return nil
}

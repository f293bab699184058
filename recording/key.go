package recording

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"time"
)

// DefaultKeyTemplate is the object key template used when none is set.
const DefaultKeyTemplate = "recordings/{{.Year}}/{{.Month}}/{{.Day}}/{{.CallID}}.wav"

// KeyData is what a key template can use. Dates are the call's start in
// UTC, zero-padded (Month "03", Day "07"). Text fields are made safe for a
// key: characters other than letters, digits and ". _ - @ + =" become "_".
type KeyData struct {
	CallID, Caller, Agent, Queue, Segment  string
	Year, Month, Day, Hour, Minute, Second string
	// Start is the call's start in UTC, for custom layouts
	// ({{.Start.Format "20060102"}}).
	Start time.Time
}

// ErrBadKey is returned when a key template gives an unusable object key.
var ErrBadKey = errors.New("recording: bad object key")

type keyTemplate struct{ t *template.Template }

func parseKeyTemplate(s string) (keyTemplate, error) {
	t, err := template.New("key").Option("missingkey=error").Parse(s)
	if err != nil {
		return keyTemplate{}, err
	}
	kt := keyTemplate{t}
	// Try it once so that unknown fields are reported at config time.
	_, err = kt.key(CallInfo{CallID: "x", Caller: "x", Agent: "x", Queue: "x", Segment: "x", Start: time.Unix(0, 0)})
	return kt, err
}

// key renders the object key of a recording of info.
func (k keyTemplate) key(info CallInfo) (string, error) {
	s := info.Start.UTC()
	d := KeyData{
		CallID:  keySafe(info.CallID),
		Caller:  keySafe(info.Caller),
		Agent:   keySafe(info.Agent),
		Queue:   keySafe(info.Queue),
		Segment: keySafe(info.Segment),
		Year:    fmt.Sprintf("%04d", s.Year()),
		Month:   fmt.Sprintf("%02d", int(s.Month())),
		Day:     fmt.Sprintf("%02d", s.Day()),
		Hour:    fmt.Sprintf("%02d", s.Hour()),
		Minute:  fmt.Sprintf("%02d", s.Minute()),
		Second:  fmt.Sprintf("%02d", s.Second()),
		Start:   s,
	}
	var b bytes.Buffer
	if err := k.t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	key := b.String()
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") ||
		path.Clean(key) != key || key == "." || strings.HasPrefix(key, "../") || key == ".." {
		return "", fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return key, nil
}

// recordKey returns the key of the call record uploaded next to the
// recording stored at key.
func recordKey(key string) string {
	return strings.TrimSuffix(key, ".wav") + ".json"
}

// keySafe keeps letters, digits and . _ - @ + = and replaces anything else
// (slashes included) with "_"; ".." and "." become "_" too.
func keySafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-', c == '@', c == '+', c == '=':
		default:
			b[i] = '_'
		}
	}
	out := string(b)
	if out == "." || out == ".." {
		return "_"
	}
	return out
}

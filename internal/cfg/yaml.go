package cfg

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// CheckYAML compares a YAML document with the Go type it is decoded into
// (v, a pointer) and reports, for people, every key that is not a field
// (with the nearest field name as a suggestion) and every value that does
// not fit its field, each a *FieldError with the field's path and line:
//
//	sip.listen[0]: unknown field "adr" (did you mean "addr"?)
//	sip.max_calls: "lots" is not a whole number
//
// It does not decode into v. Syntax errors are returned as they are.
func CheckYAML(data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	var errs []error
	walk(doc.Content[0], reflect.TypeOf(v).Elem(), "", &errs)
	return errors.Join(errs...)
}

var durationType = reflect.TypeFor[time.Duration]()
var timeType = reflect.TypeFor[time.Time]()

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func walk(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	switch {
	case t.Kind() == reflect.Struct && t != timeType:
		if n.Kind != yaml.MappingNode {
			addErr(errs, path, n, "must be a mapping (name: value), got %s", describe(n))
			return
		}
		fields := map[string]reflect.Type{}
		structFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Value == "<<" {
				continue // a merge: yaml checks it when decoding
			}
			ft, ok := fields[key.Value]
			if !ok {
				msg := fmt.Sprintf("unknown field %q", key.Value)
				if s := nearest(key.Value, fields); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				*errs = append(*errs, &FieldError{Field: path, Msg: msg, Line: key.Line})
				continue
			}
			walk(val, ft, joinPath(path, key.Value), errs)
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			addErr(errs, path, n, "must be a list, got %s", describe(n))
			return
		}
		for i, el := range n.Content {
			walk(el, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			addErr(errs, path, n, "must be a mapping (key: value), got %s", describe(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			kp := joinPath(path, key.Value)
			leaf(key, t.Key(), kp, errs)
			walk(val, t.Elem(), kp, errs)
		}
	default:
		leaf(n, t, path, errs)
	}
}

// leaf decodes one value on its own to see whether it fits t.
func leaf(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) || n.Kind != yaml.ScalarNode {
			addErr(errs, path, n, "%s is not %s", describe(n), typeWords(t))
			return
		}
		addErr(errs, path, n, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

func addErr(errs *[]error, path string, n *yaml.Node, format string, args ...any) {
	*errs = append(*errs, &FieldError{Field: path, Msg: fmt.Sprintf(format, args...), Line: n.Line})
}

// describe says what a YAML value is, in words.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:37] + "..."
	}
	return strconv.Quote(v)
}

// typeWords names what a Go type accepts, in a user's words.
func typeWords(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration (such as 30s, 5m or 1h30m)"
	case t == timeType:
		return "a date and time (such as 2026-12-24T18:00:00Z)"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping (name: value)"
	}
	return "the right kind of value"
}

// structFields collects the YAML names of t's fields, inline ones
// included, as yaml.v3 does.
func structFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, out)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}

var wordRE = regexp.MustCompile(`[^a-z0-9]`)

// nearest is the field name closest to key (about a third of its letters
// different at most; case, "_" and "-" ignored), or "".
func nearest(key string, fields map[string]reflect.Type) string {
	limit := len(key)/3 + 1
	best, bestD := "", limit+1
	k := wordRE.ReplaceAllString(strings.ToLower(key), "")
	for name := range fields {
		d := distance(k, wordRE.ReplaceAllString(name, ""))
		if d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Package cfg holds the small helpers every package uses to report
// configuration errors that name the field and what is wrong with it.
// The loader in cmd/hotline adds the file name in front.
package cfg

import (
	"errors"
	"fmt"
)

// FieldError says what is wrong with one configuration field.
// Field is a dotted path relative to where the error is reported,
// for example "agents[2].password".
type FieldError struct {
	Field string
	Msg   string
	// Line is the line of the configuration file, 0 when unknown.
	Line int
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errorf returns a *FieldError for field with a formatted message.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Prefix puts prefix (a section name such as "sip" or "agents[3]") in front
// of the field path of every FieldError in err, which may be a join of many.
// Other errors are wrapped as a FieldError naming the prefix.
func Prefix(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			field := prefix
			if fe.Field != "" {
				if fe.Field[0] == '[' {
					field += fe.Field
				} else {
					field += "." + fe.Field
				}
			}
			out = append(out, &FieldError{Field: field, Msg: fe.Msg, Line: fe.Line})
			continue
		}
		out = append(out, &FieldError{Field: prefix, Msg: e.Error()})
	}
	return errors.Join(out...)
}

// Fields returns every FieldError contained in err (which may be a join).
func Fields(err error) []*FieldError {
	var out []*FieldError
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out = append(out, fe)
		}
	}
	return out
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

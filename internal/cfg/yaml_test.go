package cfg

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Addr      string `yaml:"addr"`
	Transport string `yaml:"transport"`
}

type base struct {
	Agents []struct {
		Username string         `yaml:"username"`
		Skills   map[string]int `yaml:"skills"`
	} `yaml:"agents"`
}

type doc struct {
	Listen  []inner       `yaml:"listen"`
	Timeout time.Duration `yaml:"timeout"`
	Enabled *bool         `yaml:"enabled"`
	Ratio   float64       `yaml:"ratio"`
	base    `yaml:",inline"`
	Nested  struct {
		Deep struct {
			Level uint `yaml:"level"`
		} `yaml:"deep"`
	} `yaml:"nested"`
}

// TestCheckYAML: unknown keys and mismatched values are reported with
// the field path, the line and plain words; valid documents pass.
func TestCheckYAML(t *testing.T) {
	valid := "listen: [{addr: 'a:1', transport: udp}]\ntimeout: 30s\nenabled: true\nratio: 0.5\n" +
		"agents: [{username: a, skills: {x: 3}}]\nnested: {deep: {level: 2}}\nempty:\n"
	if err := CheckYAML([]byte(strings.Replace(valid, "empty:\n", "", 1)), &doc{}); err != nil {
		t.Errorf("valid document: %v", err)
	}
	if err := CheckYAML(nil, &doc{}); err != nil {
		t.Errorf("empty document: %v", err)
	}
	bad := `listen:
  - {adr: x, transport: udp}
  - tranport: tcp
timeout: soon
enabled: maybe
ratio: [1]
agents: [{usrname: a, skills: {x: lots}}]
nested: {deep: {level: -1, levle: 2}}
listn: []
`
	err := CheckYAML([]byte(bad), &doc{})
	var got []string
	for _, fe := range Fields(err) {
		got = append(got, fe.Error()+" @"+strconv.Itoa(fe.Line))
	}
	want := []string{
		`listen[0]: unknown field "adr" (did you mean "addr"?) @2`,
		`listen[1]: unknown field "tranport" (did you mean "transport"?) @3`,
		`timeout: "soon" is not a duration (such as 30s, 5m or 1h30m) @4`,
		`enabled: "maybe" is not true or false @5`,
		`ratio: a list is not a number @6`,
		`agents[0]: unknown field "usrname" (did you mean "username"?) @7`,
		`agents[0].skills.x: "lots" is not a whole number @7`,
		`nested.deep.level: "-1" is not a whole number, 0 or more @8`,
		`nested.deep: unknown field "levle" (did you mean "level"?) @8`,
		`unknown field "listn" (did you mean "listen"?) @9`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Far from every field: no suggestion.
	err = CheckYAML([]byte("zzzzzz: 1\n"), &doc{})
	if fes := Fields(err); len(fes) != 1 || fes[0].Msg != `unknown field "zzzzzz"` {
		t.Errorf("got %v", err)
	}
	// Syntax errors are not field errors.
	if err := CheckYAML([]byte("listen: [\n"), &doc{}); err == nil || len(Fields(err)) != 0 {
		t.Errorf("syntax error: %v", err)
	}
}

package promtest

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// DatasourceUID is what every dashboard panel names as its datasource: the
// dashboard's "datasource" variable (type datasource, Prometheus), so that
// the dashboards import into any Grafana, whatever its datasources' uids.
const DatasourceUID = "${datasource}"

// modulePath is the repository's Go module, which DeployDir looks for.
const modulePath = "hotline"

// DeployDir returns the repository's deploy/ directory, found from the
// working directory (a package directory under `go test`) upwards as the
// directory beside the go.mod of module hotline.
func DeployDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for range 64 {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return filepath.Join(dir, "deploy")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Fatalf("no go.mod of module %s above the working directory", modulePath)
	return ""
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// RulesFile returns the absolute path of the repository's rules file,
// deploy/prometheus/rules/hotline.rules.yml.
func RulesFile(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(DeployDir(t), "prometheus", "rules", "hotline.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Rule is one recording or alerting rule.
type Rule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

// Rules is what the tests need of a Prometheus rules file.
type Rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []Rule `yaml:"rules"`
	} `yaml:"groups"`
}

// Recording returns the recording rules, in file order.
func (r Rules) Recording() []Rule {
	var out []Rule
	for _, g := range r.Groups {
		for _, rl := range g.Rules {
			if rl.Record != "" {
				out = append(out, rl)
			}
		}
	}
	return out
}

// LoadRules reads the repository's rules file (see RulesFile).
func LoadRules(t testing.TB) Rules {
	t.Helper()
	b, err := os.ReadFile(RulesFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var r Rules
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// Query is one PromQL expression found in a dashboard or a rules file.
type Query struct {
	// Where says where it comes from: "FILE / panel title" for a panel.
	Where string
	Expr  string
}

// Dashboard is what the tests need of a Grafana dashboard.
type Dashboard struct {
	// File is the base name of the dashboard's JSON file.
	File       string          `json:"-"`
	Title      string          `json:"title"`
	UID        string          `json:"uid"`
	Panels     []Panel         `json:"panels"`
	Templating json.RawMessage `json:"templating"`
	// Timezone is the dashboard's time zone (IANA name).
	Timezone string `json:"timezone"`
}

// Panel is a dashboard panel, or a row holding panels.
type Panel struct {
	Title      string         `json:"title"`
	Datasource *DatasourceRef `json:"datasource"`
	Targets    []Target       `json:"targets"`
	Panels     []Panel        `json:"panels"` // rows
}

// DatasourceRef names a panel's or target's datasource.
type DatasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Target is one query of a panel.
type Target struct {
	Expr       string         `json:"expr"`
	Datasource *DatasourceRef `json:"datasource"`
}

// LoadDashboards reads every dashboard in deploy/grafana/dashboards,
// failing the test on invalid JSON or when there are fewer than two.
func LoadDashboards(t testing.TB) []Dashboard {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(DeployDir(t), "grafana", "dashboards", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("want at least two dashboards, found %v", files)
	}
	var out []Dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d Dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", f, err)
		}
		d.File = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// PanelQueries lists every panel expression of a dashboard (rows
// included), reporting as test errors a datasource other than
// DatasourceUID and a target without an expression.
func PanelQueries(t testing.TB, d Dashboard) []Query {
	t.Helper()
	var out []Query
	var walk func([]Panel)
	walk = func(ps []Panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Datasource != nil && p.Datasource.UID != DatasourceUID {
				t.Errorf("%s / %s: datasource uid %q, want %q", d.File, p.Title, p.Datasource.UID, DatasourceUID)
			}
			for _, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource.UID != DatasourceUID {
					t.Errorf("%s / %s: target datasource uid %q", d.File, p.Title, tg.Datasource.UID)
				}
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s / %s: target without expr", d.File, p.Title)
					continue
				}
				out = append(out, Query{Where: d.File + " / " + p.Title, Expr: tg.Expr})
			}
		}
	}
	walk(d.Panels)
	return out
}

// AllPanelQueries is PanelQueries over every dashboard of LoadDashboards.
func AllPanelQueries(t testing.TB) []Query {
	t.Helper()
	var all []Query
	for _, d := range LoadDashboards(t) {
		all = append(all, PanelQueries(t, d)...)
	}
	return all
}

var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// VariableMetrics returns the metric each query template variable of a
// dashboard reads, reporting as a test error a variable that is not
// label_values(metric, label).
func VariableMetrics(t testing.TB, d Dashboard) map[string]string {
	t.Helper()
	var tmpl struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Definition string          `json:"definition"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	}
	if err := json.Unmarshal(d.Templating, &tmpl); err != nil {
		t.Fatalf("%s: templating: %v", d.File, err)
	}
	out := map[string]string{}
	hasDatasource := false
	for _, v := range tmpl.List {
		if v.Type == "datasource" && v.Name == "datasource" && string(v.Query) == `"prometheus"` {
			hasDatasource = true
		}
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(strings.TrimSpace(v.Definition))
		if m == nil {
			t.Errorf("%s: variable %s: %q is not label_values(metric, label)", d.File, v.Name, v.Definition)
			continue
		}
		out[v.Name] = m[1]
	}
	if !hasDatasource {
		t.Errorf("%s: no \"datasource\" variable of type datasource (query \"prometheus\")", d.File)
	}
	return out
}

// Substitute replaces the Grafana variables of a panel expression for a
// query against Prometheus: every queue, segment and reason, a 1 h range.
func Substitute(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "1m",
		"$__interval", "15s",
		"$__range", "1h",
		"$queue", ".*",
		"$segment", ".*",
		"$reason", ".*",
		"$agent", ".*",
	).Replace(expr)
}

var (
	stringRE  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	bracesRE  = regexp.MustCompile(`\{[^{}]*\}`)
	rangeRE   = regexp.MustCompile(`\[[^\[\]]*\]`)
	groupRE   = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	offsetRE  = regexp.MustCompile(`\boffset\s+-?[0-9a-zA-Z_$]+`)
	identRE   = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywordRE = regexp.MustCompile(`^(and|or|unless|bool|by|without|on|ignoring|group_left|group_right|offset|inf|nan|Inf|NaN)$`)
	// A number such as 1e3 or 0x1f also matches identRE after its first digit.
	numberTailRE = regexp.MustCompile(`[0-9.]$`)
)

// MetricNames returns the metric names a PromQL expression selects. It is
// a small lexer, not a parser: it drops strings, label matchers, ranges,
// grouping clauses and offsets, then takes identifiers not followed by
// "(" (functions and aggregations) and not keywords.
func MetricNames(expr string) []string {
	e := stringRE.ReplaceAllString(expr, `""`)
	e = bracesRE.ReplaceAllString(e, " ")
	e = rangeRE.ReplaceAllString(e, " ")
	e = groupRE.ReplaceAllString(e, " ")
	e = offsetRE.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	var out []string
	for _, loc := range identRE.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && numberTailRE.MatchString(e[:loc[0]]) {
			continue // part of a number like 1e3
		}
		rest := strings.TrimLeft(e[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || keywordRE.MatchString(name) {
			continue
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

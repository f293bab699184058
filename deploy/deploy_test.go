package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// compose is the part of a compose file the tests read.
type compose struct {
	Name     string             `yaml:"name"`
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
	Volumes map[string]any `yaml:"volumes"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Volumes     []string          `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
}

// pinned is an image reference with a release tag (optionally a digest):
// registry/name:tag[@sha256:...], never :latest nor without a tag.
var pinned = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*:([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?$`)

func imagePinned(ref string) bool {
	if !pinned.MatchString(ref) {
		return false
	}
	tag := ref[strings.LastIndex(strings.Split(ref, "@")[0], ":")+1:]
	tag = strings.Split(tag, "@")[0]
	return tag != "latest" && !strings.HasSuffix(tag, "-latest")
}

func loadCompose(t *testing.T) compose {
	t.Helper()
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml is not valid YAML of the expected shape: %v", err)
	}
	return c
}

func TestImagePinned(t *testing.T) {
	for ref, want := range map[string]bool{
		"quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z":          true,
		"prom/prometheus:v3.5.0":                                    true,
		"grafana/grafana:12.1.0@sha256:" + strings.Repeat("ab", 32): true,
		"localhost:5000/hotline:1.2":                                true,
		"minio/minio:latest":                                        false,
		"minio/minio":                                               false,
		"grafana/grafana":                                           false,
		"localhost:5000/hotline":                                    false,
		"golang:latest":                                             false,
		"":                                                          false,
	} {
		if got := imagePinned(ref); got != want {
			t.Errorf("imagePinned(%q) = %v, want %v", ref, got, want)
		}
	}
}

// TestComposeFile: deploy/docker-compose.yml has the expected services,
// every image pinned to a release tag (MinIO not from Docker Hub, where it
// is gone), a health check for each service, and secrets from files
// rather than literals.
func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"hotline", "minio", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml: no service %q", name)
		}
	}
	for name, s := range c.Services {
		switch {
		case s.Image == "" && s.Build == nil:
			t.Errorf("service %s: neither image nor build", name)
		case s.Image != "" && !imagePinned(s.Image):
			t.Errorf("service %s: image %q is not pinned to a release tag (no :latest, no bare name)", name, s.Image)
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 || s.Healthcheck.Test[0] != "CMD" {
			t.Errorf("service %s: no health check (healthcheck.test [\"CMD\", ...])", name)
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec]; !ok {
				t.Errorf("service %s: secret %q is not defined under secrets:", name, sec)
			}
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on %q, which is not a service", name, dep)
			}
			if d.Condition == "service_healthy" && c.Services[dep].Healthcheck == nil {
				t.Errorf("service %s waits for %s to be healthy, which has no health check", name, dep)
			}
		}
		for k, v := range s.Environment {
			if regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN)$`).MatchString(k) {
				t.Errorf("service %s: %s=%q is a literal secret: use a secret file (%s__FILE or _FILE)", name, k, v, k)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s, which does not exist", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s: volume %q is not declared under volumes:", name, src)
			}
		}
	}
	if img := c.Services["minio"].Image; strings.HasPrefix(img, "minio/") || strings.HasPrefix(img, "docker.io/minio/") {
		t.Errorf("minio image %q is from Docker Hub, where MinIO's images are gone", img)
	}
	for name, s := range c.Secrets {
		if s.File == "" || !strings.HasPrefix(s.File, "./secrets/") {
			t.Errorf("secret %s: file %q, want ./secrets/<name> (made by make compose-secrets, git-ignored)", name, s.File)
		}
	}
	g := c.Services["grafana"].Environment
	if g["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "" || g["GF_SECURITY_ADMIN_PASSWORD"] != "" {
		t.Errorf("grafana: the admin password must come from GF_SECURITY_ADMIN_PASSWORD__FILE, got %v", g)
	}
	// The RTP range published is the one Hotline's compose config uses.
	conf, err := os.ReadFile("compose/hotline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hc struct {
		RTP struct {
			PortMin int `yaml:"port_min"`
			PortMax int `yaml:"port_max"`
		} `yaml:"rtp"`
		API struct {
			Token  string `yaml:"token"`
			Tokens []struct {
				Token     string `yaml:"token"`
				TokenFile string `yaml:"token_file"`
			} `yaml:"tokens"`
		} `yaml:"api"`
	}
	if err := yaml.Unmarshal(conf, &hc); err != nil {
		t.Fatal(err)
	}
	want := strconv.Itoa(hc.RTP.PortMin) + "-" + strconv.Itoa(hc.RTP.PortMax) + ":" + strconv.Itoa(hc.RTP.PortMin) + "-" + strconv.Itoa(hc.RTP.PortMax) + "/udp"
	if !slices.Contains(c.Services["hotline"].Ports, want) {
		t.Errorf("hotline publishes %v, want the RTP range of compose/hotline.yaml %q", c.Services["hotline"].Ports, want)
	}
	if hc.API.Token != "" || len(hc.API.Tokens) == 0 {
		t.Errorf("compose/hotline.yaml: the API needs tokens from files, not api.token")
	}
	for i, tok := range hc.API.Tokens {
		if tok.Token != "" || !strings.HasPrefix(tok.TokenFile, "/run/secrets/") {
			t.Errorf("compose/hotline.yaml: api.tokens[%d] must be a token_file under /run/secrets/", i)
		}
	}
}

// TestDockerfile: base images pinned; the RTP ports exposed cover the
// default range (room for sip.max_calls); a health check; .dockerignore
// keeps the repository's history and data out of the build context.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var expose, health bool
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, f[1])
		case "EXPOSE":
			expose = slices.Contains(f, "20000-29999/udp")
		case "HEALTHCHECK":
			health = true
		}
	}
	if len(froms) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	for _, f := range froms {
		if !imagePinned(f) {
			t.Errorf("Dockerfile: FROM %s is not pinned to a tag", f)
		}
	}
	if !expose {
		t.Error("Dockerfile: EXPOSE lacks 20000-29999/udp (rtp's default range: 2,500 calls)")
	}
	if !health {
		t.Error("Dockerfile: no HEALTHCHECK")
	}
	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	for _, want := range []string{".git", "data/", "bench/", "deploy/secrets/", "bin/"} {
		if !slices.Contains(strings.Fields(string(ignore)), want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}

// TestSystemdUnit: the unit runs as its own user with the sandbox on,
// reloads with SIGHUP, restarts on failure, and systemd accepts it.
func TestSystemdUnit(t *testing.T) {
	path := filepath.Join("systemd", "hotline.service")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	for k, want := range map[string]string{
		"User": "hotline", "Group": "hotline", "Restart": "on-failure", "ExecReload": "/bin/kill -HUP $MAINPID",
		"LimitNOFILE": "65536", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "StateDirectory": "hotline",
	} {
		if got, ok := keys[k]; !ok || !slices.Contains(got, want) {
			t.Errorf("%s: %s=%q, want %q", path, k, got, want)
		}
	}
	// systemd's own check, with the binary where the unit expects it
	// swapped for one that exists.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is missing (make apt-deps installs systemd)")
	}
	bin := filepath.Join(t.TempDir(), "hotline")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "hotline.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/hotline", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", path, err, out)
	}
}

// TestAlertsDocumented: every alert has a summary, a description and a
// runbook_url naming its section of prometheus/RUNBOOK.md.
func TestAlertsDocumented(t *testing.T) {
	raw, err := os.ReadFile("prometheus/rules/hotline.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	book, err := os.ReadFile("prometheus/RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			for _, k := range []string{"summary", "description"} {
				if r.Annotations[k] == "" {
					t.Errorf("alert %s has no %s", r.Alert, k)
				}
			}
			if want := "deploy/prometheus/RUNBOOK.md#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
			if !strings.Contains(string(book), "\n## "+r.Alert+"\n") {
				t.Errorf("prometheus/RUNBOOK.md has no section \"## %s\"", r.Alert)
			}
		}
	}
	for _, want := range []string{"HotlineDown", "HotlineServiceLevelLow", "HotlineCallersWaitingNoAgent", "HotlineCallsRefused",
		"HotlineRTPLoss", "HotlineSpoolDiskLow", "HotlineConfigReloadFailed"} {
		if !strings.Contains(string(raw), "alert: "+want+"\n") {
			t.Errorf("no alert %s", want)
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}

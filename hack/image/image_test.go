package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// root is the module's root, seen from this package.
const root = "../.."

// TestDockerfileBuildsWhatMakeImageBuilds keeps the Dockerfile honest
// without Docker: it copies the whole build context and runs the same go
// build line as make image, and that context holds every file the manager
// is compiled from.
func TestDockerfileBuildsWhatMakeImageBuilds(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	if !slices.Contains(lines, "COPY . .") {
		t.Errorf("the Dockerfile does not copy the whole build context (COPY . .): a file it does not name would be left out")
	}
	if want := "RUN " + goBuildLine("${VERSION}", "${COMMIT}"); !slices.Contains(lines, want) {
		t.Errorf("the Dockerfile does not build the manager as make image does; want the line\n%s", want)
	}

	files, err := buildContext(root)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`, ".")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 50 {
		t.Fatalf("go list named only %d files of the manager", len(needed))
	}
	for _, f := range needed {
		if !slices.Contains(files, f) {
			t.Errorf("%s is compiled into the manager but not in the Dockerfile's build context: commit it, or take it out of .dockerignore", f)
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f, "bin/") || strings.HasPrefix(f, "charts/") || strings.HasPrefix(f, ".git/") {
			t.Errorf("%s is in the build context; .dockerignore should leave it out", f)
		}
	}
}

func TestImageTagIsTheChartsAppVersion(t *testing.T) {
	chart, err := os.ReadFile(filepath.Join(root, "charts", "lethe", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kustomization, err := os.ReadFile(filepath.Join(root, "config", "manager", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	app := regexp.MustCompile(`(?m)^appVersion: "?([^"\n]+)"?$`).FindSubmatch(chart)
	tag := regexp.MustCompile(`(?m)^\s+newTag: "?([^"\n]+)"?$`).FindSubmatch(kustomization)
	if app == nil || tag == nil {
		t.Fatalf("no appVersion in Chart.yaml (%q) or newTag in config/manager/kustomization.yaml (%q)", app, tag)
	}
	if string(app[1]) != string(tag[1]) {
		t.Errorf("config/manager/kustomization.yaml deploys image tag %s, the chart %s (its appVersion): keep them equal", tag[1], app[1])
	}
}

func TestImageIsReproducible(t *testing.T) {
	s := imageSpec{Binary: []byte("binary"), CABundle: []byte("ca"), Version: "1.2.3", Commit: "abc",
		Created: time.Unix(1_700_000_000, 0).UTC(), Arch: "amd64", User: nonRootUser}
	digest := func() v1.Hash {
		img, err := assemble(s)
		if err != nil {
			t.Fatal(err)
		}
		h, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	first := digest()
	if again := digest(); again != first {
		t.Errorf("the same inputs gave digests %s and %s", first, again)
	}
	s.Commit = "def"
	if other := digest(); other == first {
		t.Errorf("another commit gave the same digest %s", other)
	}
}

func TestCheckConfig(t *testing.T) {
	files := map[string][]byte{"etc/passwd": []byte(passwd), caBundlePath: []byte("-----BEGIN CERTIFICATE-----\n")}
	good := func() *v1.ConfigFile {
		return &v1.ConfigFile{Config: v1.Config{User: nonRootUser, Entrypoint: []string{"/manager"}, Labels: map[string]string{
			"org.opencontainers.image.version": "1.2.3", "org.opencontainers.image.revision": "abc", "org.opencontainers.image.source": source}}}
	}
	if errs := checkConfig(good(), "1.2.3", "abc", files); len(errs) > 0 {
		t.Fatalf("a good image fails: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		change func(*v1.ConfigFile)
		files  map[string][]byte
		want   string
	}{
		{"root", func(c *v1.ConfigFile) { c.Config.User = "0:0" }, files, "runs as root"},
		{"no user", func(c *v1.ConfigFile) { c.Config.User = "" }, files, "is not numeric"},
		{"user by name", func(c *v1.ConfigFile) { c.Config.User = "nonroot" }, files, "is not numeric"},
		{"user not in passwd", func(c *v1.ConfigFile) { c.Config.User = "1000" }, files, "user 1000 has no entry in /etc/passwd"},
		{"entrypoint", func(c *v1.ConfigFile) { c.Config.Entrypoint = []string{"/bin/sh"} }, files, "entrypoint"},
		{"version label", func(c *v1.ConfigFile) { c.Config.Labels["org.opencontainers.image.version"] = "dev" }, files,
			`label org.opencontainers.image.version is "dev", want "1.2.3"`},
		{"no CA bundle", func(*v1.ConfigFile) {}, map[string][]byte{"etc/passwd": []byte(passwd)}, "no CA certificates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(c)
			errs := checkConfig(c, "1.2.3", "abc", tc.files)
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want) {
				t.Errorf("got %v, want one error saying %q", errs, tc.want)
			}
		})
	}
}

// TestCheckRefusesABadImage writes an image as make image does, but with a
// dynamically linked binary, as root and without CA certificates, and
// expects the check to name each problem.
func TestCheckRefusesABadImage(t *testing.T) {
	dynamic, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no true(1) to use as a dynamically linked binary")
	}
	bin, err := os.ReadFile(dynamic) // #nosec G304 -- a system binary
	if err != nil {
		t.Fatal(err)
	}
	if checkBinary(dynamic) == nil {
		t.Skipf("%s is statically linked here", dynamic)
	}
	img, err := assemble(imageSpec{Binary: bin, Version: "1.2.3", Commit: "abc", Created: time.Unix(0, 0).UTC(), Arch: "amd64", User: "0"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := write(img, out, "example.com/lethe", "1.2.3"); err != nil {
		t.Fatal(err)
	}
	_, err = check(out, "example.com/lethe", "1.2.3", "abc")
	if err == nil {
		t.Fatal("the check passed an image running a dynamic binary as root without CA certificates")
	}
	for _, want := range []string{"runs as root", "no CA certificates", "dynamically linked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the check's error does not say %q:\n%v", want, err)
		}
	}
	if _, err := check(out, "example.com/lethe", "2.0.0", "abc"); err == nil || !strings.Contains(err.Error(), `tagged "1.2.3", want "2.0.0"`) {
		t.Errorf("the check of another version: %v", err)
	}
}

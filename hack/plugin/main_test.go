package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPacksTheArchiveAndFillsTheManifest packs a stand-in binary with the
// repository's template, as make plugin does, and reads both back.
func TestPacksTheArchiveAndFillsTheManifest(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, binName)
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho lethe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := options{binary: bin, template: filepath.Join("..", "..", "plugins", "lethe.yaml"), out: filepath.Join(dir, "out"),
		version: "0.1.0", os: "linux", arch: "amd64", created: 1767225600}
	archivePath, manifestPath, err := pack(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(o.out, "kubectl-lethe_v0.1.0_linux_amd64.tar.gz"); archivePath != want {
		t.Errorf("archive %s, want %s", archivePath, want)
	}
	tgz, err := os.ReadFile(archivePath) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(manifestPath) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tgz)
	for _, want := range []string{"version: v0.1.0\n", `sha256: "` + hex.EncodeToString(sum[:]) + `"`,
		`uri: "https://github.com/lethe-dev/lethe/releases/download/v0.1.0/kubectl-lethe_v0.1.0_linux_amd64.tar.gz"`} {
		if !strings.Contains(string(manifest), want) {
			t.Errorf("the manifest lacks %q:\n%s", want, manifest)
		}
	}
	if regexp.MustCompile(`@[A-Z0-9]+@`).Match(manifest) {
		t.Errorf("a placeholder is left in the manifest:\n%s", manifest)
	}

	gz, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(tr)
	if h.Name != binName || h.Mode != 0o755 || h.Uid != 0 || h.ModTime.Unix() != o.created || string(body) != "#!/bin/sh\necho lethe\n" {
		t.Errorf("archive entry %s mode %o uid %d time %s holds %q", h.Name, h.Mode, h.Uid, h.ModTime, body)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("the archive holds more than %s: %v", binName, err)
	}

	again, err := archive([]byte("#!/bin/sh\necho lethe\n"), h.ModTime)
	if err != nil || !bytes.Equal(again, tgz) {
		t.Errorf("packing the same binary at the same time again gives other bytes (%v)", err)
	}
}

// TestValidateAppliesKrewsRules breaks the rendered manifest one rule at a
// time.
func TestValidateAppliesKrewsRules(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "plugins", "lethe.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	good := render(string(raw), "0.1.0", "https://example.com/kubectl-lethe.tar.gz", strings.Repeat("ab", 32))
	if err := validate(good, "linux", "amd64"); err != nil {
		t.Fatalf("the template as make renders it: %v", err)
	}
	for _, c := range []struct {
		name, old, new, says string
	}{
		{"a version without v", "version: v0.1.0", "version: 0.1.0", "does not start with v"},
		{"a version that is not semantic", "version: v0.1.0", "version: v0.1", "version \"v0.1\""},
		{"another name", "name: lethe", "name: lethe-tools", "kubectl runs kubectl-lethe as \"lethe\""},
		{"a short sha256", strings.Repeat("ab", 32), "abc", "is not 64 lower-case hex digits"},
		{"another bin", "bin: kubectl-lethe", "bin: lethe", `bin is "lethe"`},
		{"an unknown selector key", "os: linux", "distro: debian", `selector key "distro"`},
		{"another platform", "arch: amd64", "arch: arm64", "no platform selects os linux and arch amd64"},
		{"an unknown field", "homepage:", "website:", "unknown field"},
	} {
		broken := strings.Replace(good, c.old, c.new, 1)
		if err := validate(broken, "linux", "amd64"); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want an error saying %q", c.name, err, c.says)
		}
	}
}

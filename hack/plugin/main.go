// Command plugin packs the kubectl plugin for krew: it puts a built
// kubectl-lethe into a tar.gz archive (the same bytes for the same binary
// and SOURCE_DATE_EPOCH: sorted, owned by root, stamped with that time),
// fills the manifest template plugins/lethe.yaml with the version, the
// archive's URI and its SHA-256, checks the manifest against the rules krew
// applies to one (sigs.k8s.io/krew internal/index/validation), and writes
// both into -out.
//
//	go run ./hack/plugin -binary bin/plugin/linux-amd64/kubectl-lethe -version 0.1.0 -out bin/plugin
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/yaml"
)

// binName is the plugin's executable: kubectl finds `kubectl lethe` by it.
const binName = "kubectl-lethe"

type options struct {
	binary, template, out, version, os, arch, uri string
	created                                       int64
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "", "The built kubectl-lethe for -os and -arch.")
	flag.StringVar(&o.template, "template", filepath.Join("plugins", "lethe.yaml"), "The krew manifest template.")
	flag.StringVar(&o.out, "out", filepath.Join("bin", "plugin"), "Directory for the archive and the manifest (lethe.yaml).")
	flag.StringVar(&o.version, "version", "0.1.0", "The plugin's version, without the v.")
	flag.StringVar(&o.os, "os", "linux", "The platform's GOOS.")
	flag.StringVar(&o.arch, "arch", "amd64", "The platform's GOARCH.")
	flag.StringVar(&o.uri, "uri", "", "Where the archive is published (default: the GitHub release of the version).")
	flag.Int64Var(&o.created, "created", 0, "File times in the archive, in seconds since the epoch (SOURCE_DATE_EPOCH).")
	flag.Parse()
	archive, manifest, err := pack(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s and its krew manifest %s\n", archive, manifest)
}

// archiveName is the archive of one version and platform.
func archiveName(version, goos, goarch string) string {
	return fmt.Sprintf("%s_v%s_%s_%s.tar.gz", binName, version, goos, goarch)
}

// pack writes the archive and the manifest, and returns their paths.
func pack(o options) (string, string, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return "", "", err
	}
	tmpl, err := os.ReadFile(o.template)
	if err != nil {
		return "", "", err
	}
	tgz, err := archive(bin, time.Unix(o.created, 0))
	if err != nil {
		return "", "", err
	}
	name := archiveName(o.version, o.os, o.arch)
	uri := o.uri
	if uri == "" {
		uri = fmt.Sprintf("https://github.com/lethe-dev/lethe/releases/download/v%s/%s", o.version, name)
	}
	sum := sha256.Sum256(tgz)
	manifest := render(string(tmpl), o.version, uri, hex.EncodeToString(sum[:]))
	if err := validate(manifest, o.os, o.arch); err != nil {
		return "", "", fmt.Errorf("%s: %w", o.template, err)
	}
	if err := os.MkdirAll(o.out, 0o750); err != nil {
		return "", "", err
	}
	archivePath, manifestPath := filepath.Join(o.out, name), filepath.Join(o.out, "lethe.yaml")
	if err := os.WriteFile(archivePath, tgz, 0o644); err != nil { // #nosec G306 -- a public release archive
		return "", "", err
	}
	if err := os.WriteFile(manifestPath, []byte(manifest), 0o644); err != nil { // #nosec G306 -- a public manifest
		return "", "", err
	}
	return archivePath, manifestPath, nil
}

// archive is a tar.gz holding the executable alone, the same bytes for the
// same binary and time.
func archive(bin []byte, at time.Time) ([]byte, error) {
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	gz.ModTime = at
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: binName, Mode: 0o755, Size: int64(len(bin)), ModTime: at,
		Typeflag: tar.TypeReg, Format: tar.FormatPAX, Uname: "root", Gname: "root"}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// render fills the template's @VERSION@, @URI@ and @SHA256@.
func render(tmpl, version, uri, sha string) string {
	return strings.NewReplacer("@VERSION@", version, "@URI@", uri, "@SHA256@", sha).Replace(tmpl)
}

// plugin is what krew reads of a manifest (sigs.k8s.io/krew pkg/index).
type plugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description"`
		Caveats          string     `json:"caveats"`
		Platforms        []platform `json:"platforms"`
	} `json:"spec"`
}

type platform struct {
	Selector *metav1.LabelSelector `json:"selector"`
	URI      string                `json:"uri"`
	SHA256   string                `json:"sha256"`
	Bin      string                `json:"bin"`
	Files    []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
}

var sha256Hex = regexp.MustCompile(`^[a-f0-9]{64}$`)

// validate applies krew's rules for a plugin manifest (ValidatePlugin and
// validatePlatform in krew's internal/index/validation, which cannot be
// imported), and checks the manifest installs kubectl-lethe on the
// platform built.
func validate(manifest, goos, goarch string) error {
	var p plugin
	if err := yaml.UnmarshalStrict([]byte(manifest), &p); err != nil {
		return err
	}
	switch {
	case p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2":
		return fmt.Errorf("apiVersion %q is not krew's", p.APIVersion)
	case p.Kind != "Plugin":
		return fmt.Errorf("kind %q, not Plugin", p.Kind)
	case "kubectl-"+p.Metadata.Name != binName:
		return fmt.Errorf("the plugin is named %q; kubectl runs %s as %q", p.Metadata.Name, binName, strings.TrimPrefix(binName, "kubectl-"))
	case p.Spec.ShortDescription == "" || strings.ContainsAny(p.Spec.ShortDescription, "\r\n"):
		return errors.New("the short description must be one line")
	case !strings.HasPrefix(p.Spec.Version, "v"):
		return fmt.Errorf("version %q does not start with v", p.Spec.Version)
	case len(p.Spec.Platforms) == 0:
		return errors.New("no platform")
	}
	if _, err := version.ParseSemantic(p.Spec.Version); err != nil {
		return fmt.Errorf("version %q: %w", p.Spec.Version, err)
	}
	found := false
	for _, pl := range p.Spec.Platforms {
		if err := validatePlatform(pl); err != nil {
			return err
		}
		found = found || pl.Selector.MatchLabels["os"] == goos && pl.Selector.MatchLabels["arch"] == goarch
	}
	if !found {
		return fmt.Errorf("no platform selects os %s and arch %s", goos, goarch)
	}
	return nil
}

func validatePlatform(p platform) error {
	switch {
	case p.URI == "":
		return errors.New("a platform has no uri")
	case !sha256Hex.MatchString(p.SHA256):
		return fmt.Errorf("sha256 %q is not 64 lower-case hex digits", p.SHA256)
	case p.Bin != binName:
		return fmt.Errorf("bin is %q, not %s", p.Bin, binName)
	case p.Files != nil && len(p.Files) == 0:
		return errors.New("files is given but empty")
	case p.Selector == nil || len(p.Selector.MatchLabels) == 0 && len(p.Selector.MatchExpressions) == 0:
		return errors.New("a platform has no selector")
	}
	for _, f := range p.Files {
		if f.From == "" || f.To == "" {
			return errors.New("a file has no from or to")
		}
	}
	for k := range p.Selector.MatchLabels {
		if k != "os" && k != "arch" {
			return fmt.Errorf("selector key %q is not os or arch", k)
		}
	}
	for _, e := range p.Selector.MatchExpressions {
		if e.Key != "os" && e.Key != "arch" {
			return fmt.Errorf("selector key %q is not os or arch", e.Key)
		}
	}
	return nil
}

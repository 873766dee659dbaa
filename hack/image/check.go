package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// check reads the OCI layout and the tarball under out, checks they hold
// the same image, and checks that image; it returns the image's digest.
func check(out, repository, version, commit string) (v1.Hash, error) {
	idx, err := layout.ImageIndexFromPath(filepath.Join(out, layoutDir))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("OCI layout: %w (run make image first)", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(im.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("OCI layout %s holds %d images, want 1", filepath.Join(out, layoutDir), len(im.Manifests))
	}
	if got := im.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != version {
		return v1.Hash{}, fmt.Errorf("OCI layout: the image is tagged %q, want %q", got, version)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return v1.Hash{}, err
	}
	tag, err := name.NewTag(repository + ":" + version)
	if err != nil {
		return v1.Hash{}, err
	}
	fromTarball, err := tarball.ImageFromPath(filepath.Join(out, tarballName), &tag)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("tarball: %w", err)
	}
	want, err := img.ConfigName()
	if err != nil {
		return v1.Hash{}, err
	}
	if got, err := fromTarball.ConfigName(); err != nil || got != want {
		return v1.Hash{}, fmt.Errorf("the tarball holds config %s, the OCI layout %s (%v): build them again with make image", got, want, err)
	}
	if err := checkImage(img, version, commit); err != nil {
		return v1.Hash{}, err
	}
	return im.Manifests[0].Digest, nil
}

// checkImage checks the image's config and its files, then runs the binary
// taken out of its layers with --version.
func checkImage(img v1.Image, version, commit string) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	files, err := imageFiles(img)
	if err != nil {
		return err
	}
	errs := checkConfig(cf, version, commit, files)
	bin, ok := files[managerPath]
	if !ok {
		return errors.Join(append(errs, fmt.Errorf("the image has no /%s", managerPath))...)
	}
	dir, err := os.MkdirTemp("", "lethe-image-check-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, managerPath)
	if err := os.WriteFile(path, bin, 0o700); err != nil { // #nosec G306 -- the binary under test, run below
		return err
	}
	if err := checkBinary(path); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if cf.Architecture != runtime.GOARCH {
		return errors.Join(append(errs, fmt.Errorf("the image is for %s and this machine is %s: build it with -arch %s to run its binary",
			cf.Architecture, runtime.GOARCH, runtime.GOARCH))...)
	}
	if err := checkVersion(path, version, commit); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// imageFiles reads the regular files of the image's flattened file system.
func imageFiles(img v1.Image) (map[string][]byte, error) {
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's layers: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[strings.TrimPrefix(h.Name, "/")] = data
	}
}

// checkConfig checks the user (numeric, not root, named in /etc/passwd),
// the entrypoint, the labels, and that the CA bundle is there.
func checkConfig(cf *v1.ConfigFile, version, commit string, files map[string][]byte) []error {
	var errs []error
	uid, _, _ := strings.Cut(cf.Config.User, ":")
	switch n, err := strconv.Atoi(uid); {
	case err != nil:
		errs = append(errs, fmt.Errorf("the image's user %q is not numeric: Kubernetes can only prove a numeric user is not root (runAsNonRoot)", cf.Config.User))
	case n == 0:
		errs = append(errs, fmt.Errorf("the image runs as root (user %q): set a non-root uid such as %s", cf.Config.User, nonRootUser))
	case !slices.ContainsFunc(strings.Split(string(files["etc/passwd"]), "\n"), func(line string) bool {
		f := strings.Split(line, ":")
		return len(f) > 2 && f[2] == uid
	}):
		errs = append(errs, fmt.Errorf("the image's user %s has no entry in /etc/passwd", uid))
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/" + managerPath}) {
		errs = append(errs, fmt.Errorf("the image's entrypoint is %q, want [/%s]", cf.Config.Entrypoint, managerPath))
	}
	for label, want := range map[string]string{
		"org.opencontainers.image.version":  version,
		"org.opencontainers.image.revision": commit,
		"org.opencontainers.image.source":   source,
	} {
		if got := cf.Config.Labels[label]; got != want {
			errs = append(errs, fmt.Errorf("the image's label %s is %q, want %q", label, got, want))
		}
	}
	if !bytes.Contains(files[caBundlePath], []byte("-----BEGIN CERTIFICATE-----")) {
		errs = append(errs, fmt.Errorf("the image has no CA certificates at /%s: TLS to PostgreSQL and object storage would fail", caBundlePath))
	}
	return errs
}

// checkBinary checks that the file is a statically linked ELF executable
// built as the Dockerfile builds it.
func checkBinary(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("/%s is not an ELF executable: %w", managerPath, err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("/%s is dynamically linked: an image without a C library cannot run it; build with CGO_ENABLED=0", managerPath)
		}
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("/%s carries no Go build information: %w", managerPath, err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	var errs []error
	if info.Path != "github.com/lethe-dev/lethe" {
		errs = append(errs, fmt.Errorf("/%s is %s, not the manager github.com/lethe-dev/lethe", managerPath, info.Path))
	}
	for key, want := range map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "-tags": "timetzdata"} {
		if settings[key] != want {
			errs = append(errs, fmt.Errorf("/%s was built with %s=%q, want %q", managerPath, key, settings[key], want))
		}
	}
	return errors.Join(errs...)
}

// checkVersion runs the binary with --version and checks it names the
// version and commit it was built as, and exits 0.
func checkVersion(path, version, commit string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version") // #nosec G204 -- the binary under test
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("/%s --version: %w\n%s", managerPath, err, out)
	}
	if want := fmt.Sprintf("lethe %s (commit %s)\n", version, commit); string(out) != want {
		return fmt.Errorf("/%s --version printed %q, want %q", managerPath, out, want)
	}
	return nil
}

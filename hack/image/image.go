package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// nonRootUser is the image's user, the uid and gid the chart's
	// restricted security context runs as (runAsUser 65532).
	nonRootUser = "65532:65532"
	// managerPath is the binary in the image, its entrypoint.
	managerPath = "manager"
	// caBundlePath is where Go's crypto/x509 looks first on Linux.
	caBundlePath = "etc/ssl/certs/ca-certificates.crt"
	// layoutDir and tarballName are the outputs under -out.
	layoutDir   = "oci"
	tarballName = "lethe.tar"
	// source is the project's home, in the image's labels.
	source = "https://github.com/lethe-dev/lethe"
)

// passwd and group name the non-root user, so tools that map the uid find
// a name (nonroot, as in distroless).
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" // #nosec G101 -- user names, no password
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// imageSpec is what goes into the image.
type imageSpec struct {
	Binary   []byte
	CABundle []byte
	Version  string
	Commit   string
	Created  time.Time
	Arch     string
	User     string
}

// entry is one file or directory of a layer.
type entry struct {
	name string
	mode int64
	uid  int
	data []byte // nil for a directory
}

// tarLayer makes a layer of the entries, every file dated at created.
func tarLayer(entries []entry, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: created, Format: tar.FormatPAX}
		if e.data == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// assemble builds the image from scratch: a base layer with the user, the
// CA bundle and /tmp, and a layer with the binary, which alone changes from
// one version to the next.
func assemble(s imageSpec) (v1.Image, error) {
	base, err := tarLayer([]entry{
		{name: "etc/", mode: 0o755},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: caBundlePath, mode: 0o644, data: s.CABundle},
		{name: "home/", mode: 0o755},
		{name: "home/nonroot/", mode: 0o700, uid: 65532},
		{name: "tmp/", mode: 0o1777},
	}, s.Created)
	if err != nil {
		return nil, err
	}
	bin, err := tarLayer([]entry{{name: managerPath, mode: 0o755, data: s.Binary}}, s.Created)
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.Created}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: created,
			CreatedBy: "hack/image: /etc/passwd and /etc/group (nonroot 65532), /" + caBundlePath + ", /tmp"}},
		mutate.Addendum{Layer: bin, MediaType: types.OCILayer, History: v1.History{Created: created,
			CreatedBy: "hack/image: " + goBuildLine(s.Version, s.Commit)}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", s.Arch, created
	cf.Config = v1.Config{
		User:       s.User,
		Entrypoint: []string{"/" + managerPath},
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=/" + caBundlePath},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "lethe",
			"org.opencontainers.image.description": "Lethe, a Kubernetes operator that governs personal data in multi-tenant PostgreSQL databases",
			"org.opencontainers.image.source":      source,
			"org.opencontainers.image.url":         source,
			"org.opencontainers.image.version":     s.Version,
			"org.opencontainers.image.revision":    s.Commit,
			"org.opencontainers.image.created":     s.Created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cf)
}

// write writes the image as an OCI layout and as a tarball (docker save's
// format, which crane push and skopeo read) under out, replacing what was
// there only once both are complete, and returns the image's reference.
func write(img v1.Image, out, repository, version string) (name.Tag, error) {
	ref, err := name.NewTag(repository + ":" + version)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %s:%s: %w", repository, version, err)
	}
	if err := os.MkdirAll(out, 0o750); err != nil {
		return name.Tag{}, err
	}
	tmp, err := os.MkdirTemp(out, ".build-")
	if err != nil {
		return name.Tag{}, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	p, err := layout.Write(filepath.Join(tmp, layoutDir), empty.Index)
	if err != nil {
		return name.Tag{}, err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": version})); err != nil {
		return name.Tag{}, err
	}
	if err := tarball.WriteToFile(filepath.Join(tmp, tarballName), ref, img); err != nil {
		return name.Tag{}, err
	}
	for _, n := range []string{layoutDir, tarballName} {
		if err := os.RemoveAll(filepath.Join(out, n)); err != nil {
			return name.Tag{}, err
		}
		if err := os.Rename(filepath.Join(tmp, n), filepath.Join(out, n)); err != nil {
			return name.Tag{}, err
		}
	}
	return ref, nil
}

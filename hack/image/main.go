// Command image builds the manager's container image without a container
// engine, and checks an image it built.
//
// It builds the binary exactly as the Dockerfile does (the same go build
// line, from the same build context: the files of a clean checkout minus
// .dockerignore's excludes), puts it on a base made from scratch (an
// /etc/passwd entry for the non-root user 65532, the CA bundle, /tmp), and
// writes an OCI layout and a tarball with go-containerregistry. With -check
// it reads both back, takes the binary out of the image's layers and runs it.
//
//	go run ./hack/image -version 0.1.0 -commit $(git rev-parse HEAD) -out bin/image
//	go run ./hack/image -check -version 0.1.0 -commit $(git rev-parse HEAD) -out bin/image
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// options are the command's flags.
type options struct {
	root       string
	out        string
	repository string
	version    string
	commit     string
	created    int64
	arch       string
	caBundle   string
	check      bool
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", ".", "Root of the lethe module: the build context.")
	flag.StringVar(&o.out, "out", filepath.Join("bin", "image"), "Directory of the OCI layout ("+layoutDir+"/) and the tarball ("+tarballName+").")
	flag.StringVar(&o.repository, "repository", "ghcr.io/lethe-dev/lethe", "Repository of the image; the tag is -version.")
	flag.StringVar(&o.version, "version", "dev", "Version: the image tag, the binary's --version and the org.opencontainers.image.version label.")
	flag.StringVar(&o.commit, "commit", "dev", "Commit the image is built from: the binary's --version and the org.opencontainers.image.revision label.")
	flag.Int64Var(&o.created, "created", 0, "Creation time in seconds since the epoch (SOURCE_DATE_EPOCH); file times and the image's created use it, so the same sources give the same digest.")
	flag.StringVar(&o.arch, "arch", runtime.GOARCH, "CPU architecture of the image (GOARCH); -check runs the binary, so it needs this machine's.")
	flag.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "CA certificates (PEM) copied into the image at /"+caBundlePath+".")
	flag.BoolVar(&o.check, "check", false, "Check the image in -out instead of building one.")
	flag.Parse()

	var err error
	if o.check {
		err = checkOutput(o)
	} else {
		err = build(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// build builds the binary and the image and writes both outputs.
func build(o options) error {
	binary, err := buildBinary(o.root, o.version, o.commit, o.arch)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(o.caBundle)
	if err != nil {
		return fmt.Errorf("CA bundle: %w (install Debian's ca-certificates, or pass -ca-bundle)", err)
	}
	img, err := assemble(imageSpec{
		Binary: binary, CABundle: ca, Version: o.version, Commit: o.commit,
		Created: time.Unix(o.created, 0).UTC(), Arch: o.arch, User: nonRootUser,
	})
	if err != nil {
		return err
	}
	ref, err := write(img, o.out, o.repository, o.version)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("image %s\ndigest %s\nOCI layout %s\ntarball %s\n", ref, digest,
		filepath.Join(o.out, layoutDir), filepath.Join(o.out, tarballName))
	return nil
}

// checkOutput checks the image written to o.out.
func checkOutput(o options) error {
	digest, err := check(o.out, o.repository, o.version, o.commit)
	if err != nil {
		return err
	}
	fmt.Printf("image %s:%s (%s): static binary, user %s, --version says what it was built as\n",
		o.repository, o.version, digest, nonRootUser)
	return nil
}

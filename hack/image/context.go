package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext lists the files `docker build .` sends from a clean checkout
// of root: the files git tracks, minus those .dockerignore excludes (read
// and matched by the same code Docker uses).
func buildContext(root string) ([]string, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached").Output() // #nosec G204 -- root is the module's directory
	if err != nil {
		return nil, fmt.Errorf("listing the files of the checkout with git ls-files: %w", err)
	}
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	var files []string
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if _, err := os.Lstat(filepath.Join(root, name)); os.IsNotExist(err) {
			continue // deleted in the work tree, not yet in git
		}
		ignored, err := pm.MatchesOrParentMatches(filepath.FromSlash(name))
		if err != nil {
			return nil, fmt.Errorf(".dockerignore: %w", err)
		}
		if !ignored {
			files = append(files, name)
		}
	}
	return files, nil
}

// copyContext copies the files of the build context from root into dst.
func copyContext(root string, files []string, dst string) error {
	for _, name := range files {
		from, to := filepath.Join(root, name), filepath.Join(dst, filepath.FromSlash(name))
		info, err := os.Lstat(from)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
			return err
		}
		if info.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(from)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, to); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(from, to, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string, perm os.FileMode) error {
	in, err := os.Open(from) // #nosec G304 -- a file of the build context
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm) // #nosec G304 -- inside the temporary context
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// goBuildArgs are the arguments of the go build that makes the manager,
// here and in the Dockerfile: a static binary (CGO_ENABLED=0), no local
// paths, the IANA zone database built in (spec.timeZone works on a base
// without /usr/share/zoneinfo), and the version and commit --version prints.
func goBuildArgs(version, commit string) []string {
	return []string{"build", "-trimpath", "-tags", "timetzdata",
		"-ldflags", "-s -w -X main.version=" + version + " -X main.commit=" + commit}
}

// goBuildLine is the whole build command as a shell reads it, the line the
// Dockerfile runs.
func goBuildLine(version, commit string) string {
	args := goBuildArgs(version, commit)
	for i, a := range args {
		if strings.Contains(a, " ") {
			args[i] = `"` + a + `"`
		}
	}
	return "CGO_ENABLED=0 go " + strings.Join(args, " ") + " -o /manager ."
}

// buildBinary copies the build context of root into a temporary directory
// and builds the manager there, as the Dockerfile does, for linux/arch.
func buildBinary(root, version, commit, arch string) ([]byte, error) {
	files, err := buildContext(root)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "lethe-image-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	src := filepath.Join(dir, "src")
	if err := copyContext(root, files, src); err != nil {
		return nil, fmt.Errorf("copying the build context: %w", err)
	}
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", append(goBuildArgs(version, commit), "-o", bin, ".")...) // #nosec G204 -- fixed arguments
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = os.Stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build in the Dockerfile's build context (%d files; is a file the manager needs excluded by .dockerignore or not committed?): %w\n%s",
			len(files), err, stderr.String())
	}
	return os.ReadFile(bin) // #nosec G304 -- the binary just built
}

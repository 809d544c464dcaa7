package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	archive "github.com/moby/go-archive"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is what the daemon receives: the context tar and the
// Dockerfile's path inside it.
type buildContext struct {
	Tar        io.ReadCloser
	Dockerfile string
}

// dockerfileInContext returns the Dockerfile's path inside the context
// directory, or "" when it lies outside.
func dockerfileInContext(contextDir, dockerfile string) string {
	rel, err := filepath.Rel(contextDir, dockerfile)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return ""
	}
	return filepath.ToSlash(rel)
}

// readIgnore returns the .dockerignore patterns of contextDir, plus the
// exceptions the docker CLI adds so the Dockerfile and .dockerignore always
// travel (the daemon leaves them out of the image itself).
func readIgnore(contextDir, dockerfileRel string) ([]string, error) {
	var excludes []string
	f, err := os.Open(filepath.Join(contextDir, ".dockerignore"))
	switch {
	case err == nil:
		defer f.Close()
		if excludes, err = ignorefile.ReadAll(f); err != nil {
			return nil, fmt.Errorf("read .dockerignore: %w", err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	if len(excludes) == 0 {
		return nil, nil
	}
	excludes = append(excludes, "!.dockerignore")
	if dockerfileRel != "" {
		excludes = append(excludes, "!"+dockerfileRel)
	}
	return excludes, nil
}

// tarContext streams contextDir as the daemon's build context, honouring
// .dockerignore, with files owned by 0:0 as the CLI sends them. A Dockerfile
// outside the context is added under a generated name.
func tarContext(contextDir, dockerfile string) (*buildContext, error) {
	rel := dockerfileInContext(contextDir, dockerfile)
	excludes, err := readIgnore(contextDir, rel)
	if err != nil {
		return nil, err
	}
	rc, err := archive.TarWithOptions(contextDir, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("tar build context %s: %w", contextDir, err)
	}
	if rel != "" {
		return &buildContext{Tar: rc, Dockerfile: rel}, nil
	}
	content, err := os.ReadFile(dockerfile)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("read dockerfile: %w", err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := ".dockerfile." + hex.EncodeToString(rnd[:])
	now := time.Now()
	// As the CLI's AddDockerfileToBuildContext: add the Dockerfile under a
	// random name and list that name in .dockerignore, so the daemon keeps
	// it out of COPY . (a .dockerignore created here also hides itself).
	wrapped := archive.ReplaceFileTarWrapper(rc, map[string]archive.TarModifierFunc{
		name: func(_ string, _ *tar.Header, _ io.Reader) (*tar.Header, []byte, error) {
			return &tar.Header{Name: name, Mode: 0o600, ModTime: now, Typeflag: tar.TypeReg, Size: int64(len(content))}, bytes.Clone(content), nil
		},
		".dockerignore": func(_ string, h *tar.Header, old io.Reader) (*tar.Header, []byte, error) {
			var b bytes.Buffer
			if old != nil {
				if _, err := b.ReadFrom(old); err != nil {
					return nil, nil, err
				}
			} else {
				b.WriteString(".dockerignore")
			}
			b.WriteString("\n" + name + "\n")
			if h == nil {
				h = &tar.Header{Name: ".dockerignore", Mode: 0o600, ModTime: now, Typeflag: tar.TypeReg}
			}
			h.Size = int64(b.Len())
			return h, b.Bytes(), nil
		},
	})
	return &buildContext{Tar: wrapped, Dockerfile: name}, nil
}

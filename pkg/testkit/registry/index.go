package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Platform is an index entry's platform.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// String is os/arch[/variant].
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// IndexEntry is one manifest listed by an index.
type IndexEntry struct {
	Descriptor
	Platform *Platform `json:"platform,omitempty"`
}

// Index is an OCI image index or a Docker manifest list.
type Index struct {
	MediaType string       `json:"mediaType"`
	Manifests []IndexEntry `json:"manifests"`
}

// IsIndex reports whether the manifest is an index (manifest list).
func (m Manifest) IsIndex() bool {
	return strings.Contains(m.MediaType, "index") || strings.Contains(m.MediaType, "manifest.list")
}

// Index decodes the manifest as an index; it fails on an image manifest.
func (m Manifest) Index() (Index, error) {
	if !m.IsIndex() {
		return Index{}, fmt.Errorf("%s is a %s, not an index", m.Digest, m.MediaType)
	}
	var idx Index
	err := json.Unmarshal(m.Body, &idx)
	return idx, err
}

// ImageConfig is the part of an image config checks need.
type ImageConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
	Config       struct {
		Env        []string          `json:"Env"`
		Entrypoint []string          `json:"Entrypoint"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
	History []struct {
		CreatedBy string `json:"created_by"`
	} `json:"history"`
}

// Image is one platform's image: its manifest and config.
type Image struct {
	Platform string
	Digest   string
	Manifest ImageManifest
	Config   ImageConfig
	// RawConfig is the config blob as stored.
	RawConfig []byte
}

// Images returns the images under repo:ref: each platform of an index
// (attestation entries, platform unknown/unknown, left out), or the one
// image of an image manifest.
func (r *Registry) Images(ctx context.Context, repo, ref string) ([]Image, error) {
	m, err := r.Manifest(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	if !m.IsIndex() {
		im, err := r.image(ctx, repo, m)
		return []Image{im}, err
	}
	idx, err := m.Index()
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, e := range idx.Manifests {
		if e.Platform != nil && e.Platform.OS == "unknown" {
			continue
		}
		pm, err := r.Manifest(ctx, repo, e.Digest)
		if err != nil {
			return nil, err
		}
		im, err := r.image(ctx, repo, pm)
		if err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

func (r *Registry) image(ctx context.Context, repo string, m Manifest) (Image, error) {
	im, err := m.Image()
	if err != nil {
		return Image{}, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	raw, err := r.Blob(ctx, repo, im.Config.Digest)
	if err != nil {
		return Image{}, err
	}
	var cfg ImageConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return Image{}, fmt.Errorf("config %s: %w", im.Config.Digest, err)
	}
	pl := Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
	return Image{Platform: pl.String(), Digest: m.Digest, Manifest: im, Config: cfg, RawConfig: raw}, nil
}

// File returns the content of the file at name (an absolute path in the
// image) from the image's layers, the top layer first. Whiteouts are not
// followed: the tests' images add files, they do not delete them.
func (r *Registry) File(ctx context.Context, repo string, im Image, name string) ([]byte, error) {
	want := strings.TrimPrefix(path.Clean("/"+name), "/")
	for i := len(im.Manifest.Layers) - 1; i >= 0; i-- {
		blob, err := r.Blob(ctx, repo, im.Manifest.Layers[i].Digest)
		if err != nil {
			return nil, err
		}
		b, err := fileInLayer(blob, want)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		return b, err
	}
	return nil, fmt.Errorf("%s in %s: %w", name, im.Digest, ErrNotFound)
}

// LayerTars returns each layer of the image as an uncompressed tar.
func (r *Registry) LayerTars(ctx context.Context, repo string, im Image) ([][]byte, error) {
	var out [][]byte
	for _, l := range im.Manifest.Layers {
		blob, err := r.Blob(ctx, repo, l.Digest)
		if err != nil {
			return nil, err
		}
		t, err := gunzipMaybe(blob)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func fileInLayer(blob []byte, want string) ([]byte, error) {
	t, err := gunzipMaybe(blob)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(bytes.NewReader(t))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, ErrNotFound
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(path.Clean("/"+h.Name), "/") == want && h.Typeflag == tar.TypeReg {
			return io.ReadAll(tr)
		}
	}
}

func gunzipMaybe(b []byte) ([]byte, error) {
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

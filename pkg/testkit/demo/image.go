package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// secretHashFile is where the Dockerfile writes the build secret's sha256.
const secretHashFile = "etc/web/assets-token.sha256"

// imageFacts is what the demo read out of the pushed image.
type imageFacts struct {
	layers  int
	history int
	files   int
	// hash is the content of secretHashFile ("" when absent).
	hash string
	// leaks names each place the secret was found.
	leaks []string
}

// reportSecret reads the pushed image from the registry (manifest, config
// with its history, every layer) and fails unless the build secret's
// sha256 is in the image and the secret itself, plain or base64, is
// nowhere.
func (r *run) reportSecret(ctx context.Context, digest string) error {
	f, err := r.inspectImage(ctx, digest)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(r.creds.AssetsToken))
	want := hex.EncodeToString(sum[:])
	fmt.Fprintf(r.out, "\n[build secret] image demo/web@%.19s...: %d layers (%d files), %d history entries, config\n",
		digest, f.layers, f.files, f.history)
	fmt.Fprintf(r.out, "  /%s = %s (sha256 of this run's assets_token: %s)\n", secretHashFile, orNone(f.hash), matchWord(f.hash == want))
	var errs []error
	if f.hash != want {
		errs = append(errs, fmt.Errorf("build secret: /%s is %q, want the secret's sha256 %s", secretHashFile, f.hash, want))
	}
	if len(f.leaks) > 0 {
		errs = append(errs, fmt.Errorf("build secret found in the image: %s", strings.Join(f.leaks, ", ")))
	} else {
		fmt.Fprintln(r.out, "  the token itself (plain or base64) is in no layer, no history entry and not in the config")
	}
	return errors.Join(errs...)
}

func orNone(s string) string {
	if s == "" {
		return "(missing)"
	}
	return s
}

func matchWord(ok bool) string {
	if ok {
		return "matches"
	}
	return "DIFFERS"
}

func (r *run) inspectImage(ctx context.Context, digest string) (imageFacts, error) {
	reg := r.sandbox.harbor.Registry
	m, err := reg.Manifest(ctx, "demo/web", digest)
	if err != nil {
		return imageFacts{}, fmt.Errorf("build secret: manifest: %w", err)
	}
	im, err := m.Image()
	if err != nil {
		return imageFacts{}, fmt.Errorf("build secret: manifest: %w", err)
	}
	needles := secretForms(r.creds.AssetsToken)
	f := imageFacts{layers: len(im.Layers)}
	f.leaks = append(f.leaks, leaksIn("the manifest", m.Body, needles)...)
	cfg, err := reg.Blob(ctx, "demo/web", im.Config.Digest)
	if err != nil {
		return f, fmt.Errorf("build secret: config: %w", err)
	}
	f.leaks = append(f.leaks, leaksIn("the config", cfg, needles)...)
	var c struct {
		History []json.RawMessage `json:"history"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return f, fmt.Errorf("build secret: config: %w", err)
	}
	f.history = len(c.History)
	for i, l := range im.Layers {
		blob, err := reg.Blob(ctx, "demo/web", l.Digest)
		if err != nil {
			return f, fmt.Errorf("build secret: layer %d: %w", i+1, err)
		}
		if err := f.scanLayer(i+1, blob, needles); err != nil {
			return f, err
		}
	}
	return f, nil
}

// secretForms are the ways a secret could show up: plain and base64.
func secretForms(s string) []string {
	return []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s))}
}

func leaksIn(where string, b []byte, needles []string) []string {
	for _, n := range needles {
		if bytes.Contains(b, []byte(n)) {
			return []string{where}
		}
	}
	return nil
}

// scanLayer reads one layer (gzip or plain tar): every file's name and
// content is searched for the secret, and the hash file is read.
func (f *imageFacts) scanLayer(n int, blob []byte, needles []string) error {
	f.leaks = append(f.leaks, leaksIn(fmt.Sprintf("layer %d (compressed)", n), blob, needles)...)
	var rd io.Reader = bytes.NewReader(blob)
	if len(blob) > 2 && blob[0] == 0x1f && blob[1] == 0x8b {
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return fmt.Errorf("build secret: layer %d: %w", n, err)
		}
		rd = gz
	}
	tr := tar.NewReader(rd)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("build secret: layer %d: %w", n, err)
		}
		f.files++
		body, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("build secret: layer %d %s: %w", n, h.Name, err)
		}
		where := fmt.Sprintf("layer %d /%s", n, strings.TrimPrefix(h.Name, "./"))
		f.leaks = append(f.leaks, leaksIn(where, append([]byte(h.Name+"\x00"+h.Linkname+"\x00"), body...), needles)...)
		if strings.TrimPrefix(h.Name, "./") == secretHashFile {
			f.hash = strings.TrimSpace(string(body))
		}
	}
}

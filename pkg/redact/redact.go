// Package redact keeps a registry of secret values and removes them from
// everything Lightship prints: log entries, errors and raw output streams.
package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Mask replaces every secret in output.
const Mask = "******"

// Redactor holds the secrets of one run. The zero value is not usable: use New.
type Redactor struct {
	mu       sync.RWMutex
	forms    map[string]struct{}
	replacer *strings.Replacer
}

// New returns an empty Redactor.
func New() *Redactor {
	return &Redactor{forms: map[string]struct{}{}, replacer: strings.NewReplacer()}
}

// Add registers secret values. Each is also masked in its URL-escaped and
// base64 forms, since secrets travel in query strings and auth headers, and
// in its Go-quoted (%q) and JSON-escaped forms, since errors and JSON output
// escape quotes and backslashes. Each line of a multi-line secret (a PEM key)
// is masked on its own too, so a line-wise printer cannot leak it. So is
// the part of any longer base64 value that encodes the secret.
// Empty values are ignored.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		for _, f := range forms(s) {
			r.forms[f] = struct{}{}
		}
		if strings.Contains(s, "\n") {
			for _, line := range strings.Split(s, "\n") {
				// Short lines ("-----", "}") would mask ordinary text.
				if line = strings.TrimSpace(line); len(line) >= minLineSecret {
					for _, f := range forms(line) {
						r.forms[f] = struct{}{}
					}
				}
			}
		}
	}
	r.rebuild()
}

// minLineSecret is the shortest line of a multi-line secret masked alone.
const minLineSecret = 8

func forms(s string) []string {
	quoted := strconv.Quote(s)
	out := []string{
		s,
		quoted[1 : len(quoted)-1],
		jsonEscaped(s, true),
		jsonEscaped(s, false),
		url.QueryEscape(s),
		url.PathEscape(s),
		base64.StdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)),
		base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.RawURLEncoding.EncodeToString([]byte(s)),
	}
	return append(out, base64Cores(s)...)
}

// minCore is the shortest base64 core masked: shorter runs of base64
// characters occur in ordinary text by chance.
const minCore = 8

// base64Cores returns the base64 characters that encode s whatever bytes
// come before and after it, for each of the three alignments s can have in
// a longer encoded value: an "Authorization: Basic" header encodes
// user:password, Docker's X-Registry-Auth a JSON document holding it.
func base64Cores(s string) []string {
	var out []string
	for k := range 3 {
		buf := append(make([]byte, k), s...)
		full := len(buf) - len(buf)%3
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			core := enc.EncodeToString(buf[:full])
			if k > 0 && len(core) >= 4 {
				core = core[4:] // the first group mixes in the bytes before s
			}
			if len(core) >= minCore {
				out = append(out, core)
			}
		}
	}
	return out
}

// jsonEscaped returns s as it appears inside a JSON string, with or without
// HTML escaping (encoding/json and logrus escape <, > and & by default).
func jsonEscaped(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// rebuild orders the forms longest first so a secret that contains another
// is masked whole.
func (r *Redactor) rebuild() {
	all := make([]string, 0, len(r.forms))
	for f := range r.forms {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool {
		if len(all[i]) != len(all[j]) {
			return len(all[i]) > len(all[j])
		}
		return all[i] < all[j]
	})
	pairs := make([]string, 0, 2*len(all))
	for _, f := range all {
		pairs = append(pairs, f, Mask)
	}
	r.replacer = strings.NewReplacer(pairs...)
}

// Scrub returns s with every registered secret masked.
func (r *Redactor) Scrub(s string) string {
	if r == nil {
		return s
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.replacer.Replace(s)
}

// safeCut returns the largest i <= c at which s can be split without
// cutting through a registered form.
func (r *Redactor) safeCut(s string, c int) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for moved := true; moved; {
		moved = false
		for f := range r.forms {
			for lo := max(c-len(f)+1, 0); lo < c; {
				j := strings.Index(s[lo:], f)
				if j < 0 || lo+j >= c {
					break
				}
				if start := lo + j; start+len(f) > c {
					c, moved = start, true
					break
				}
				lo += j + 1
			}
		}
	}
	return c
}

// Error wraps err so that its message is scrubbed. errors.Is and errors.As
// still see the original chain. It returns nil for a nil error.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbed{err: err, msg: r.Scrub(err.Error())}
}

type scrubbed struct {
	err error
	msg string
}

func (s *scrubbed) Error() string { return s.msg }
func (s *scrubbed) Unwrap() error { return s.err }

// IsScrubbed reports whether err already went through a Redactor.
func IsScrubbed(err error) bool {
	var s *scrubbed
	return errors.As(err, &s)
}

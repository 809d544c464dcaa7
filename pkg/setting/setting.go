// Package setting parses the value formats Drone gives plugin settings.
// Every Lightship plugin reads lists, maps and durations through it, so one
// value means the same thing in every plugin.
//
// The rules:
//
//   - List: Drone joins a YAML list with commas; a block scalar or a file has
//     one item per line. Items are split on commas and newlines, trimmed,
//     and empty items dropped.
//   - Map: Drone turns a YAML map into a JSON object; users also write
//     KEY=VALUE lists. A value starting with "{" is a JSON object: string
//     values as they are, numbers and booleans as written in the JSON (8080,
//     1.5, true), anything else (object, list, null) is refused. Otherwise
//     it is a KEY=VALUE list split like List; an item without "=" (or whose
//     key would hold a space) is the tail of the previous value, which held
//     a comma. Keys and values are trimmed. Key case is kept as written: a
//     plugin that matches keys without case (e-mail addresses) folds them
//     itself.
//   - Duration: a Go duration (1m30s, 2s, 500ms), or a plain number in the
//     unit the setting has always taken (seconds for timeouts, milliseconds
//     for intervals), as Drone-era plugins wrote them.
package setting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// List splits a list setting on commas and newlines, trims the items and
// drops empty ones.
func List(s string) []string { return ListBy(s, "") }

// ListBy is List with more separators (wechat-notify's ids also take "|").
func ListBy(s, more string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == '\n' || r == '\r' || strings.ContainsRune(more, r)
	}) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Lists is List over each of items (a urfave/cli string slice) in order.
func Lists(items []string) []string {
	var out []string
	for _, it := range items {
		out = append(out, List(it)...)
	}
	return out
}

// Pair is one entry of a map setting.
type Pair struct{ Key, Value string }

// Map reads a JSON object or a KEY=VALUE list (see the package rules) and
// returns its entries sorted by key. A key given twice keeps its last value.
func Map(s string) ([]Pair, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var m map[string]string
	var err error
	if strings.HasPrefix(s, "{") {
		m, err = jsonObject(s)
	} else {
		m, err = keyValues(s)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Pair, 0, len(m))
	for k, v := range m {
		out = append(out, Pair{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// MapOf is Map as a Go map.
func MapOf(s string) (map[string]string, error) {
	pairs, err := Map(s)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.Key] = p.Value
	}
	return m, nil
}

func jsonObject(s string) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		switch x := v.(type) {
		case string:
			out[strings.TrimSpace(k)] = x
		case json.Number:
			out[strings.TrimSpace(k)] = x.String()
		case bool:
			out[strings.TrimSpace(k)] = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("%q: value must be a string, number or boolean", k)
		}
	}
	return out, nil
}

func keyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	last := ""
	for _, it := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		k, v, ok := strings.Cut(it, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			if last != "" {
				out[last] += "," + it
				continue
			}
			if strings.TrimSpace(it) == "" {
				continue
			}
			return nil, fmt.Errorf("%q must be KEY=VALUE", strings.TrimSpace(it))
		}
		out[k] = v
		last = k
	}
	for k, v := range out {
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}

// ErrNegative is returned for a negative duration.
var errNegative = errors.New("must not be negative")

// Duration reads a Go duration or a plain number (integer or decimal) in
// unit. Negative values are refused.
func Duration(s string, unit time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		d = time.Duration(n * float64(unit))
	} else if d, err = time.ParseDuration(s); err != nil {
		return 0, fmt.Errorf("%q is not a duration", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q %w", s, errNegative)
	}
	return d, nil
}

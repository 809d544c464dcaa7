package logs

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestMatchContainer(t *testing.T) {
	c := &ContainerInfo{ID: "3f2a9c1b7d4e00", Name: "/web-1", Labels: map[string]string{"env": "prod", "app": "web7"}, LogDriver: "json-file"}
	tests := []struct {
		r    Route
		want bool
	}{
		{Route{}, true},
		{Route{FilterID: "3f2a"}, true},
		{Route{FilterID: "3f2b"}, false},
		{Route{FilterName: "web-*"}, true},
		{Route{FilterName: "db*"}, false},
		{Route{FilterLabels: []string{"env:prod", "app:web*"}}, true},
		{Route{FilterLabels: []string{"env:prod", "app:db*"}}, false},
		{Route{FilterLabels: []string{"missing:x"}}, false},
	}
	for _, tt := range tests {
		if got := tt.r.MatchContainer(c); got != tt.want {
			t.Errorf("%+v: %v, want %v", tt.r, got, tt.want)
		}
	}
}

func TestTimestampsRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		ns := r.Int64N(4102444800e9) // 1970..2100
		want := time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z")
		got := string(AppendRFC3339Nano(nil, ns))
		if got != want {
			t.Fatalf("format %d: %s, want %s", ns, got, want)
		}
		back, _, data, err := SplitTimestamp([]byte(got + " x"))
		if err != nil || back != ns || string(data) != "x" {
			t.Fatalf("parse %s: %d %q %v", got, back, data, err)
		}
	}
	// Other RFC3339 forms still parse.
	ns, _, _, err := SplitTimestamp([]byte("2026-11-26T05:20:08.5+01:00 x"))
	if err != nil || ns != time.Date(2026, 11, 26, 4, 20, 8, 5e8, time.UTC).UnixNano() {
		t.Fatalf("%d %v", ns, err)
	}
	if _, _, _, err := SplitTimestamp([]byte("no timestamp here")); err == nil {
		t.Fatal("accepted a line without timestamp")
	}
}

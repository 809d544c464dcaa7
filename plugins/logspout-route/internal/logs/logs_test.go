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

// ParseTime takes the daemon's time with any number of fraction digits
// (json-file drops trailing zeros) and agrees with time.Parse.
func TestParseTimeAgreesWithTimeParse(t *testing.T) {
	for _, s := range []string{
		"2026-12-07T10:00:00Z", "2026-12-07T10:00:00.5Z", "2026-12-07T10:00:00.123Z",
		"2026-12-07T10:00:00.123456789Z", "1999-02-28T23:59:59.000000001Z", "2026-12-07T12:00:00.25+02:00",
		"2026-12-07T10:00:00.1234567890Z", // ten digits: time.Parse takes them
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseTime([]byte(s))
		if err != nil || got != want.UnixNano() {
			t.Errorf("%s: %d, %v; want %d", s, got, err, want.UnixNano())
		}
	}
	for _, bad := range []string{"", "2026-12-07", "2026-13-07T10:00:00Z", "yesterday"} {
		if _, err := ParseTime([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

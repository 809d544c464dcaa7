package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const progressSample = `plan: builder BuildKit
#1 [internal] load build definition from Dockerfile
#1 DONE 0.1s

#6 [stage-0 2/4] COPY web /web
#6 CACHED

#7 [stage-0 3/4] RUN --mount=type=cache,id=demo-web-assets,target=/var/cache/assets if ...
#7 ...

#4 [stage-0 1/4] FROM 127.0.0.1:1/base/busybox:1
#4 CACHED

#7 [stage-0 3/4] RUN --mount=type=cache,id=demo-web-assets,target=/var/cache/assets if ...
#7 1.954 assets: reused from the build cache
#7 DONE 4.9s

#8 [stage-0 4/4] RUN --mount=type=secret,id=assets_token,required=true sha256sum
#8 ERROR: process did not complete successfully
`

func TestParseProgress(t *testing.T) {
	vs := parseProgress(progressSample)
	want := map[int]string{1: "DONE", 6: "CACHED", 7: "DONE", 4: "CACHED", 8: "ERROR"}
	if len(vs) != len(want) {
		t.Fatalf("%d vertices, want %d", len(vs), len(want))
	}
	for _, v := range vs {
		if v.status != want[v.n] {
			t.Errorf("#%d %s: status %q, want %q", v.n, v.name, v.status, want[v.n])
		}
	}
	if c := find(vs, cacheMountArg); c == nil || c.n != 7 || len(c.lines) != 1 || c.lines[0] != "1.954 "+assetsReused {
		t.Errorf("cache-mount vertex %+v", c)
	}
	if find(vs, copyAppVertex).status != "CACHED" {
		t.Error("COPY not CACHED")
	}
	if len(parseProgress("Step 1/9 : FROM scratch\n ---> abc\n")) != 0 {
		t.Error("the classic builder's output parsed as BuildKit progress")
	}
}

func TestCheckSecretStepWantsARun(t *testing.T) {
	r := &run{}
	if err := r.checkSecretStep(parseProgress(progressSample)); err == nil {
		t.Error("an ERROR secret step passed")
	}
	if err := r.checkSecretStep(parseProgress("#8 [2/2] RUN " + secretMountArg + ",id=x true\n#8 CACHED\n")); err == nil {
		t.Error("a CACHED secret step passed (a rotated secret would not reach the image)")
	}
	if err := r.checkSecretStep(parseProgress("#8 [2/2] RUN " + secretMountArg + ",id=x true\n#8 DONE 0.1s\n")); err != nil {
		t.Error(err)
	}
}

func jsonEvents(t *testing.T, msgs ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range msgs {
		b, err := json.Marshal(event{Message: m, Stream: "stderr"})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestTraceWhole(t *testing.T) {
	whole := traceFirst + ", using defaults\n\tat main.loadFeatureFlags (main.go:43)\n" + traceFrame + "main.go:26)\n" + traceCause + "stat"
	if evs := traceEvents(jsonEvents(t, "heartbeat 1", whole, "heartbeat 2")); !traceWhole(evs) {
		t.Errorf("one whole trace not recognised: %+v", evs)
	}
	split := jsonEvents(t, traceFirst+", using defaults", "\tat main.loadFeatureFlags (main.go:43)", traceFrame+"main.go:26)", traceCause+"stat")
	if evs := traceEvents(split); len(evs) != 4 || traceWhole(evs) {
		t.Errorf("a trace split into %d events passed as whole", len(evs))
	}
	if traceWhole(traceEvents(jsonEvents(t, traceFirst+", using defaults\n\tat main.loadFeatureFlags (main.go:43)"))) {
		t.Error("a trace missing its last frames passed as whole")
	}
}

func layer(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestScanLayerFindsTheSecret(t *testing.T) {
	secret := "at-0123456789abcdef"
	needles := secretForms(secret)
	for name, files := range map[string]map[string]string{
		"plain file":    {"run/secrets/assets_token": secret},
		"base64 inside": {"etc/web/config": "token: " + base64.StdEncoding.EncodeToString([]byte(secret))},
		"in a name":     {"tmp/" + secret: ""},
	} {
		var f imageFacts
		if err := f.scanLayer(1, layer(t, files), needles); err != nil {
			t.Fatal(err)
		}
		if len(f.leaks) == 0 {
			t.Errorf("%s: secret not found", name)
		}
	}
	var f imageFacts
	if err := f.scanLayer(1, layer(t, map[string]string{"./" + secretHashFile: "abc123\n", "web": "binary"}), needles); err != nil {
		t.Fatal(err)
	}
	if len(f.leaks) != 0 || f.hash != "abc123" || f.files != 2 {
		t.Errorf("clean layer: leaks %v, hash %q, files %d", f.leaks, f.hash, f.files)
	}
}

func TestRolloutComplete(t *testing.T) {
	two := int32(2)
	d := &appsv1.Deployment{}
	d.Generation = 2
	d.Spec.Replicas = &two
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
	if !rolloutComplete(d) {
		t.Error("a complete rollout is not complete")
	}
	for name, mutate := range map[string]func(*appsv1.Deployment){
		"not observed":  func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 1 },
		"old pod left":  func(d *appsv1.Deployment) { d.Status.Replicas = 3 },
		"one updated":   func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 },
		"one available": func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 },
	} {
		c := d.DeepCopy()
		mutate(c)
		if rolloutComplete(c) {
			t.Errorf("%s: counted complete", name)
		}
	}
}

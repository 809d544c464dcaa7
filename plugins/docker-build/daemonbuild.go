package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/lightship-ci/lightship/plugins/docker-build/buildsession"
	"github.com/lightship-ci/lightship/plugins/docker-build/progress"
	"github.com/moby/buildkit/client"
)

// imageIDAux is the aux id of the image id in a BuildKit build stream.
const imageIDAux = "moby.image.id"

// inlineCacheArg asks BuildKit to write cache metadata into the image.
const inlineCacheArg = "BUILDKIT_INLINE_CACHE"

// withArg returns a copy of args with k=v.
func withArg(args map[string]*string, k, v string) map[string]*string {
	out := make(map[string]*string, len(args)+1)
	for a, x := range args {
		out[a] = x
	}
	out[k] = &v
	return out
}

// buildWithBuildKit runs the build on the daemon's BuildKit: POST
// /build?version=2 and a BuildKit session hijacked on /session that
// serves the context and the Dockerfile (filesync, .dockerignore applied
// by BuildKit) and answers registry credential, secret and ssh requests.
// Progress is BuildKit's, printed by its plain printer.
func (r *runner) buildWithBuildKit(ctx context.Context, opts build.ImageBuildOptions) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	files, dockerfile, err := sessionContext(r.plan.Build.ContextDir, r.plan.Build.Dockerfile)
	if err != nil {
		return "", err
	}
	sess, err := buildsession.Start(ctx, r.plan.sessionOptions(), buildsession.DockerDialer(r.daemon.DialHijack), files)
	if err != nil {
		return "", err
	}
	opts.RemoteContext, opts.Dockerfile = clientSession, dockerfile
	if _, set := opts.BuildArgs[inlineCacheArg]; !set {
		// Pushed images carry their cache metadata, so a later build's
		// cache_from can use them (the classic builder reads any image).
		opts.BuildArgs = withArg(opts.BuildArgs, inlineCacheArg, "1")
	}
	defer sess.Close()
	var id [16]byte
	_, _ = rand.Read(id[:])
	opts.Version = build.BuilderBuildKit
	opts.SessionID = sess.ID()
	opts.BuildID = hex.EncodeToString(id[:])
	// BuildKit keeps no intermediate containers: Remove/ForceRemove are
	// the classic builder's.
	opts.Remove, opts.ForceRemove = false, false
	resp, err := r.daemon.ImageBuild(ctx, nil, opts)
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	defer resp.Body.Close()

	ch := make(chan *client.SolveStatus, 16)
	printed := make(chan error, 1)
	out := r.env.Report("build") // safe for the printer and the stream at once
	go func() {
		_, err := progress.Print(context.WithoutCancel(ctx), ch, out, progress.Plain)
		printed <- err
	}()
	var f failures
	imageID, err := readBuildKitStream(resp.Body, ch, out, &f)
	close(ch)
	if perr := <-printed; perr != nil && err == nil {
		r.env.Log.Warnf("build progress: %v", perr)
	}
	if err != nil {
		return "", fmt.Errorf("build: %w", r.explainAuth(f.explain(err)))
	}
	return imageID, nil
}

// explainAuth says which logins the step has when a registry refused an
// image the build pulls.
func (r *runner) explainAuth(err error) error {
	s := strings.ToLower(err.Error())
	if !strings.Contains(s, "401 unauthorized") && !strings.Contains(s, "403 forbidden") &&
		!strings.Contains(s, "no basic auth credentials") && !strings.Contains(s, "authorization failed") {
		return err
	}
	hosts := make([]string, 0, len(r.plan.Logins))
	for _, c := range r.plan.Logins {
		hosts = append(hosts, c.Host)
	}
	have := "the step has no registry login"
	if len(hosts) > 0 {
		have = "the step has logins for " + strings.Join(hosts, ", ") + " only"
	}
	return &streamError{msg: fmt.Sprintf("%v\na registry refused an image the build pulls (FROM, cache_from or # syntax=): %s; "+
		"set username/password for it, or add its host to the auths of config", err, have)}
}

// readBuildKitStream decodes a BuildKit build stream: trace aux messages
// go to ch (and to f, which remembers failing steps), the image id comes
// from moby.image.id, other text goes to out. The first in-band error
// ends it.
func readBuildKitStream(r io.Reader, ch chan<- *client.SolveStatus, out io.Writer, f *failures) (string, error) {
	var imageID string
	err := eachMessage(r, func(m message) {
		switch m.ID {
		case progress.TraceID:
			if st, err := progress.DecodeTrace(m.Aux); err == nil { // a status we cannot read costs only its lines
				f.add(st)
				ch <- st
			}
		case imageIDAux:
			var aux struct {
				ID string `json:"ID"`
			}
			if json.Unmarshal(m.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		default:
			// "Successfully tagged" repeats BuildKit's "naming to" lines.
			if m.Stream != "" && !strings.HasPrefix(m.Stream, "Successfully tagged ") {
				_, _ = io.WriteString(out, m.Stream)
			}
		}
	})
	return imageID, err
}

// failures remembers, per step, its name and last output lines, and the
// steps that failed, to explain a failed build in one error.
type failures struct {
	names  map[string]string
	lines  map[string][]string
	failed []string // digests, in order
	errs   map[string]string
}

// lastLines is how many output lines of a failed step the error repeats.
const lastLines = 10

func (f *failures) add(st *client.SolveStatus) {
	if f.names == nil {
		f.names, f.lines, f.errs = map[string]string{}, map[string][]string{}, map[string]string{}
	}
	for _, v := range st.Vertexes {
		d := v.Digest.String()
		f.names[d] = v.Name
		if v.Error != "" && f.errs[d] == "" {
			f.errs[d] = v.Error
			f.failed = append(f.failed, d)
		}
	}
	for _, l := range st.Logs {
		d := l.Vertex.String()
		for _, line := range strings.Split(strings.TrimRight(string(l.Data), "\n"), "\n") {
			f.lines[d] = append(f.lines[d], strings.TrimRight(line, "\r"))
		}
		if n := len(f.lines[d]); n > lastLines {
			f.lines[d] = f.lines[d][n-lastLines:]
		}
	}
}

// explain adds the failing step (its command) and its last output lines
// to the daemon's error.
func (f *failures) explain(err error) error {
	for _, d := range f.failed {
		if strings.Contains(f.errs[d], "context canceled") {
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "step %s failed: %s", f.names[d], err)
		if ls := f.lines[d]; len(ls) > 0 {
			b.WriteString("\nlast output lines:")
			for _, l := range ls {
				b.WriteString("\n  " + l)
			}
		}
		return &streamError{msg: b.String()}
	}
	return err
}

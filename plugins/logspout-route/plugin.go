package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/api"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/engine"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/jsonfile"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/pump"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/route"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/state"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

// Settings are the plugin's settings, filled by its flags. Every setting
// also answers to logspout's (or looplab's) own variable name.
type Settings struct {
	RouteURIs      string
	Backlog        bool
	AllowTTY       bool
	ExcludeLabels  string
	BindAddress    string
	Port           string
	RoutesPath     string
	StatePath      string
	QueueSize      int
	ResendTail     int
	BatchSize      int
	WriteTimeout   time.Duration
	Debug          string
	RawFormat      string
	SyslogFormat   string
	SyslogPriority string
	SyslogHostname string
	SyslogTag      string
	SyslogPID      string
	SyslogSD       string
	SyslogData     string
	SyslogFraming  string
	LogstashFields string
	LogstashTags   string
	DockerLabels   string
	Include        string
	IncludeRegex   string
	DecodeJSON     string
	Tail           string
	Inactivity     time.Duration
	SyslogTS       string
	TLSClientCert  string
	TLSClientKey   string
	MLEnable       string
	MLPattern      string
	MLMatch        string
	MLSeparator    string
	MLFlushAfter   string
	MLMaxBytes     int
	ContainersDir  string

	sinks     sinkSettings
	multiline *pump.Multiline
	tail      int
	adapters  *route.Registry
	routes    []*logs.Route
	includeR  *regexp.Regexp
}

func (s *Settings) flags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "route_uris", Usage: "routes, comma-separated: adapter[+transport]://host:port[?filter.name=..&filter.id=..&filter.labels=k:v%2Ck2:v&filter.sources=stdout%2Cstderr&append_tag=..]; adapters logstash, syslog, raw, beats (tcp, udp, tls transports), kafka (+tls), elasticsearch (+https); kafka and beats take several host:port. A route given as the first argument replaces it", EnvVars: plugin.EnvVars("route_uris", "ROUTE_URIS"), Destination: &s.RouteURIs},
		&cli.BoolFlag{Name: "backlog", Usage: "ship containers' logs from their creation, also for containers running before start-up (logspout's BACKLOG=true)", EnvVars: plugin.EnvVars("backlog", "BACKLOG"), Destination: &s.Backlog},
		&cli.BoolFlag{Name: "allow_tty", Usage: "read TTY containers too (raw stream, all stdout)", EnvVars: plugin.EnvVars("allow_tty", "ALLOW_TTY"), Destination: &s.AllowTTY},
		&cli.StringFlag{Name: "exclude_labels", Usage: "skip containers with these labels: ';'-separated key or key:value (value defaults to true), case-insensitive", EnvVars: plugin.EnvVars("exclude_labels", "EXCLUDE_LABELS", "EXCLUDE_LABEL"), Destination: &s.ExcludeLabels},
		&cli.StringFlag{Name: "http_bind_address", Usage: "address of the HTTP API (/routes, /health, /metrics)", Value: "0.0.0.0", EnvVars: plugin.EnvVars("http_bind_address", "HTTP_BIND_ADDRESS"), Destination: &s.BindAddress},
		&cli.StringFlag{Name: "port", Usage: "port of the HTTP API; 0 picks a free one, off disables it", Value: "80", EnvVars: plugin.EnvVars("port", "PORT", "HTTP_PORT"), Destination: &s.Port},
		&cli.StringFlag{Name: "routespath", Usage: "directory persisting routes added through /routes (used only if it exists)", Value: "/mnt/routes", EnvVars: plugin.EnvVars("routespath", "ROUTESPATH"), Destination: &s.RoutesPath},
		&cli.StringFlag{Name: "state_path", Usage: "state file: per container, the last delivered timestamp and line count, to resume exactly after a restart; empty disables", Value: "/var/lib/logspout-route/state.json", EnvVars: plugin.EnvVars("state_path", "STATE_PATH"), Destination: &s.StatePath},
		&cli.IntFlag{Name: "queue_size", Usage: "lines each route may hold unconfirmed; a full queue holds back the containers feeding it", Value: 10000, EnvVars: plugin.EnvVars("queue_size", "QUEUE_SIZE"), Destination: &s.QueueSize},
		&cli.IntFlag{Name: "tcp_resend_tail", Usage: "plain TCP/TLS: lines already acknowledged by the peer's TCP that are sent again after a reconnect (what a dying sink may have received but not processed)", Value: 1000, EnvVars: plugin.EnvVars("tcp_resend_tail", "TCP_RESEND_TAIL"), Destination: &s.ResendTail},
		&cli.IntFlag{Name: "batch_size", Usage: "lines per write (stream transports) or per lumberjack window (beats)", Value: 1024, EnvVars: plugin.EnvVars("batch_size", "BATCH_SIZE"), Destination: &s.BatchSize},
		&cli.DurationFlag{Name: "write_timeout", Usage: "a sink that accepts nothing (or a beats server that does not ACK) for this long is reconnected", Value: 30 * time.Second, EnvVars: plugin.EnvVars("write_timeout", "WRITE_TIMEOUT"), Destination: &s.WriteTimeout},
		&cli.StringFlag{Name: "debug", Usage: "any value turns on debug logs (logspout's DEBUG)", EnvVars: plugin.EnvVars("debug", "DEBUG"), Destination: &s.Debug},
		&cli.StringFlag{Name: "raw_format", Usage: "Go template per line for raw routes ({{.Data}}, {{.Source}}, {{.Time}}, {{.Container.Name}}, toJSON); the default needs no template run", Value: route.DefaultRawFormat, EnvVars: plugin.EnvVars("raw_format", "RAW_FORMAT"), Destination: &s.RawFormat},
		&cli.StringFlag{Name: "syslog_format", Usage: "rfc5424 or rfc3164", Value: "rfc5424", EnvVars: plugin.EnvVars("syslog_format", "SYSLOG_FORMAT"), Destination: &s.SyslogFormat},
		&cli.StringFlag{Name: "syslog_priority", Usage: "syslog priority template (per container and stream)", Value: "{{.Priority}}", EnvVars: plugin.EnvVars("syslog_priority", "SYSLOG_PRIORITY"), Destination: &s.SyslogPriority},
		&cli.StringFlag{Name: "syslog_hostname", Usage: "syslog hostname template; /etc/host_hostname wins when present", Value: "{{.Container.Config.Hostname}}", EnvVars: plugin.EnvVars("syslog_hostname", "SYSLOG_HOSTNAME"), Destination: &s.SyslogHostname},
		&cli.StringFlag{Name: "syslog_tag", Usage: "syslog tag (app-name) template; the route option append_tag is appended", Value: "{{.ContainerName}}", EnvVars: plugin.EnvVars("syslog_tag", "SYSLOG_TAG"), Destination: &s.SyslogTag},
		&cli.StringFlag{Name: "syslog_pid", Usage: "syslog procid template", Value: "{{.Container.State.Pid}}", EnvVars: plugin.EnvVars("syslog_pid", "SYSLOG_PID"), Destination: &s.SyslogPID},
		&cli.StringFlag{Name: "syslog_structured_data", Usage: "RFC 5424 structured data", EnvVars: plugin.EnvVars("syslog_structured_data", "SYSLOG_STRUCTURED_DATA"), Destination: &s.SyslogSD},
		&cli.StringFlag{Name: "syslog_data", Usage: "syslog message template; only {{.Data}} is supported", Value: "{{.Data}}", EnvVars: plugin.EnvVars("syslog_data", "SYSLOG_DATA"), Destination: &s.SyslogData},
		&cli.StringFlag{Name: "syslog_tcp_framing", Usage: "traditional ('\\n') or octet-counted (RFC 6587), stream transports only", Value: "traditional", EnvVars: plugin.EnvVars("syslog_tcp_framing", "SYSLOG_TCP_FRAMING"), Destination: &s.SyslogFraming},
		&cli.StringFlag{Name: "logstash_fields", Usage: "k=v,k2=v2 added to every logstash/beats event (a container's own LOGSTASH_FIELDS wins)", EnvVars: plugin.EnvVars("logstash_fields", "LOGSTASH_FIELDS"), Destination: &s.LogstashFields},
		&cli.StringFlag{Name: "logstash_tags", Usage: "comma list into tags (a container's own LOGSTASH_TAGS wins)", EnvVars: plugin.EnvVars("logstash_tags", "LOGSTASH_TAGS"), Destination: &s.LogstashTags},
		&cli.StringFlag{Name: "docker_labels", Usage: "any value: add container labels to docker.labels ('.' in keys becomes '_')", EnvVars: plugin.EnvVars("docker_labels", "DOCKER_LABELS"), Destination: &s.DockerLabels},
		&cli.StringFlag{Name: "include_containers", Usage: "logstash/beats: only these container names, comma-separated", EnvVars: plugin.EnvVars("include_containers", "INCLUDE_CONTAINERS"), Destination: &s.Include},
		&cli.StringFlag{Name: "include_containers_regex", Usage: "logstash/beats: only container names matching this regular expression", EnvVars: plugin.EnvVars("include_containers_regex", "INCLUDE_CONTAINERS_REGEX"), Destination: &s.IncludeRegex},
		&cli.StringFlag{Name: "tail", Usage: "a container attached for the first time (no saved position) is read from its last N log entries, however old; all = from our start-up (or its creation; BACKLOG: everything)", Value: "all", EnvVars: plugin.EnvVars("tail", "TAIL"), Destination: &s.Tail},
		&cli.DurationFlag{Name: "inactivity_timeout", Usage: "a followed log stream silent this long is attached again from its position (nothing lost or repeated); 0 = never", EnvVars: plugin.EnvVars("inactivity_timeout", "INACTIVITY_TIMEOUT"), Destination: &s.Inactivity},
		&cli.StringFlag{Name: "syslog_timestamp", Usage: "syslog timestamp template ({{.Timestamp}}: Docker's time, RFC 3339 with microseconds for rfc5424, Stamp for rfc3164; {{.Time}} is a time.Time)", Value: "{{.Timestamp}}", EnvVars: plugin.EnvVars("syslog_timestamp", "SYSLOG_TIMESTAMP"), Destination: &s.SyslogTS},
		&cli.StringFlag{Name: "tls_client_cert", Usage: "client certificate (PEM text or a file path) presented by tls routes (mutual TLS); needs tls_client_key", EnvVars: plugin.EnvVars("tls_client_cert", "LOGSPOUT_TLS_CLIENT_CERT"), Destination: &s.TLSClientCert},
		&cli.StringFlag{Name: "tls_client_key", Usage: "the client certificate's private key (PEM text or a file path)", EnvVars: plugin.EnvVars("tls_client_key", "LOGSPOUT_TLS_CLIENT_KEY"), Destination: &s.TLSClientKey},
		&cli.StringFlag{Name: "multiline_enable_default", Usage: "multiline+ routes group every container's lines unless it says LOGSPOUT_MULTILINE=false (env or label); false: only containers saying LOGSPOUT_MULTILINE=true", Value: "true", EnvVars: plugin.EnvVars("multiline_enable_default", "MULTILINE_ENABLE_DEFAULT"), Destination: &s.MLEnable},
		&cli.StringFlag{Name: "multiline_pattern", Usage: "regular expression deciding group boundaries (see multiline_match)", Value: `^\s`, EnvVars: plugin.EnvVars("multiline_pattern", "MULTILINE_PATTERN"), Destination: &s.MLPattern},
		&cli.StringFlag{Name: "multiline_match", Usage: "first: a matching line starts a group; nonfirst: a line not matching starts one (indented lines continue it); last: a matching line ends a group; nonlast: a line not matching ends one", Value: "nonfirst", EnvVars: plugin.EnvVars("multiline_match", "MULTILINE_MATCH"), Destination: &s.MLMatch},
		&cli.StringFlag{Name: "multiline_separator", Usage: "joins a group's lines (empty: a newline)", EnvVars: plugin.EnvVars("multiline_separator", "MULTILINE_SEPARATOR"), Destination: &s.MLSeparator},
		&cli.StringFlag{Name: "multiline_flush_after", Usage: "milliseconds: a group with no new line for this long is shipped", Value: "500", EnvVars: plugin.EnvVars("multiline_flush_after", "MULTILINE_FLUSH_AFTER"), Destination: &s.MLFlushAfter},
		&cli.IntFlag{Name: "multiline_max_bytes", Usage: "a group is cut (and logspout_route_multiline_cut_total counts it) when it would exceed this size", Value: 1 << 20, EnvVars: plugin.EnvVars("multiline_max_bytes", "MULTILINE_MAX_BYTES"), Destination: &s.MLMaxBytes},
		&cli.StringFlag{Name: "containers_dir", Usage: "the daemon's container directory (<DockerRootDir>/containers), mounted read-only: json-file logs are read from their files (exact resume, a fraction of dockerd's CPU); CONTAINERS_DIR also sets it, and CONTAINERS_DIR= (empty) or off turns the file source off: every container is then read through the Engine API, as when the directory is not readable", Value: "/var/lib/docker/containers", EnvVars: plugin.EnvVars("containers_dir"), Destination: &s.ContainersDir},
		&cli.StringFlag{Name: "decode_json_logs", Usage: "false: never merge JSON-object lines into the event (a container's own DECODE_JSON_LOGS wins)", EnvVars: plugin.EnvVars("decode_json_logs", "DECODE_JSON_LOGS"), Destination: &s.DecodeJSON},
	}, s.sinks.flags()...)
}

func newApp(version string) plugin.App {
	s := &Settings{}
	return plugin.FromNotes(notes, version, s, s.flags())
}

// Validate parses the routes and templates: a bad one exits 2 naming it.
// The checked settings are the job.
func (s *Settings) Validate(env *plugin.Env) (plugin.Job, error) {
	if err := s.check(env); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Settings) check(env *plugin.Env) error {
	uris := s.RouteURIs
	if len(env.Args) > 0 && env.Args[0] != "" {
		uris = env.Args[0] // logspout: a route URI argument replaces ROUTE_URIS
	}
	s.adapters = route.Builtin()
	route.RegisterSinks(s.adapters, s.sinks.secrets())
	routes, err := s.adapters.ParseURIs(uris, env.Environ.Get)
	if err != nil {
		return plugin.Invalid("route_uris", "%v", err)
	}
	s.routes = routes
	if s.QueueSize < 1 {
		return plugin.Invalid("queue_size", "%d must be at least 1", s.QueueSize)
	}
	if s.ResendTail < 0 {
		return plugin.Invalid("tcp_resend_tail", "%d must not be negative", s.ResendTail)
	}
	if s.BatchSize < 1 {
		return plugin.Invalid("batch_size", "%d must be at least 1", s.BatchSize)
	}
	if s.WriteTimeout <= 0 {
		return plugin.Invalid("write_timeout", "%s must be positive", s.WriteTimeout)
	}
	if s.Port != "off" {
		if p, err := strconv.Atoi(s.Port); err != nil || p < 0 || p > 65535 {
			return plugin.Invalid("port", "%q must be a port number or off", s.Port)
		}
	}
	if s.Inactivity < 0 {
		return plugin.Invalid("inactivity_timeout", "%s must not be negative", s.Inactivity)
	}
	if s.tail, err = parseTail(s.Tail); err != nil {
		return plugin.Invalid("tail", "%v", err)
	}
	if _, err := s.clientCert(); err != nil {
		return err
	}
	ml, setting, err := pump.ParseMultiline(s.MLEnable, s.MLPattern, s.MLMatch, s.MLSeparator, s.MLFlushAfter, s.MLMaxBytes)
	if err != nil {
		return plugin.Invalid(setting, "%v", err)
	}
	s.multiline = ml
	if s.SyslogData != "{{.Data}}" {
		return plugin.Invalid("syslog_data", "%q: only {{.Data}} is supported", s.SyslogData)
	}
	if s.IncludeRegex != "" {
		if s.includeR, err = regexp.Compile(s.IncludeRegex); err != nil {
			return plugin.Invalid("include_containers_regex", "%v", err)
		}
	}
	if setting, err := s.formats().Validate(); err != nil {
		return plugin.Invalid(setting, "%v", err)
	}
	return nil
}

func (s *Settings) formats() *route.Formats {
	return &route.Formats{
		RawFormat: s.RawFormat, SyslogFormat: s.SyslogFormat, SyslogPrio: s.SyslogPriority,
		SyslogHost: s.SyslogHostname, SyslogTag: s.SyslogTag, SyslogPID: s.SyslogPID, SyslogSD: s.SyslogSD,
		SyslogFraming: s.SyslogFraming, SyslogTimestamp: s.SyslogTS,
		Logstash: route.LogstashConfig{
			Fields: s.LogstashFields, Tags: s.LogstashTags, DecodeJSON: s.DecodeJSON,
			DockerLabels: s.DockerLabels != "", Include: logs.SplitList(s.Include), IncludeRe: s.includeR,
			HostHostname: route.ReadHostHostname(),
		},
	}
}

// gcPercent is the garbage collector's target heap growth unless GOGC is set.
const gcPercent = 50

// Execute runs until the context ends (SIGTERM): it never exits because a
// sink or the daemon went away. The stages are built in one line: state,
// routes, pump (reading into the routes), API (given both).
func (s *Settings) Execute(ctx context.Context, env *plugin.Env) error {
	log := env.Log
	if s.Debug != "" {
		log.SetLevel(logrus.DebugLevel)
	}
	if _, ok := env.Environ.Lookup("GOGC"); !ok {
		// A host daemon beside many quiet containers: collect at half
		// Go's default growth (make bench: peak RSS with 100 containers
		// 26.5 -> 22.7 MB, CPU per line unchanged). GOGC in the
		// environment wins.
		debug.SetGCPercent(gcPercent)
	}
	tlsCfg, err := s.tlsConfig(env)
	if err != nil {
		return err
	}
	reg := logs.NewRegistry()
	st, err := s.openState(log, reg)
	if err != nil {
		return err
	}
	eng, err := engine.NewClient(ctx, env.Lookup)
	if err != nil && eng == nil {
		return &plugin.SettingsError{Setting: "DOCKER_HOST", Msg: err.Error()}
	}
	if err != nil {
		log.WithError(err).Warn("docker daemon not answering yet; retrying")
	}
	set := metrics.NewSet()
	rt := route.New(log, route.Config{
		QueueSize: s.QueueSize, ResendTail: s.ResendTail, WriteTimeout: s.WriteTimeout,
		Batch: s.BatchSize, TLS: tlsCfg, Formats: s.formats(), OnAck: st.FlushSoon,
	}, s.adapters, set, reg)
	defer rt.Stop()
	unreadable := set.NewCounter("logspout_route_unreadable_containers_total")
	cuts := set.NewCounter("logspout_route_multiline_cut_total")
	ml := *s.multiline
	ml.OnCut = cuts.Inc
	sources, closeFiles := s.fileSource(log, set, env.Environ)
	defer closeFiles()
	p := pump.New(eng, log, rt, st, reg, pump.Config{
		AllowTTY: s.AllowTTY, Exclude: pump.ParseExcludeLabels(s.ExcludeLabels), Backlog: s.Backlog, Tail: s.tail,
		Sources:      append(sources, &engine.Source{API: eng, TailSteps: engine.DefaultTailSteps()}),
		OnUnreadable: func(*logs.ContainerInfo) { unreadable.Inc() }, InactivityTimeout: s.Inactivity,
		Multiline: &ml,
	})
	set.NewGauge("logspout_route_containers", func() float64 { return float64(reg.Len()) })
	for _, r := range s.routes {
		if err := rt.Add(r); err != nil {
			return plugin.Invalid("route_uris", "%v", err)
		}
	}
	a := &api.API{Routes: rt, DaemonUp: p.DaemonUp, RoutesPath: s.RoutesPath, Metrics: set}
	if err := a.LoadRoutes(); err != nil {
		return plugin.Invalid("routespath", "%v", err)
	}
	stopHTTP, err := s.serveHTTP(env, a)
	if err != nil {
		return err
	}
	defer stopHTTP()
	for _, r := range rt.List() {
		log.WithField("route", r.ID).Infof("routing to %s://%s", r.Adapter, r.Address)
	}
	run(ctx, p, rt, st)
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// parseTail reads TAIL: all (0) or a number of entries.
func parseTail(v string) (int, error) {
	if v == "" || v == "all" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q must be all or a number of lines", v)
	}
	return n, nil
}

// tlsConfig is pkg/httpx's (ca_cert, skip_verify) plus the client
// certificate of mutual TLS.
func (s *Settings) tlsConfig(env *plugin.Env) (*tls.Config, error) {
	cfg, err := httpx.TLSConfig(env.Common.SkipVerify, env.Common.CACert)
	if err != nil {
		return nil, plugin.Invalid("ca_cert", "%v", err)
	}
	cert, err := s.clientCert()
	if err != nil {
		return nil, err
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// clientCert loads LOGSPOUT_TLS_CLIENT_CERT/_KEY (PEM text or paths).
func (s *Settings) clientCert() (*tls.Certificate, error) {
	return plugin.ClientCertificate("tls_client_cert", "tls_client_key", s.TLSClientCert, s.TLSClientKey)
}

// fileSource is the json-file reader when containers_dir is readable
// (none otherwise: every container goes through the Engine API). Lines
// rotated away before they were read are counted and logged.
func (s *Settings) fileSource(log *logrus.Logger, set *metrics.Set, environ plugin.Environ) ([]logs.Source, func()) {
	// CONTAINERS_DIR is read here, not as the flag's alias: the kit drops
	// empty flag variables (Drone sends every setting, empty ones too),
	// and CONTAINERS_DIR= (empty) must turn the file source off.
	if v, ok := environ.Lookup("CONTAINERS_DIR"); ok && environ.Get("PLUGIN_CONTAINERS_DIR") == "" {
		s.ContainersDir = strings.TrimSpace(v)
	}
	if s.ContainersDir == "" || s.ContainersDir == "off" {
		log.Info("file source off (containers_dir empty): every container is read through the Engine API")
		return nil, func() {}
	}
	if _, err := os.ReadDir(s.ContainersDir); err != nil {
		log.WithError(err).Infof("file source off: %s not readable; every container is read through the Engine API", s.ContainersDir)
		return nil, func() {}
	}
	w, err := jsonfile.NewWatcher()
	if err != nil {
		log.WithError(err).Warn("file source off: every container is read through the Engine API")
		return nil, func() {}
	}
	lost := set.NewCounter("logspout_route_lines_rotated_away_total")
	gaps := set.NewCounter("logspout_route_rotation_gaps_total")
	src := &jsonfile.Source{Dir: s.ContainersDir, Watcher: w, OnLost: func(id string, n int64, gap bool) {
		l := log.WithField("container", id[:min(12, len(id))])
		if n > 0 {
			lost.Add(int(n))
			l.Warnf("%d lines rotated away before they were read (the daemon's max-size/max-file kept no more)", n)
		}
		if gap {
			gaps.Inc()
			l.Warn("lines rotated away uncounted: a file was gone before it could be opened (resume position's file deleted, a rotation faster than the watcher, or max-file=1 truncating the log)")
		}
	}}
	log.Infof("file source: json-file logs are read from %s", s.ContainersDir)
	return []logs.Source{jsonfile.LogsSource{Source: src}}, func() { _ = w.Close() }
}

// openState loads the state file (creating its directory).
func (s *Settings) openState(log *logrus.Logger, reg *logs.Registry) (*state.Store, error) {
	if s.StatePath != "" {
		if err := os.MkdirAll(filepath.Dir(s.StatePath), 0o755); err != nil {
			log.WithError(err).Warn("state directory; positions will not survive a restart")
		}
	}
	st, err := state.Load(s.StatePath, log, reg)
	if err != nil {
		return nil, plugin.Invalid("state_path", "%v", err)
	}
	return st, nil
}

// serveHTTP starts the HTTP API unless PORT=off.
func (s *Settings) serveHTTP(env *plugin.Env, a *api.API) (stop func(), err error) {
	log := env.Log
	if s.Port == "off" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.BindAddress, s.Port))
	if err != nil {
		return nil, fmt.Errorf("http api: %w", err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	log.WithField("addr", ln.Addr().String()).Info("http api listening")
	announceAddr(env, ln.Addr().String())
	return func() { srv.Close() }, nil
}

// run reads until ctx ends, then stops in order: readers, routes, and the
// final positions (an ACK that arrives while routes stop is still recorded).
func run(ctx context.Context, p *pump.Pump, rt *route.Router, st *state.Store) {
	// On shutdown, wake readers waiting on a full queue so they can end.
	stopWaiting := context.AfterFunc(ctx, rt.CloseQueues)
	defer stopWaiting()
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		st.Run(ctx)
	}()
	p.Run(ctx)
	<-stateDone
	rt.Stop()
	st.Flush(false)
	st.Flush(true)
	st.Close()
}

// announceAddr lets tests find a PORT=0 listener: it writes the address to
// the file named by LOGSPOUT_ROUTE_ADDR_FILE, if set.
func announceAddr(env *plugin.Env, addr string) {
	if f, _ := env.Lookup("LOGSPOUT_ROUTE_ADDR_FILE"); f != "" {
		_ = state.WriteAtomic(f, []byte(addr), false)
	}
}

package plugin

import (
	"fmt"
	"io"

	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/httpx"
	"github.com/lightship-ci/lightship/pkg/redact"
	"github.com/lightship-ci/lightship/pkg/report"
	"github.com/lightship-ci/lightship/pkg/result"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

// Common holds the settings every plugin has.
type Common struct {
	EnvFile    string
	LogLevel   string
	LogFormat  string
	SkipVerify bool
	CACert     string
}

func (c *Common) flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "env_file", Usage: "dotenv file loaded before the settings are read", EnvVars: EnvVars("env_file"), Destination: &c.EnvFile, Category: "Common"},
		&cli.StringFlag{Name: "log_level", Usage: "info or debug", Value: "info", EnvVars: EnvVars("log_level"), Destination: &c.LogLevel, Category: "Common"},
		&cli.StringFlag{Name: "log_format", Usage: "text or json", Value: "text", EnvVars: EnvVars("log_format"), Destination: &c.LogFormat, Category: "Common"},
		&cli.BoolFlag{Name: "skip_verify", Usage: "skip TLS certificate verification", EnvVars: EnvVars("skip_verify"), Destination: &c.SkipVerify, Category: "Common"},
		&cli.StringFlag{Name: "ca_cert", Usage: "extra CA certificate to trust: PEM text or a file path", EnvVars: EnvVars("ca_cert"), Destination: &c.CACert, Category: "Common"},
	}
}

func (c *Common) logger(out io.Writer, r *redact.Redactor) (*logrus.Logger, error) {
	l := logrus.New()
	l.SetOutput(out)
	l.AddHook(redact.Hook{R: r})
	switch c.LogLevel {
	case "", "info":
		l.SetLevel(logrus.InfoLevel)
	case "debug":
		l.SetLevel(logrus.DebugLevel)
	default:
		return nil, Invalid("log_level", "%q must be info or debug", c.LogLevel)
	}
	switch c.LogFormat {
	case "", "text":
		l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, Invalid("log_format", "%q must be text or json", c.LogFormat)
	}
	return l, nil
}

// Env is what a plugin gets besides its own settings.
type Env struct {
	Common Common
	// Log writes through the redactor.
	Log *logrus.Logger
	// Stdout is the scrubbed stdout. Write the plugin's report (plan,
	// progress, tables) through Report, which follows log_format.
	Stdout io.Writer
	// Redactor holds the run's secrets; register derived secrets with it.
	Redactor *redact.Redactor
	// Build is the CI build metadata, read from Environ.
	Build drone.Metadata
	// Environ is the run's environment (process environment and env
	// files): read variables through Lookup, never os.Getenv.
	Environ Environ
	// Workspace is where results are read and written.
	Workspace string
	// Version is the plugin's version string.
	Version string
	// Args are positional arguments after the flags.
	Args []string
	// Name is the plugin's name (docker-build, ...).
	Name string
}

// HTTP returns an httpx client with the common TLS settings and a User-Agent
// naming this plugin and version applied to o.
func (e *Env) HTTP(o httpx.Options) (*httpx.Client, error) {
	o.SkipVerify = o.SkipVerify || e.Common.SkipVerify
	if o.CACert == "" {
		o.CACert = e.Common.CACert
	}
	if o.UserAgent == "" {
		o.UserAgent = fmt.Sprintf("lightship-%s/%s", e.Name, e.Version)
	}
	c, err := httpx.New(o)
	if err != nil {
		return nil, Invalid("ca_cert", "%v", err)
	}
	return c, nil
}

// Report returns where a part of the plugin's report goes (source names
// it: "plan", "build", ...): stdout as text, or one JSON log entry per line
// and per table row under log_format json. Both pass through the redactor.
func (e *Env) Report(source string) *report.Writer {
	if e.Common.LogFormat == "json" {
		return report.JSON(e.Log, source)
	}
	return report.Text(e.Stdout)
}

// Lookup returns a variable of the run's environment and whether it is set.
func (e *Env) Lookup(name string) (string, bool) { return e.Environ.Lookup(name) }

// WriteResult leaves v as this plugin's result for later steps
// (.lightship/<name>.json under the workspace), stamped with this build.
func (e *Env) WriteResult(v any) error {
	return result.Write(e.Workspace, e.Name, result.OriginOf(e.Build), v)
}

// ReadResult loads plugin's result into v and accepts it only when this
// build wrote it: another build's file, or one without a record, is a
// *result.ForeignError. Without any CI metadata it is accepted with a
// warning. A missing file wraps os.ErrNotExist.
func (e *Env) ReadResult(plugin string, v any) error {
	warning, err := result.ReadFrom(e.Workspace, plugin, result.OriginOf(e.Build), v)
	if warning != "" {
		e.Log.Warn(warning)
	}
	return err
}

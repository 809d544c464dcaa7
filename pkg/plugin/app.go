// Package plugin is the run harness every Lightship plugin uses: a urfave/cli
// app built from the plugin's flags plus the common ones, env files, logging
// through the redactor, and errors mapped to exit codes.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/lightship-ci/lightship/pkg/docsgen"
	"github.com/lightship-ci/lightship/pkg/drone"
	"github.com/lightship-ci/lightship/pkg/redact"
	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"
)

// Plugin is one plugin's settings. Its flags write into it (Destination)
// before Validate runs; flag fields stay flag fields.
type Plugin interface {
	// Validate checks the settings and returns the checked job, which holds
	// every derived value; its errors exit 2. Use Required and Invalid.
	Validate(env *Env) (Job, error)
}

// Job is a plugin's checked work, made by Validate.
type Job interface {
	// Execute does the job; its errors exit 1 (a *SettingsError still exits 2).
	Execute(ctx context.Context, env *Env) error
}

// App describes a plugin binary.
type App struct {
	// Name is the contract name: docker-build, rancher-upgrade, ...
	Name string
	// Title and Description head --help and DOCS.md.
	Title       string
	Description string
	// Tags are plugin-index tags.
	Tags []string
	// Flags are the plugin's own settings; common ones are added.
	Flags []cli.Flag
	// Secrets names the settings whose values are secret.
	Secrets []string
	// Required names the settings Validate insists on (for the docs).
	Required []string
	// Example is the .drone.yml step shown in DOCS.md.
	Example string
	// Notes is extra Markdown for DOCS.md.
	Notes string
	// Version is printed by --version and sent in User-Agents.
	Version string
	// Plugin receives the settings and runs.
	Plugin Plugin
	// RuntimeEnvFiles overrides /run/drone/env and /run/woodpecker/env (tests).
	RuntimeEnvFiles []string
}

// Main runs the app with the process's arguments, environment and
// streams, and returns the exit code: os.Exit(plugin.Main(app)).
func Main(a App) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return a.RunEnv(ctx, processEnviron(), os.Args, os.Stdout, os.Stderr)
}

// Run is RunEnv with the process environment.
func (a App) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return a.RunEnv(ctx, processEnviron(), args, stdout, stderr)
}

// RunEnv parses args (args[0] is the program name) and environ (which it
// does not change), runs the plugin, and returns the exit code. Nothing
// reads the process environment, so runs may go in parallel. Everything it
// writes to stdout and stderr passes through the redactor.
func (a App) RunEnv(ctx context.Context, environ Environ, args []string, stdout, stderr io.Writer) int {
	env := environ.clone()
	red := redact.New()
	out, errOut := red.Writer(stdout), red.Writer(stderr)
	defer out.Flush()
	defer errOut.Flush()

	var common Common
	flags := append(append([]cli.Flag{}, a.Flags...), common.flags()...)
	// urfave/cli quotes a value it cannot parse, and the Action (where the
	// parsed values are registered) never runs then: register the raw values
	// of secret settings first, and again once the env files are loaded.
	a.preRegisterSecrets(env, flags, args, red)
	// An empty PLUGIN_X would keep env_file's PLUGIN_X out (env_file does
	// not override set variables): drop empties before and after.
	env.dropEmpty(flags)
	runtime := a.RuntimeEnvFiles
	if runtime == nil {
		runtime = defaultRuntimeEnvFiles()
	}
	if err := loadEnvFiles(env, args, runtime); err != nil {
		fmt.Fprintf(errOut, "error: %s\n", red.Scrub(err.Error()))
		return ExitCode(err)
	}
	env.dropEmpty(flags)
	a.preRegisterSecrets(env, flags, args, red)
	var runErr error
	parsed := flags
	if !helpAsked(args) {
		parsed = withoutEnvVars(flags)
	}
	app := a.cliApp(parsed, out, errOut)
	app.Action = func(c *cli.Context) error {
		if c.Bool(helpFlagName) {
			return cli.ShowAppHelp(c)
		}
		if c.Bool(versionFlagName) {
			cli.ShowVersion(c)
			return nil
		}
		if err := applyEnviron(c, flags, env); err != nil {
			return err
		}
		runErr = a.action(ctx, c, &common, env, red, out)
		return nil
	}
	if err := app.RunContext(ctx, args); err != nil {
		// urfave/cli refused the arguments, or an environment value.
		var se *SettingsError
		if !errors.As(err, &se) {
			se = cliSettingsError(err)
		}
		fmt.Fprintf(errOut, "error: %s\n", red.Scrub(se.Error()))
		return ExitSettings
	}
	return ExitCode(runErr)
}

// cliSettingsError names the setting urfave/cli refused, when it says which.
func cliSettingsError(err error) *SettingsError {
	msg := err.Error()
	// The variable or the flag urfave/cli names in a parse error.
	envInCLIError := regexp.MustCompile(`environment variable "([^"]+)"`)
	flagInCLIError := regexp.MustCompile(`(?:for flag|flag provided but not defined:) -+([^\s:]+)`)
	if m := envInCLIError.FindStringSubmatch(msg); m != nil {
		return &SettingsError{Setting: m[1], Msg: msg}
	}
	if m := flagInCLIError.FindStringSubmatch(msg); m != nil {
		return &SettingsError{Setting: "--" + m[1], Msg: msg}
	}
	return &SettingsError{Setting: "settings", Msg: msg}
}

// preRegisterSecrets adds to red the raw values of the secret settings as
// found in their environment variables and in args, before parsing.
func (a App) preRegisterSecrets(env Environ, flags []cli.Flag, args []string, red *redact.Redactor) {
	for _, name := range ambientSecrets() {
		if v, ok := env.Lookup(name); ok {
			red.Add(v)
		}
	}
	for _, f := range flags {
		names := f.Names()
		if !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(a.Secrets, n) }) {
			continue
		}
		for _, name := range envVarsOf(f) {
			if v, ok := env.Lookup(name); ok {
				addSecret(red, v)
			}
		}
		for _, v := range argValues(args, names) {
			addSecret(red, v)
		}
	}
}

// argValues returns the values args give the flag of these names
// (-name=v, --name=v, -name v, --name v), up to "--".
func argValues(args, names []string) []string {
	var out []string
	for i := 1; i < len(args) && args[i] != "--"; i++ {
		for _, n := range names {
			for _, dash := range []string{"-", "--"} {
				if v, ok := strings.CutPrefix(args[i], dash+n+"="); ok {
					out = append(out, v)
				} else if args[i] == dash+n && i+1 < len(args) {
					out = append(out, args[i+1])
				}
			}
		}
	}
	return out
}

// ambientSecrets are variables the CI itself may hand a step that hold
// credentials (the clone netrc), masked whatever the plugin's settings.
func ambientSecrets() []string { return []string{"DRONE_NETRC_PASSWORD", "CI_NETRC_PASSWORD"} }

// addSecret registers v, each item when v is a comma or newline list, and
// each string in it when v is JSON (Drone passes maps and lists of objects
// as JSON).
func addSecret(red *redact.Redactor, v string) {
	red.Add(v)
	if strings.ContainsAny(v, ",\n") {
		red.Add(strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' })...)
	}
	var doc any
	if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		if json.Unmarshal([]byte(t), &doc) == nil {
			red.Add(jsonStrings(doc, nil)...)
		}
	}
}

// jsonStrings appends the string values (not keys) in a decoded JSON document.
func jsonStrings(v any, out []string) []string {
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case []any:
		for _, e := range v {
			out = jsonStrings(e, out)
		}
	case map[string]any:
		for _, e := range v {
			out = jsonStrings(e, out)
		}
	}
	return out
}

// helpFlagName and versionFlagName are this App's own --help and --version:
// urfave/cli's defaults (cli.HelpFlag, cli.VersionFlag) are package-level
// values that every App writes to while parsing, a data race when two runs
// parse at once (parallel plugin tests).
const (
	helpFlagName    = "help"
	versionFlagName = "version"
)

func (a App) cliApp(flags []cli.Flag, out, errOut io.Writer) *cli.App {
	flags = append(flags[:len(flags):len(flags)],
		&cli.BoolFlag{Name: helpFlagName, Aliases: []string{"h"}, Usage: "show help"},
		&cli.BoolFlag{Name: versionFlagName, Aliases: []string{"v"}, Usage: "print the version"},
	)
	return &cli.App{
		HideHelp:        true,
		HideVersion:     true,
		Name:            a.Name,
		Usage:           a.Title,
		Description:     a.Description + "\n\nEvery setting is read from its PLUGIN_* variable (shown in brackets) or the flag.",
		Version:         a.Version,
		Flags:           flags,
		Writer:          out,
		ErrWriter:       errOut,
		HideHelpCommand: true,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return err
		},
	}
}

func (a App) action(ctx context.Context, c *cli.Context, common *Common, environ Environ, red *redact.Redactor, out io.Writer) error {
	a.registerSecrets(c, red)
	log, err := common.logger(out, red)
	if err != nil {
		fmt.Fprintf(out, "error: %s\n", red.Scrub(err.Error()))
		return err
	}
	meta := drone.FromEnv(environ.Lookup)
	ws := meta.Workspace
	if ws == "" {
		ws = workingDir()
	}
	env := &Env{
		Common: *common, Log: log, Stdout: out, Redactor: red, Build: meta, Environ: environ,
		Workspace: ws, Version: a.Version, Args: c.Args().Slice(), Name: a.Name,
	}
	var job Job
	if err := guarded(log, func() (err error) { job, err = a.Plugin.Validate(env); return err }); err != nil {
		var se *SettingsError
		var pe *panicError
		if !errors.As(err, &se) && !errors.As(err, &pe) {
			err = &SettingsError{Setting: "settings", Msg: err.Error()}
		}
		log.Error(red.Scrub(err.Error()))
		return err
	}
	if job == nil {
		return fmt.Errorf("%s: Validate returned no job", a.Name)
	}
	if err := guarded(log, func() error { return job.Execute(ctx, env) }); err != nil {
		log.Error(red.Scrub(err.Error()))
		return err
	}
	return nil
}

// workingDir is where results go when the CI names no workspace.
func workingDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// panicError is a panic of the plugin, caught by guarded. It exits 1.
type panicError struct{ value any }

func (p *panicError) Error() string {
	return fmt.Sprintf("internal error (a bug in this plugin): %v", p.value)
}

// guarded runs fn and turns a panic on its goroutine into an error: the
// runtime would print the panic value and stack to stderr, past the
// redactor. The stack is logged (scrubbed) at debug level.
func guarded(log *logrus.Logger, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Debugf("panic: %v\n%s", v, debug.Stack())
			err = &panicError{value: v}
		}
	}()
	return fn()
}

// registerSecrets adds the value of every secret setting to the redactor
// before anything is logged.
func (a App) registerSecrets(c *cli.Context, red *redact.Redactor) {
	for _, name := range a.Secrets {
		switch v := c.Value(name).(type) {
		case string:
			red.Add(v)
		case []string:
			red.Add(v...)
		case cli.StringSlice:
			red.Add(v.Value()...)
		case *cli.StringSlice:
			red.Add(v.Value()...)
		case fmt.Stringer:
			red.Add(v.String())
		case nil:
		default:
			// Numbers and the like: only a set value is a secret (a
			// default 0 would mask every zero).
			if c.IsSet(name) {
				red.Add(fmt.Sprint(v))
			}
		}
		// Lists may arrive joined: mask each item as well as the whole.
		if s := c.String(name); strings.Contains(s, ",") {
			red.Add(strings.Split(s, ",")...)
		}
	}
}

// Docs returns the plugin's DOCS.md.
func (a App) Docs() []byte {
	var common Common
	flags := append(append([]cli.Flag{}, a.Flags...), common.flags()...)
	return docsgen.Page{
		Name:        a.Name,
		Title:       a.Title,
		Description: a.Description,
		Tags:        a.Tags,
		Example:     a.Example,
		Notes:       a.Notes,
		Params:      docsgen.FromFlags(flags, a.Secrets, a.Required),
	}.Render()
}

// CheckNames reports names in Secrets or Required that are not flags: a
// renamed flag would otherwise silently stop being masked or documented.
func (a App) CheckNames() error {
	var common Common
	known := map[string]bool{}
	for _, f := range append(append([]cli.Flag{}, a.Flags...), common.flags()...) {
		for _, n := range f.Names() {
			known[n] = true
		}
	}
	var bad []string
	for _, list := range []struct {
		field string
		names []string
	}{{"Secrets", a.Secrets}, {"Required", a.Required}} {
		for _, n := range list.names {
			if !known[n] {
				bad = append(bad, fmt.Sprintf("%s names %q", list.field, n))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: not a flag: %s", a.Name, strings.Join(bad, ", "))
	}
	return nil
}

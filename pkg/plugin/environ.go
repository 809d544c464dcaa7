package plugin

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// Environ is the environment one run reads: the process environment (or a
// test's map) with the env files overlaid. Plugins read it through Env,
// never through os.Getenv, so runs in one process do not share it.
type Environ map[string]string

// EnvironOf builds an Environ from NAME=value strings (os.Environ()).
func EnvironOf(kv []string) Environ {
	e := make(Environ, len(kv))
	for _, s := range kv {
		if name, v, ok := strings.Cut(s, "="); ok && name != "" {
			e[name] = v
		}
	}
	return e
}

// Lookup returns the value of name and whether it is set.
func (e Environ) Lookup(name string) (string, bool) {
	v, ok := e[name]
	return v, ok
}

// Get returns the value of name, "" when unset.
func (e Environ) Get(name string) string { return e[name] }

// clone copies e, so a run never changes its caller's map.
func (e Environ) clone() Environ {
	c := make(Environ, len(e))
	for k, v := range e {
		c[k] = v
	}
	return c
}

// dropEmpty removes empty variables named by flags, so an empty PLUGIN_X
// neither fails a number parse nor hides a set alias, and env_file can
// still fill it.
func (e Environ) dropEmpty(flags []cli.Flag) {
	for _, f := range flags {
		for _, name := range envVarsOf(f) {
			if v, set := e[name]; set && strings.TrimSpace(v) == "" {
				delete(e, name)
			}
		}
	}
}

func envVarsOf(f cli.Flag) []string {
	if ef, ok := f.(interface{ GetEnvVars() []string }); ok {
		return ef.GetEnvVars()
	}
	return nil
}

// withoutEnvVars returns a shallow copy of each flag with no EnvVars:
// urfave/cli would read them from the process environment. The copies
// share their Destination with the originals; applyEnviron sets them from
// the run's Environ.
func withoutEnvVars(flags []cli.Flag) []cli.Flag {
	out := make([]cli.Flag, len(flags))
	for i, f := range flags {
		out[i] = f
		v := reflect.ValueOf(f)
		if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
			continue
		}
		c := reflect.New(v.Elem().Type())
		c.Elem().Set(v.Elem())
		ev := c.Elem().FieldByName("EnvVars")
		if !ev.IsValid() || !ev.CanSet() {
			continue
		}
		ev.Set(reflect.Zero(ev.Type()))
		if cf, ok := c.Interface().(cli.Flag); ok {
			out[i] = cf
		}
	}
	return out
}

// applyEnviron sets every flag not given on the command line from the
// first of its variables that env holds, as urfave/cli would from the
// process environment: lists split on commas (items trimmed unless the
// flag keeps spaces).
func applyEnviron(c *cli.Context, flags []cli.Flag, env Environ) error {
	for _, f := range flags {
		name := f.Names()[0]
		if c.IsSet(name) {
			continue
		}
		envName, val, ok := firstSet(env, envVarsOf(f))
		if !ok {
			continue
		}
		if err := setFromEnv(c, f, name, val); err != nil {
			return &SettingsError{Setting: envName, Msg: fmt.Sprintf("could not parse %q for flag %s: %v", val, name, err)}
		}
	}
	return nil
}

func firstSet(env Environ, names []string) (string, string, bool) {
	for _, n := range names {
		if v, ok := env[strings.TrimSpace(n)]; ok {
			return n, v, true
		}
	}
	return "", "", false
}

func setFromEnv(c *cli.Context, f cli.Flag, name, val string) error {
	sf, ok := f.(*cli.StringSliceFlag)
	if !ok {
		if _, isBool := f.(*cli.BoolFlag); isBool && val == "" {
			return nil
		}
		return c.Set(name, val)
	}
	for _, item := range strings.Split(val, ",") {
		if !sf.KeepSpace {
			item = strings.TrimSpace(item)
		}
		if err := c.Set(name, item); err != nil {
			return err
		}
	}
	return nil
}

// helpAsked reports whether args ask for --help (before any "--").
func helpAsked(args []string) bool {
	for _, a := range args[min(1, len(args)):] {
		if a == "--" {
			return false
		}
		if slices.Contains([]string{"-h", "--h", "-help", "--help"}, a) {
			return true
		}
	}
	return false
}

// processEnviron is the process environment as an Environ (Main).
func processEnviron() Environ { return EnvironOf(os.Environ()) }

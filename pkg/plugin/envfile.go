package plugin

import (
	"fmt"
	"os"
	"strings"

	"github.com/joho/godotenv"
	"github.com/urfave/cli/v2"
)

// defaultRuntimeEnvFiles are dotenv files a runner writes while the step runs; their
// values override the environment (the Kubernetes runner passes the build
// status this way).
func defaultRuntimeEnvFiles() []string { return []string{"/run/drone/env", "/run/woodpecker/env"} }

// loadEnvFiles loads the env_file setting (without overriding what is
// already set), then overlays the runtime files that exist. It runs before
// flags are parsed so the files can carry PLUGIN_* settings.
func loadEnvFiles(args []string, runtime []string) error {
	if f := envFileSetting(args); f != "" {
		if err := godotenv.Load(f); err != nil {
			return Invalid("env_file", "%v", err)
		}
	}
	for _, f := range runtime {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		if err := godotenv.Overload(f); err != nil {
			return fmt.Errorf("load %s: %w", f, err)
		}
	}
	return nil
}

func envFileSetting(args []string) string {
	for i, a := range args {
		for _, name := range []string{"--env_file", "-env_file", "--env-file"} {
			if v, ok := strings.CutPrefix(a, name+"="); ok {
				return v
			}
			if a == name && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return os.Getenv("PLUGIN_ENV_FILE")
}

// unsetEmpty removes empty variables named by flags, so an empty PLUGIN_X
// neither fails a number parse nor hides a set alias.
func unsetEmpty(flags []cli.Flag) {
	for _, f := range flags {
		ef, ok := f.(interface{ GetEnvVars() []string })
		if !ok {
			continue
		}
		for _, name := range ef.GetEnvVars() {
			if v, set := os.LookupEnv(name); set && strings.TrimSpace(v) == "" {
				os.Unsetenv(name)
			}
		}
	}
}

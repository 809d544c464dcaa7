package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/joho/godotenv"
)

// defaultRuntimeEnvFiles are dotenv files a runner writes while the step runs; their
// values override the environment (the Kubernetes runner passes the build
// status this way).
func defaultRuntimeEnvFiles() []string { return []string{"/run/drone/env", "/run/woodpecker/env"} }

// loadEnvFiles adds the env_file setting's variables to env (without
// overriding what is already set), then overlays the runtime files that
// exist. It runs before flags are parsed so the files can carry PLUGIN_*
// settings.
func loadEnvFiles(env Environ, args []string, runtime []string) error {
	if f := envFileSetting(env, args); f != "" {
		vars, err := godotenv.Read(f)
		if err != nil {
			return Invalid("env_file", "%v", envFileError(f, err))
		}
		for k, v := range vars {
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
	}
	for _, f := range runtime {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		vars, err := godotenv.Read(f)
		if err != nil {
			return fmt.Errorf("load %s: %w", f, envFileError(f, err))
		}
		for k, v := range vars {
			env[k] = v
		}
	}
	return nil
}

// envFileError returns err without the file content godotenv quotes in its
// parse errors ("unterminated quoted value 's3cret", "... near <rest of
// file>"): an env file holds secrets that are not registered yet.
func envFileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unterminated quoted value") {
		msg = "unterminated quoted value"
	}
	if i := strings.Index(msg, " near "); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.Index(msg, "unexpected character"); i >= 0 {
		msg = "unexpected character in a variable name"
	}
	return fmt.Errorf("%s: not a valid dotenv file: %s", path, msg)
}

func envFileSetting(env Environ, args []string) string {
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
	return env["PLUGIN_ENV_FILE"]
}

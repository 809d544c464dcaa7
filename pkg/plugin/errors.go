package plugin

import (
	"errors"
	"fmt"
	"strings"
)

// Exit codes (contract).
const (
	// ExitOK means the job was done.
	ExitOK = 0
	// ExitFailed means the job failed: build error, rollout failed, API refused.
	ExitFailed = 1
	// ExitSettings means the settings were wrong; nothing was done.
	ExitSettings = 2
)

// SettingsError is a bad or missing setting. It maps to exit code 2.
type SettingsError struct {
	// Setting is the environment name users set, e.g. PLUGIN_REPO.
	Setting string
	Msg     string
}

func (e *SettingsError) Error() string {
	if strings.HasPrefix(e.Msg, "is ") {
		return e.Setting + " " + e.Msg
	}
	return e.Setting + ": " + e.Msg
}

// EnvName returns the PLUGIN_* variable of a setting name: repo -> PLUGIN_REPO.
func EnvName(setting string) string {
	return "PLUGIN_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(setting))
}

// EnvVars returns the environment names of a setting: PLUGIN_<NAME> first,
// then the aliases as given (RANCHER_URL, DOCKER_PASSWORD, ...).
func EnvVars(setting string, aliases ...string) []string {
	return append([]string{EnvName(setting)}, aliases...)
}

// Required reports a missing setting: "PLUGIN_REPO is required".
func Required(setting string) error {
	return &SettingsError{Setting: EnvName(setting), Msg: "is required"}
}

// Invalid reports a bad setting value:
// `PLUGIN_SERVICE: "web" must be stack/service`.
func Invalid(setting, format string, args ...any) error {
	return &SettingsError{Setting: EnvName(setting), Msg: fmt.Sprintf(format, args...)}
}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var se *SettingsError
	if errors.As(err, &se) {
		return ExitSettings
	}
	return ExitFailed
}

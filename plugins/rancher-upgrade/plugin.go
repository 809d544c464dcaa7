package main

import (
	"context"
	"errors"

	"github.com/lightship-ci/lightship/pkg/plugin"
)

// Settings are the plugin's settings, filled by its flags.
type Settings struct{}

func newApp(version string) plugin.App {
	s := &Settings{}
	return plugin.App{
		Name:        "rancher-upgrade",
		Title:       "Rancher Upgrade",
		Description: "Roll a new image out on Rancher (1.6 v2-beta or 2.x v3), wait for it, and roll back when it fails.",
		Version:     version,
		Plugin:      s,
	}
}

// Validate checks the settings.
func (s *Settings) Validate(env *plugin.Env) error { return nil }

// Execute is not built yet.
func (s *Settings) Execute(ctx context.Context, env *plugin.Env) error {
	return errors.New("rancher-upgrade is not implemented yet (issue 4)")
}

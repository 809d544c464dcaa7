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
		Name:        "docker-build",
		Title:       "Docker Build",
		Description: "Build a Docker image through the Engine API and push it to Harbor or any registry.",
		Version:     version,
		Plugin:      s,
	}
}

// Validate checks the settings.
func (s *Settings) Validate(env *plugin.Env) error { return nil }

// Execute is not built yet.
func (s *Settings) Execute(ctx context.Context, env *plugin.Env) error {
	return errors.New("docker-build is not implemented yet (issue 3)")
}

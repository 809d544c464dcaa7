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
		Name:        "wechat-notify",
		Title:       "WeChat Work Notify",
		Description: "Tell the team on WeChat Work (WeCom) what a build did, through an app or a group robot.",
		Version:     version,
		Plugin:      s,
	}
}

// Validate checks the settings.
func (s *Settings) Validate(env *plugin.Env) error { return nil }

// Execute is not built yet.
func (s *Settings) Execute(ctx context.Context, env *plugin.Env) error {
	return errors.New("wechat-notify is not implemented yet (issue 5)")
}

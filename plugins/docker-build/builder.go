package main

import (
	"fmt"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/versions"
	"github.com/lightship-ci/lightship/pkg/plugin"
)

// minBuildKitAPI is the first API version with BuildKit sessions out of
// experimental (Engine 18.09).
const minBuildKitAPI = "1.39"

// chooseBuilder decides, from the settings and the daemon's ping, whether
// the build runs on BuildKit, and says why.
func chooseBuilder(p *Plan, ping types.Ping) (buildKit bool, why string) {
	switch {
	case !p.DaemonBuildKit:
		return false, "buildkit: false"
	case p.Build.Squash:
		return false, "squash needs the classic builder"
	case ping.OSType != "" && ping.OSType != "linux":
		return false, fmt.Sprintf("the daemon runs on %s, where the Engine API offers no BuildKit", ping.OSType)
	case ping.APIVersion != "" && versions.LessThan(ping.APIVersion, minBuildKitAPI):
		return false, fmt.Sprintf("daemon API %s is older than %s, the first with BuildKit sessions", ping.APIVersion, minBuildKitAPI)
	case ping.BuilderVersion == build.BuilderV1:
		return false, "the daemon turned BuildKit off (Builder-Version: 1)"
	case ping.BuilderVersion == build.BuilderBuildKit:
		return true, fmt.Sprintf("the daemon's default builder (Builder-Version: 2, API %s)", ping.APIVersion)
	}
	return true, fmt.Sprintf("daemon API %s on %s has BuildKit", ping.APIVersion, orUnknown(ping.OSType))
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown OS"
	}
	return s
}

// checkBuilder fails with a settings error when the chosen builder cannot
// honour the settings.
func checkBuilder(p *Plan, buildKit bool, why string) error {
	if !buildKit && p.needsBuildKit != "" {
		return plugin.Invalid(p.needsBuildKit, "needs BuildKit, and this build runs on the classic builder (%s)", why)
	}
	return nil
}

// Command rancher-upgrade is a Lightship Drone plugin: see DOCS.md.
package main

import (
	"os"

	"github.com/lightship-ci/lightship/pkg/plugin"
)

// version is set at build time (-X main.version=...).
var version = "dev"

func main() { os.Exit(plugin.Main(newApp(version))) }

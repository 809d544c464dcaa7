package main

import (
	"testing"

	"github.com/lightship-ci/lightship/pkg/plugin/plugintest"
)

func TestDocsUpToDate(t *testing.T) {
	t.Parallel()
	plugintest.CheckDocs(t, newApp("dev"), "DOCS.md")
}

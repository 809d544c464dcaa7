package main

import _ "embed" // notes.md

// notes is the plugin's front matter (name, title, settings that are
// secrets, the example step) and DOCS.md's notes: Markdown, embedded.
//
//go:embed notes.md
var notes string

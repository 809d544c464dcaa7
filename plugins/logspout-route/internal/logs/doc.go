// Package logs holds the data every stage of logspout-route shares: a
// container's description and delivery accounting, resume positions, queued
// entries, route specs, and Docker's timestamp form. It imports nothing of
// logspout-route's own, so source (engine, pump), state, routing and the
// HTTP API all depend on it and never on each other in a circle.
package logs

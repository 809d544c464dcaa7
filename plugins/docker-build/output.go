package main

import "io"

// daemonOutput is where the daemon's build, pull and push lines go: the
// report (one JSON entry per line under log_format json).
func (r *runner) daemonOutput() io.Writer { return r.env.Report("daemon") }

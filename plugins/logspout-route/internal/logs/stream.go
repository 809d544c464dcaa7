package logs

// Stream numbers of Docker's multiplexed log stream.
const (
	StreamStdin  = 0
	StreamStdout = 1
	StreamStderr = 2
	StreamSystem = 3 // daemon error text ("Error grabbing logs: ...")
)

// StreamName is "stdin", "stdout" or "stderr".
func StreamName(s byte) string {
	switch s % 3 {
	case StreamStdout:
		return "stdout"
	case StreamStderr:
		return "stderr"
	}
	return "stdin"
}

// Command sshsign asks the ssh agent at $SSH_AUTH_SOCK to sign its first
// argument with the agent's first key, and prints the key (authorized_keys
// form) and the signature blob (base64), one per line. Test base images
// carry it to prove that RUN --mount=type=ssh reaches an agent.
package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sshsign:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: sshsign <data>")
	}
	conn, err := net.Dial("unix", os.Getenv("SSH_AUTH_SOCK"))
	if err != nil {
		return err
	}
	defer conn.Close()
	a := agent.NewClient(conn)
	keys, err := a.List()
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("the agent holds no key")
	}
	sig, err := a.Sign(keys[0], []byte(os.Args[1]))
	if err != nil {
		return err
	}
	fmt.Printf("%s%s\n", ssh.MarshalAuthorizedKey(keys[0]), base64.StdEncoding.EncodeToString(ssh.Marshal(sig)))
	return nil
}

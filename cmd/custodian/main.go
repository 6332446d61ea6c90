// Command custodian is a forensic disk imager and software write-blocker.
// All logic lives in the library packages; see package cmd for the CLI.
package main

import (
	"os"

	"github.com/custodian-forensics/custodian/cmd"
)

func main() {
	os.Exit(cmd.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

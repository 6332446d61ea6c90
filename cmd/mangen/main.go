// Command mangen writes custodian's man pages, one per command
// (custodian.1, custodian-acquire.1, custodian-writeblock-on.1, …), into
// the folder given as its argument, from the same cobra commands that
// --help prints. Run it as `go run ./cmd/mangen DIR`, or through
// `go generate ./cmd` (which writes doc/man).
package main

import (
	"fmt"
	"os"

	"github.com/custodian-forensics/custodian/cmd"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./cmd/mangen DIR")
		os.Exit(2)
	}
	n, err := cmd.WriteManPages(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "mangen: error: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d man pages to %s\n", n, os.Args[1])
}

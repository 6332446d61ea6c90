package cmd

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

//go:generate go run ./mangen ../doc/man

// WriteManPages writes a man page (section 1) for every command of
// custodian into dir, created if missing, and returns how many. The pages
// are generated from the commands' own help texts, so they say what
// --help says.
func WriteManPages(dir string) (int, error) {
	g := &globalOptions{stdin: os.Stdin, stdout: io.Discard, stderr: io.Discard}
	root := newRootCommand(g)
	root.DisableAutoGenTag = true // no date: the pages change only when the help does
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("create %s: %w", dir, err)
	}
	hdr := &doc.GenManHeader{Title: "CUSTODIAN", Section: "1", Source: "custodian " + Version(), Manual: "custodian manual"}
	if err := doc.GenManTree(root, hdr, dir); err != nil {
		return 0, fmt.Errorf("write man pages: %w", err)
	}
	n := 0
	walkCommands(root, func(c *cobra.Command) {
		if c.IsAvailableCommand() || !c.HasParent() {
			n++
		}
	})
	return n, nil
}

// walkCommands calls f for c and every command below it.
func walkCommands(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walkCommands(s, f)
	}
}

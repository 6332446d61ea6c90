package cmd

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/custodian-forensics/custodian/report"
)

type keygenOptions struct {
	output   string
	identity string
}

func newKeygenCommand(g *globalOptions) *cobra.Command {
	var o keygenOptions
	c := &cobra.Command{
		Use:   "keygen -o FILE [--identity ID]",
		Short: "Create an Ed25519 key pair for signing reports (OpenSSH format)",
		Long: `keygen writes a new Ed25519 signing key in OpenSSH format: the private key
to FILE (mode 0600) and the public key to FILE.pub. It never overwrites an
existing file, and checks that first; a missing folder of FILE is created
with mode 0700. Both happen before the passphrase is asked for.

The key is encrypted with a passphrase taken from CUSTODIAN_KEY_PASSPHRASE, or
asked for when stdin is a terminal (empty: not encrypted).

It prints the allowed_signers line for the key. Hand that line to whoever
will verify reports signed with it; they check a report with

  custodian verify --allowed-signers allowed_signers --identity ID DIR
  ssh-keygen -Y verify -f allowed_signers -I ID -n custodian \
    -s NAME.report.json.sig < NAME.report.json

The identity (the principal in allowed_signers) is --identity, else the
examiner from the config or CUSTODIAN_EXAMINER when it is one word, else
user@host.

` + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeygen(cmd, g, o)
		},
	}
	f := c.Flags()
	f.StringVarP(&o.output, "output", "o", "", "private key file to create (the public key goes to FILE.pub)")
	f.StringVarP(&o.identity, "identity", "I", "", "principal for allowed_signers and key comment (default: examiner or user@host)")
	return c
}

func runKeygen(cmd *cobra.Command, g *globalOptions, o keygenOptions) error {
	if o.output == "" {
		return usageError(errors.New("no key file given"), "custodian keygen -o FILE")
	}
	id := o.identity
	if id == "" {
		id = defaultIdentity(g.v.GetString("examiner"))
	}
	if err := report.CheckIdentity(id); err != nil {
		return usageError(err)
	}
	created, err := report.PrepareKeyPath(o.output)
	switch {
	case errors.Is(err, fs.ErrExist):
		return usageError(err, "keygen never overwrites a key; choose another file name or move the old key away")
	case err != nil:
		return usageError(err, "give a key file in a folder you can write, e.g. -o ~/.config/custodian/examiner")
	}
	if created != "" {
		fmt.Fprintf(g.stderr, "custodian: created folder %s (mode 0700)\n", created)
	}
	pass, err := newPassphrase(g)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	kp, err := report.GenerateKey(o.output, id, pass)
	switch {
	case errors.Is(err, fs.ErrExist):
		return usageError(err, "keygen never overwrites a key; choose another file name or move the old key away")
	case errors.Is(err, report.ErrIdentity):
		return usageError(err)
	case err != nil:
		return withCode(ExitFailure, err)
	}
	fmt.Fprintf(g.stderr, "custodian: wrote %s (private, keep it safe) and %s\n", kp.PrivatePath, kp.PublicPath)
	fmt.Fprintf(g.stderr, "custodian: key %s %s; allowed_signers line:\n", kp.Info.KeyType, kp.Info.Fingerprint)
	fmt.Fprintln(cmd.OutOrStdout(), kp.AllowedSigners)
	return nil
}

// defaultIdentity is the examiner when that makes a usable principal (one
// word), else user@host.
func defaultIdentity(examiner string) string {
	if examiner != "" && !strings.ContainsAny(examiner, " \t\",") {
		return examiner
	}
	name := "custodian"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		return name
	}
	return name + "@" + host
}

// newPassphrase returns the passphrase for a new key: from the environment,
// or asked twice on a terminal; empty means unencrypted.
func newPassphrase(g *globalOptions) ([]byte, error) {
	if p, ok := os.LookupEnv(passphraseEnv); ok {
		return []byte(p), nil
	}
	f, ok := g.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return nil, nil
	}
	fmt.Fprint(g.stderr, "custodian: passphrase for the new key (empty for none): ")
	p1, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(g.stderr)
	if err != nil {
		return nil, err
	}
	if len(p1) == 0 {
		return nil, nil
	}
	fmt.Fprint(g.stderr, "custodian: the same passphrase again: ")
	p2, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(g.stderr)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) {
		return nil, errors.New("the passphrases differ; no key written")
	}
	return p1, nil
}

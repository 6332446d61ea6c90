package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/custodian-forensics/custodian/report"
)

// passphraseEnv names the environment variable that holds the signing key's
// passphrase for unattended runs.
const passphraseEnv = "CUSTODIAN_KEY_PASSPHRASE"

// loadSigner opens the signing key named by spec (a key file, or
// agent:FINGERPRINT) and checks it at once: acquire calls it before imaging,
// so a wrong passphrase costs seconds, not hours. The passphrase of an
// encrypted key comes from CUSTODIAN_KEY_PASSPHRASE if set, else from a
// prompt on stderr when stdin is a terminal.
func loadSigner(spec string, stdin io.Reader, stderr io.Writer) (report.Signer, error) {
	if spec == "" {
		return nil, nil
	}
	ask := func() ([]byte, error) {
		if p, ok := os.LookupEnv(passphraseEnv); ok {
			return []byte(p), nil
		}
		f, ok := stdin.(*os.File)
		if !ok || !isTerminal(f) {
			return nil, report.ErrKeyEncrypted
		}
		fmt.Fprintf(stderr, "custodian: passphrase for %s: ", spec)
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return p, err
	}
	s, err := report.LoadSigner(spec, ask)
	return s, signerError(spec, err)
}

// signerError turns a key-loading failure into a usage error (exit 2,
// nothing written) with a hint that says how to fix it.
func signerError(spec string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, report.ErrKeyEncrypted):
		return usageError(err, "set "+passphraseEnv+" or run custodian on a terminal to be asked for it")
	case errors.Is(err, report.ErrPassphrase):
		return usageError(err, "nothing was imaged; try again with the right passphrase ("+passphraseEnv+" or the prompt)")
	case errors.Is(err, report.ErrKeyPermissions):
		return usageError(err, "chmod 600 "+spec+" (as ssh-keygen requires); a key others could read may already be copied: consider a new one (custodian keygen -o FILE)")
	case errors.Is(err, report.ErrNoAgent):
		return usageError(err, "start ssh-agent and add the key with ssh-add, or give a key file with --sign-key FILE")
	case errors.Is(err, report.ErrAgentKey):
		return usageError(err, "list the agent's keys with 'ssh-add -l' and use --sign-key agent:SHA256:...")
	case strings.HasPrefix(spec, report.AgentPrefix):
		return usageError(err)
	default:
		return usageError(err, "--sign-key takes an OpenSSH private key file (custodian keygen -o FILE makes one) or agent:FINGERPRINT")
	}
}

package cmd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/custodian-forensics/custodian/internal/exitcode"
	"github.com/custodian-forensics/custodian/report"
	"github.com/custodian-forensics/custodian/report/verify"
)

type verifyOptions struct {
	allowedSigners string
	identity       string
	pubKey         string
	source         string
	json           bool
	noTrust        bool
}

func newVerifyCommand(g *globalOptions) *cobra.Command {
	var o verifyOptions
	c := &cobra.Command{
		Use:   "verify DIR|REPORT|IMAGE.E01 [--allowed-signers FILE --identity ID | --pubkey FILE] [--source DEV] [--json]",
		Short: "Check a report's signature, the image segments and the image hashes",
		Long: `verify checks an evidence folder (or one NAME.report.json), in this order:

  signature  NAME.report.json.sig over the report's bytes, namespace "custodian":
             with --allowed-signers FILE and --identity ID, the key must be
             allowed for ID (as 'ssh-keygen -Y verify'); with --allowed-signers
             alone, for any principal; with --pubkey FILE, it must be that key.
             Without these, a valid signature is reported as "untrusted": it
             proves the report unchanged since signing, not who signed it.
             An unsigned report is checked all the same and said to be unsigned.
  status     the acquisition must be complete
  segment    every image file exists with the recorded size and hashes
  image      the whole-image hashes over the image's byte stream
  source     with --source DEV, the device is re-read as acquire reads it
             (failed reads narrowed to sectors, the report's unreadable
             sectors compared as zeros) and compared too; sectors that
             cannot be read now but were read then are listed
             (source_unreadable, a mismatch)

Given an E01 set written by another tool (its NAME.E01, no custodian report),
verify checks it as ewfverify does: every section and chunk checksum, the
media's MD5 and SHA-1 against those stored in the image, and prints its
header fields (case, examiner, model, serial, dates, tool).

Each check prints one line: its outcome, what was checked, and on a mismatch
which hash or size differs. --json prints one JSON object instead, with
"schema": "custodian/verify/v1". Progress goes to stderr (a bar on a
terminal, plain lines otherwise), also while --source re-reads the device.

The signature alone can be checked without custodian:
  ssh-keygen -Y verify -f allowed_signers -I ID -n custodian \
    -s NAME.report.json.sig < NAME.report.json

Without --allowed-signers or --pubkey, nothing proves who wrote the report
(a folder replaced wholesale, with a report signed by any key, would match
itself): the result is UNTRUSTED, exit 1, unless --no-trust accepts that.

EXIT STATUS
  0  everything checked matched (and the signer was checked, or --no-trust)
  1  a file is missing or unreadable, the acquisition was not complete, or
     the signer is unproven (unsigned, or no trusted key given) without --no-trust
  2  usage error
  4  a signature, size or hash does not match`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("verify takes one evidence folder or report file, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, g, o, args[0])
		},
	}
	f := c.Flags()
	f.StringVar(&o.allowedSigners, "allowed-signers", "", "OpenSSH allowed_signers file of trusted signing keys")
	f.StringVarP(&o.identity, "identity", "I", "", "principal the signing key must be allowed for (with --allowed-signers)")
	f.StringVar(&o.pubKey, "pubkey", "", "public key file (e.g. KEY.pub) the report must be signed with")
	f.StringVar(&o.source, "source", "", "re-read this device or file as acquire does and compare it with the image hashes; newly unreadable sectors are listed")
	f.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	f.BoolVar(&o.noTrust, "no-trust", false, "accept an unsigned report, or a signature whose key is not checked (exit 0 then means only: the image matches its report)")
	return c
}

func runVerify(cmd *cobra.Command, g *globalOptions, o verifyOptions, path string) error {
	out := cmd.OutOrStdout()
	if o.identity != "" && o.allowedSigners == "" {
		return usageError(errors.New("--identity needs --allowed-signers"),
			"custodian verify --allowed-signers FILE --identity ID DIR")
	}
	if o.pubKey != "" && o.allowedSigners != "" {
		return usageError(errors.New("--pubkey and --allowed-signers exclude each other"))
	}
	if o.noTrust && (o.allowedSigners != "" || o.pubKey != "") {
		return usageError(errors.New("--no-trust excludes --allowed-signers and --pubkey"))
	}
	vo := verify.Options{
		Trust:   report.Trust{AllowedSigners: o.allowedSigners, Identity: o.identity, PubKey: o.pubKey},
		Source:  o.source,
		NoTrust: o.noTrust,
	}
	if !o.json {
		vo.OnCheck = func(c report.Check) { printCheck(out, c) }
	}
	v := verify.New(path, vo)
	stop := verifyMeter(cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()), v.Progress)
	res, err := v.Run(cmd.Context())
	stop()
	if res == nil {
		if errors.Is(err, fs.ErrNotExist) {
			return withHints(err, "give an evidence folder holding NAME.report.json, or the report file")
		}
		return withHints(err)
	}
	code := exitcode.Of(err)
	if o.json {
		if jerr := newJSONEncoder(out, "  ").Encode(struct {
			Schema string `json:"schema"`
			*verify.Result
			ExitCode int `json:"exit_code"`
		}{verifySchema, res, code}); jerr != nil {
			return withCode(ExitFailure, jerr)
		}
		g.resultPrinted = true
	} else {
		fmt.Fprintln(out, verifySummary(res))
	}
	if errors.Is(err, verify.ErrUntrusted) {
		return silent(exitcode.Of(err), err)
	}
	if err != nil {
		return withHints(err)
	}
	return nil
}

// verifyMeter shows a verification's progress on w (the acquire display:
// a bar on a terminal, plain text lines otherwise) until the returned
// function is called.
func verifyMeter(w io.Writer, tty bool, poll func() verify.Progress) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	m := newMeter(w, tty)
	interval := 200 * time.Millisecond
	if !tty {
		interval = time.Second
	}
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		begun := time.Now()
		for {
			select {
			case <-done:
				if p := poll(); p.Total > 0 {
					if m.total == 0 {
						m.set("verifying", p.Done, p.Total, 0, 0)
					}
					m.stop(p.Done, 0)
				}
				return
			case now := <-t.C:
				p := poll()
				if p.Total > 0 && p.Phase != verify.PhaseReport && p.Phase != verify.PhaseDone {
					// The average since the start: the bytes read per tick
					// swing (a segment's tables and hashes are read after
					// its chunks were hashed), and the last tick would show
					// the few bytes of the last sections as the speed.
					rate := int64(float64(p.Done) / now.Sub(begun).Seconds())
					m.set("verifying", p.Done, p.Total, 0, rate)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// printCheck writes one check as an aligned line, the outcome first and in
// capitals when it needs attention.
func printCheck(w io.Writer, c report.Check) {
	status := c.Status
	if status != report.CheckOK && status != report.CheckSkipped {
		status = strings.ToUpper(status)
	}
	// Subject and Detail may carry text from the evidence (file names,
	// values from the report): escaped, so nothing in them can move the
	// cursor, erase a line or fake one.
	fmt.Fprintf(w, "%-9s  %-9s  %s: %s\n", status, c.Name, report.Printable(c.Subject), report.Printable(c.Detail))
}

func verifySummary(res *verify.Result) string {
	var bad []string
	signed := ""
	for _, c := range res.Checks {
		if c.Failed() {
			bad = append(bad, report.Printable(c.Subject))
		}
		if c.Name == "signature" {
			switch c.Status {
			case report.CheckOK:
				signed = "signed, key verified"
			case report.CheckUntrusted:
				signed = "signed, but the key was not checked against a trusted one"
			case report.CheckUnsigned:
				signed = "NOT SIGNED"
			}
		}
	}
	switch res.Result {
	case verify.ResultOK:
		if res.Image != "" {
			return "result: OK, the image is intact and the hashes stored in it match (it has no custodian report: who made it, and from what, is not proven)"
		}
		if signed == "signed, key verified" {
			return "result: OK, everything matches (signed, key verified)"
		}
		return fmt.Sprintf("result: OK, the image matches its report (%s; accepted with --no-trust: who wrote the report is not proven)", signed)
	case verify.ResultMismatch:
		return "result: MISMATCH in " + strings.Join(bad, ", ")
	case verify.ResultMissing:
		return "result: MISSING " + strings.Join(bad, ", ")
	case verify.ResultUntrusted:
		why := "is not signed"
		if signed != "NOT SIGNED" {
			why = "is signed by a key that was not checked against a trusted one"
		}
		return "result: UNTRUSTED: the image matches its report, but the report " + why +
			": nothing proves who wrote it, and a folder replaced wholesale would match too\n" +
			"  check the signer with --allowed-signers FILE --identity ID or --pubkey FILE, or accept the evidence as it is with --no-trust"
	}
	return "result: ERROR, could not verify " + strings.Join(bad, ", ")
}

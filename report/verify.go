package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/custodian-forensics/custodian/hashing"
)

// ErrVerifyOptions marks a verify request that cannot be carried out as
// asked: conflicting options, or a folder with no or several reports.
var ErrVerifyOptions = errors.New("invalid verify request")

// VerifyOptions says what Verify checks against.
type VerifyOptions struct {
	// AllowedSigners is an OpenSSH allowed_signers file. With Identity, the
	// signature must be by a key allowed for that identity (as ssh-keygen
	// -Y verify -I); without, by a key allowed for any principal (as
	// ssh-keygen -Y find-principals).
	AllowedSigners, Identity string
	// PubKey is a public key file (authorized_keys format, e.g. FILE.pub
	// from custodian keygen); the signature must be by that key. It
	// excludes AllowedSigners.
	PubKey string
	// OpenImage returns the image's logical byte stream (the source as
	// imaged), e.g. the concatenation of raw segments. nil, or an error
	// wrapping errors.ErrUnsupported (a format it cannot read), skips the
	// whole-image check with a note.
	OpenImage func(r *Report, dir string) (io.ReadCloser, error)
	// Source, when set, is re-read and its hashes compared with the
	// report's whole-image hashes.
	Source string
	// OpenSource opens Source for that re-read (cmd injects one that reads
	// block devices with O_DIRECT, so the medium is read, not cached
	// pages); nil means os.Open.
	OpenSource func(path string) (io.ReadCloser, error)
	// OnCheck, when set, is called with each check as it completes, from
	// the goroutine that called Verify.
	OnCheck func(Check)
	// Now is the clock for the valid-after/valid-before limits of
	// allowed_signers entries; nil means time.Now.
	Now func() time.Time
}

// Check statuses.
const (
	CheckOK        = "ok"
	CheckMismatch  = "mismatch"  // a hash, size or signature differs: evidence of alteration
	CheckMissing   = "missing"   // a file the report needs is not there
	CheckError     = "error"     // a file could not be read or parsed, or the acquisition was not complete
	CheckSkipped   = "skipped"   // not checked, with the reason in Detail
	CheckUnsigned  = "unsigned"  // the report has no signature
	CheckUntrusted = "untrusted" // the signature is valid, but its key was not checked against any trusted key
)

// Check is one line of a verification: what was checked (Name: "report",
// "signature", "status", "segment", "image", "source"), of which file or
// device (Subject), with which outcome (Status, one of the Check*
// constants) and why (Detail, naming the hash or size that differs).
type Check struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Status  string `json:"status"`
	Detail  string `json:"detail"`
}

// Failed reports whether the check counts against the result.
func (c Check) Failed() bool {
	return c.Status == CheckMismatch || c.Status == CheckMissing || c.Status == CheckError
}

// Verification results, from worst to best: any mismatch makes the result
// a mismatch; otherwise any missing file makes it missing; otherwise any
// error makes it an error.
const (
	ResultOK       = "ok"
	ResultMismatch = "mismatch"
	ResultMissing  = "missing"
	ResultError    = "error"
)

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	Report string `json:"report"` // the report file checked
	Result string `json:"result"` // one of the Result* constants
	// Signed is true when a signature file was found; SignedBy is the key
	// whose signature verified, Principals the allowed_signers principals
	// that admitted it.
	Signed     bool        `json:"signed"`
	SignedBy   *SignerInfo `json:"signed_by,omitempty"`
	Principals []string    `json:"principals,omitempty"`
	Checks     []Check     `json:"checks"`
	// Parsed is the report as parsed (nil if it could not be).
	Parsed *Report `json:"-"`
}

// Verify checks a report and its image: first the signature over the
// report file's bytes, then the report itself, then that every segment
// exists with the recorded size and hashes, then the whole-image hashes
// (through o.OpenImage), then, with o.Source, the source device.
//
// path is an evidence folder holding one NAME.report.json, or the report
// file itself. Verify returns a result whenever it could start; the
// returned error is nil when every check passed and otherwise wraps
// [ErrMismatch] (something differs), or fs.ErrNotExist (files missing), or
// describes what could not be read. Errors before any check (bad options,
// no report in the folder) come with a nil result and wrap
// [ErrVerifyOptions] or fs.ErrNotExist.
func Verify(ctx context.Context, path string, o VerifyOptions) (*VerifyResult, error) {
	if o.PubKey != "" && o.AllowedSigners != "" {
		return nil, fmt.Errorf("%w: use either an allowed signers file or a public key, not both", ErrVerifyOptions)
	}
	if o.Identity != "" && o.AllowedSigners == "" {
		return nil, fmt.Errorf("%w: an identity needs an allowed signers file to look it up in", ErrVerifyOptions)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	reportPath, err := findReport(path)
	if err != nil {
		return nil, err
	}
	v := &verifier{ctx: ctx, o: o, dir: filepath.Dir(reportPath),
		res: &VerifyResult{Report: reportPath, Checks: []Check{}}}
	v.run(reportPath)
	return v.res, v.finish()
}

// findReport resolves a folder or file argument to the report file.
func findReport(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		if p, ok := strings.CutSuffix(path, ".sig"); ok && strings.HasSuffix(p, JSONSuffix) {
			return p, nil
		}
		return path, nil
	}
	matches, err := filepath.Glob(filepath.Join(globEscape(path), "*"+JSONSuffix))
	if err != nil {
		return "", err
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("no *%s in %s: %w", JSONSuffix, path, fs.ErrNotExist)
	case 1:
		return matches[0], nil
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = filepath.Base(m)
	}
	return "", fmt.Errorf("%w: %s holds several reports (%s); name one", ErrVerifyOptions, path, strings.Join(names, ", "))
}

func globEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(s)
}

type verifier struct {
	ctx context.Context
	o   VerifyOptions
	dir string
	res *VerifyResult
	raw *rawStream // whole-image hashing during the segment checks (raw only)
}

func (v *verifier) add(name, subject, status, detail string) {
	c := Check{Name: name, Subject: subject, Status: status, Detail: detail}
	v.res.Checks = append(v.res.Checks, c)
	if v.o.OnCheck != nil {
		v.o.OnCheck(c)
	}
}

func (v *verifier) run(reportPath string) {
	reportName := filepath.Base(reportPath)
	data, err := os.ReadFile(reportPath)
	if err != nil {
		v.add("report", reportName, statusOf(err), err.Error())
		return
	}
	r, perr := Parse(data)
	v.res.Parsed = r
	v.checkSignature(reportPath, data, r)
	if perr != nil {
		v.add("report", reportName, CheckError, perr.Error())
		return
	}
	detail := "parsed, " + string(r.Status)
	if !bytes.Equal(mustMarshal(r), data) {
		detail += "; not in canonical form (written by another version, or edited)"
	}
	v.add("report", reportName, CheckOK, detail)
	v.checkStatus(r)
	segmentsOK := v.checkSegments(r)
	v.checkImage(r, segmentsOK)
	v.checkSource(r)
}

// rawStream hashes the whole image of a raw report while its segments are
// read for their own checks: a raw image is its segments' bytes one after
// another, so each file is read once, not twice. It is used only when the
// segments are contiguous from offset 0 and each file is exactly its range.
type rawStream struct {
	p *hashing.Parallel
	n int64
}

func (w *rawStream) Write(b []byte) (int, error) {
	w.p.Write(b)
	w.n += int64(len(b))
	return len(b), nil
}

func newRawStream(r *Report) *rawStream {
	if r.Image.Format != "raw" || len(r.Hashes) == 0 {
		return nil
	}
	var off int64
	for _, s := range r.Image.Segments {
		if s.Offset != off || s.FileSize != s.Length {
			return nil
		}
		off += s.Length
	}
	set, err := hashSet(sortedKeys(r.Hashes))
	if err != nil {
		return nil
	}
	return &rawStream{p: hashing.NewParallel(set)}
}

func mustMarshal(r *Report) []byte {
	b, _ := Marshal(r)
	return b
}

func (v *verifier) checkSignature(reportPath string, data []byte, r *Report) {
	sigPath := reportPath + ".sig"
	sigName := filepath.Base(sigPath)
	trustGiven := v.o.AllowedSigners != "" || v.o.PubKey != ""
	armored, err := os.ReadFile(sigPath)
	if errors.Is(err, fs.ErrNotExist) {
		switch {
		case trustGiven:
			v.add("signature", sigName, CheckMissing, "no signature, but one was required (--allowed-signers or --pubkey given)")
		case r != nil && r.Signer != nil:
			v.add("signature", sigName, CheckMissing, fmt.Sprintf("the report names signing key %s, but the signature file is missing", r.Signer.Fingerprint))
		default:
			v.add("signature", sigName, CheckUnsigned, "the report is NOT SIGNED: the checks below show that the image matches this report, not who wrote it or that the report is unaltered")
		}
		return
	}
	if err != nil {
		v.add("signature", sigName, CheckError, err.Error())
		return
	}
	v.res.Signed = true
	sig, err := ParseSignature(armored)
	if err != nil {
		v.add("signature", sigName, CheckMismatch, "not a valid SSH signature: "+err.Error())
		return
	}
	if err := sig.verify(data); err != nil {
		v.add("signature", sigName, CheckMismatch, strings.TrimPrefix(err.Error(), ErrMismatch.Error()+": ")+" (key "+sig.Fingerprint+")")
		return
	}
	if r != nil && r.Signer != nil && r.Signer.Fingerprint != sig.Fingerprint {
		v.add("signature", sigName, CheckMismatch, fmt.Sprintf("signed by key %s, but the report names key %s", sig.Fingerprint, r.Signer.Fingerprint))
		return
	}
	by := signerInfo(sig.PublicKey, "")
	switch {
	case v.o.PubKey != "":
		want, err := readPublicKey(v.o.PubKey)
		if err != nil {
			v.add("signature", sigName, CheckError, err.Error())
			return
		}
		if !bytes.Equal(want.Marshal(), sig.PublicKey.Marshal()) {
			v.add("signature", sigName, CheckMismatch, fmt.Sprintf("signed by key %s, not by the key in %s (%s)", sig.Fingerprint, v.o.PubKey, ssh.FingerprintSHA256(want)))
			return
		}
		v.res.SignedBy = by
		v.add("signature", sigName, CheckOK, fmt.Sprintf("valid signature by %s %s (the key in %s)", by.KeyType, by.Fingerprint, v.o.PubKey))
	case v.o.AllowedSigners != "":
		b, err := os.ReadFile(v.o.AllowedSigners)
		if err != nil {
			v.add("signature", sigName, statusOf(err), err.Error())
			return
		}
		entries, err := ParseAllowedSigners(b)
		if err != nil {
			v.add("signature", sigName, CheckError, v.o.AllowedSigners+": "+err.Error())
			return
		}
		now := v.o.Now()
		var principals []string
		for _, e := range entries {
			if e.allows(v.o.Identity, sig.PublicKey, Namespace, now) {
				principals = append(principals, e.Principals)
			}
		}
		if len(principals) == 0 {
			who := "any principal"
			if v.o.Identity != "" {
				who = "identity " + v.o.Identity
			}
			v.add("signature", sigName, CheckMismatch, fmt.Sprintf("signed by key %s, which %s does not allow for %s in namespace %s", sig.Fingerprint, v.o.AllowedSigners, who, Namespace))
			return
		}
		v.res.SignedBy = by
		if v.o.Identity != "" {
			by.Identity = v.o.Identity
			v.res.Principals = []string{v.o.Identity}
		} else {
			v.res.Principals = principals
		}
		v.add("signature", sigName, CheckOK, fmt.Sprintf("valid signature by %s (%s %s)", strings.Join(v.res.Principals, ", "), by.KeyType, by.Fingerprint))
	default:
		v.res.SignedBy = by
		v.add("signature", sigName, CheckUntrusted, fmt.Sprintf("valid signature by %s %s, but that key was not checked against a trusted one: pass --allowed-signers FILE --identity ID, or --pubkey FILE", by.KeyType, by.Fingerprint))
	}
}

func readPublicKey(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: not a public key: %w", path, err)
	}
	return k, nil
}

func (v *verifier) checkStatus(r *Report) {
	name := r.Image.Name
	switch {
	case r.Status != StatusComplete:
		v.add("status", name, CheckError, fmt.Sprintf("the acquisition is %s (%d of %d bytes acquired)", r.Status, r.BytesAcquired, r.Source.Size))
	case len(r.Unreadable) > 0:
		v.add("status", name, CheckOK, fmt.Sprintf("complete; %d bytes of the source were unreadable (zero-filled, listed in the report)", r.UnreadableBytes()))
	default:
		v.add("status", name, CheckOK, "complete, every sector read")
	}
}

// checkSegments checks each segment's size and hashes; it reports whether
// all were fine.
func (v *verifier) checkSegments(r *Report) bool {
	ok := true
	if len(r.Image.Segments) == 0 {
		v.add("segment", r.Image.Name, CheckMissing, "the report lists no image segments")
		return false
	}
	v.raw = newRawStream(r)
	for _, s := range r.Image.Segments {
		var tee io.Writer
		if v.raw != nil {
			tee = v.raw
		}
		c := v.checkSegment(s, tee)
		v.add("segment", s.File, c.Status, c.Detail)
		if c.Failed() || c.Status == CheckSkipped {
			ok = false
		}
	}
	return ok
}

func (v *verifier) checkSegment(s Segment, tee io.Writer) Check {
	path := filepath.Join(v.dir, s.File)
	f, err := os.Open(path)
	if err != nil {
		return Check{Status: statusOf(err), Detail: err.Error()}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Check{Status: CheckError, Detail: err.Error()}
	}
	if !fi.Mode().IsRegular() {
		return Check{Status: CheckMismatch, Detail: "not a regular file"}
	}
	if fi.Size() != s.FileSize {
		return Check{Status: CheckMismatch, Detail: fmt.Sprintf("size is %d bytes, the report says %d", fi.Size(), s.FileSize)}
	}
	if len(s.Hashes) == 0 && tee == nil {
		return Check{Status: CheckOK, Detail: fmt.Sprintf("size %d bytes; no hashes recorded for this segment", s.FileSize)}
	}
	got, _, err := HashStream(v.ctx, f, sortedKeys(s.Hashes), tee)
	if err == nil && len(s.Hashes) == 0 {
		return Check{Status: CheckOK, Detail: fmt.Sprintf("size %d bytes; no hashes recorded for this segment", s.FileSize)}
	}
	if err != nil {
		return Check{Status: statusOf(err), Detail: err.Error()}
	}
	return compareHashes(fmt.Sprintf("size %d bytes", s.FileSize), got, s.Hashes)
}

// compareHashes compares computed digests with recorded ones and names
// every algorithm that differs.
func compareHashes(prefix string, got, want Hashes) Check {
	var bad, good []string
	for _, a := range sortedKeys(want) {
		if got[a] != strings.ToLower(want[a]) {
			bad = append(bad, fmt.Sprintf("%s is %s, the report says %s", a, got[a], want[a]))
		} else {
			good = append(good, a)
		}
	}
	if len(bad) > 0 {
		return Check{Status: CheckMismatch, Detail: strings.Join(bad, "; ")}
	}
	return Check{Status: CheckOK, Detail: prefix + ", " + strings.Join(good, ", ") + " match"}
}

// imageLength is the length of the source stream the image holds.
func imageLength(r *Report) int64 {
	if r.BytesAcquired > 0 {
		return r.BytesAcquired
	}
	return r.Source.Size
}

func (v *verifier) checkImage(r *Report, segmentsOK bool) {
	if v.raw != nil {
		defer v.raw.p.Close()
	}
	subject := r.Image.Name
	if subject == "" {
		subject = "image"
	}
	subject += " (" + r.Image.Format + ")"
	switch {
	case len(r.Hashes) == 0:
		v.add("image", subject, CheckSkipped, "the report records no whole-image hashes")
		return
	case !segmentsOK:
		v.add("image", subject, CheckSkipped, "not checked, because a segment check failed")
		return
	case v.raw != nil:
		// Hashed while the segments were read (each file read once).
		c := compareStream(Hashes(v.raw.p.Sums()), v.raw.n, r, "image")
		v.add("image", subject, c.Status, c.Detail)
		return
	case v.o.OpenImage == nil:
		v.add("image", subject, CheckSkipped, fmt.Sprintf("no reader for image format %q here; segment hashes were checked", r.Image.Format))
		return
	}
	rc, err := v.o.OpenImage(r, v.dir)
	if errors.Is(err, errors.ErrUnsupported) {
		v.add("image", subject, CheckSkipped, err.Error()+"; segment hashes were checked")
		return
	}
	if err != nil {
		v.add("image", subject, statusOf(err), err.Error())
		return
	}
	defer rc.Close()
	c := v.checkStream(rc, r, "image")
	v.add("image", subject, c.Status, c.Detail)
}

func (v *verifier) checkSource(r *Report) {
	if v.o.Source == "" {
		return
	}
	if len(r.Hashes) == 0 {
		v.add("source", v.o.Source, CheckSkipped, "the report records no whole-image hashes")
		return
	}
	open := v.o.OpenSource
	if open == nil {
		open = func(p string) (io.ReadCloser, error) { return os.Open(p) }
	}
	f, err := open(v.o.Source)
	if err != nil {
		v.add("source", v.o.Source, statusOf(err), err.Error())
		return
	}
	defer f.Close()
	c := v.checkStream(io.LimitReader(f, imageLength(r)), r, "source")
	if c.Status == CheckMismatch && len(r.Unreadable) > 0 {
		c.Detail += fmt.Sprintf(" (the report lists %d unreadable bytes, zero-filled in the image; if the source reads them now, its hashes differ)", r.UnreadableBytes())
	}
	v.add("source", v.o.Source, c.Status, c.Detail)
}

// checkStream hashes a stream and compares it with the report's
// whole-image hashes and length.
func (v *verifier) checkStream(rd io.Reader, r *Report, what string) Check {
	got, n, err := HashStream(v.ctx, rd, sortedKeys(r.Hashes), nil)
	if err != nil {
		return Check{Status: statusOf(err), Detail: fmt.Sprintf("read %s: %v", what, err)}
	}
	return compareStream(got, n, r, what)
}

// compareStream compares a stream's digests and length with the report's
// whole-image hashes and length.
func compareStream(got Hashes, n int64, r *Report, what string) Check {
	if want := imageLength(r); n != want {
		return Check{Status: CheckMismatch, Detail: fmt.Sprintf("%s is %d bytes, the report says %d", what, n, want)}
	}
	return compareHashes(fmt.Sprintf("%d bytes", n), got, r.Hashes)
}

// statusOf classifies a file error.
func statusOf(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return CheckMissing
	}
	return CheckError
}

// finish sets the overall result and returns the matching error.
func (v *verifier) finish() error {
	var mismatch, missing, failed []string
	for _, c := range v.res.Checks {
		what := c.Name + " " + c.Subject
		switch c.Status {
		case CheckMismatch:
			mismatch = append(mismatch, what)
		case CheckMissing:
			missing = append(missing, what)
		case CheckError:
			failed = append(failed, what)
		}
	}
	switch {
	case len(mismatch) > 0:
		v.res.Result = ResultMismatch
		return fmt.Errorf("%w: %s", ErrMismatch, strings.Join(mismatch, ", "))
	case len(missing) > 0:
		v.res.Result = ResultMissing
		return fmt.Errorf("missing: %s: %w", strings.Join(missing, ", "), fs.ErrNotExist)
	case len(failed) > 0:
		v.res.Result = ResultError
		return fmt.Errorf("could not verify: %s", strings.Join(failed, ", "))
	}
	v.res.Result = ResultOK
	return nil
}

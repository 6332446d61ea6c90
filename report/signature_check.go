package report

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

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

// Trust says whose signatures are trusted.
type Trust struct {
	// AllowedSigners is an OpenSSH allowed_signers file. With Identity, the
	// signature must be by a key allowed for that identity (as ssh-keygen
	// -Y verify -I); without, by a key allowed for any principal (as
	// ssh-keygen -Y find-principals).
	AllowedSigners, Identity string
	// PubKey is a public key file (authorized_keys format, e.g. FILE.pub
	// from custodian keygen); the signature must be by that key. It
	// excludes AllowedSigners.
	PubKey string
	// Now is the clock for the valid-after/valid-before limits of
	// allowed_signers entries; nil means time.Now.
	Now func() time.Time
}

// Given reports whether any trust anchor was given.
func (t Trust) Given() bool { return t.AllowedSigners != "" || t.PubKey != "" }

// SignatureCheck is the outcome of [CheckSignature].
type SignatureCheck struct {
	Check
	// Signed is true when a signature file was found; SignedBy is the key
	// whose signature verified, Principals the allowed_signers principals
	// that admitted it.
	Signed     bool
	SignedBy   *SignerInfo
	Principals []string
}

// CheckSignature checks the armored SSHSIG signature sig over the report
// bytes data, whose parse is r (nil if it could not be parsed), against t.
// sigErr is the error reading the signature file gave (fs.ErrNotExist: no
// signature); sigName names that file in the check.
func CheckSignature(sigName string, data, sig []byte, sigErr error, r *Report, t Trust) SignatureCheck {
	res := SignatureCheck{Check: Check{Name: "signature", Subject: sigName}}
	set := func(status, detail string) SignatureCheck {
		res.Status, res.Detail = status, detail
		return res
	}
	if t.Now == nil {
		t.Now = time.Now
	}
	if errors.Is(sigErr, fs.ErrNotExist) {
		switch {
		case t.Given():
			return set(CheckMissing, "no signature, but one was required (--allowed-signers or --pubkey given)")
		case r != nil && r.Signer != nil:
			return set(CheckMissing, fmt.Sprintf("the report names signing key %s, but the signature file is missing", r.Signer.Fingerprint))
		}
		return set(CheckUnsigned, "the report is NOT SIGNED: the checks below show that the image matches this report, not who wrote it or that the report is unaltered")
	}
	if sigErr != nil {
		return set(CheckError, sigErr.Error())
	}
	res.Signed = true
	s, err := ParseSignature(sig)
	if err != nil {
		return set(CheckMismatch, "not a valid SSH signature: "+err.Error())
	}
	if err := s.verify(data); err != nil {
		return set(CheckMismatch, strings.TrimPrefix(err.Error(), ErrMismatch.Error()+": ")+" (key "+s.Fingerprint+")")
	}
	if r != nil && r.Signer != nil && r.Signer.Fingerprint != s.Fingerprint {
		return set(CheckMismatch, fmt.Sprintf("signed by key %s, but the report names key %s", s.Fingerprint, r.Signer.Fingerprint))
	}
	by := signerInfo(s.PublicKey, "")
	switch {
	case t.PubKey != "":
		want, err := readPublicKey(t.PubKey)
		if err != nil {
			return set(CheckError, err.Error())
		}
		if !bytes.Equal(want.Marshal(), s.PublicKey.Marshal()) {
			return set(CheckMismatch, fmt.Sprintf("signed by key %s, not by the key in %s (%s)", s.Fingerprint, t.PubKey, ssh.FingerprintSHA256(want)))
		}
		res.SignedBy = by
		return set(CheckOK, fmt.Sprintf("valid signature by %s %s (the key in %s)", by.KeyType, by.Fingerprint, t.PubKey))
	case t.AllowedSigners != "":
		b, err := os.ReadFile(t.AllowedSigners)
		if err != nil {
			status := CheckError
			if errors.Is(err, fs.ErrNotExist) {
				status = CheckMissing
			}
			return set(status, err.Error())
		}
		entries, err := ParseAllowedSigners(b)
		if err != nil {
			return set(CheckError, t.AllowedSigners+": "+err.Error())
		}
		now := t.Now()
		var principals []string
		for _, e := range entries {
			if e.allows(t.Identity, s.PublicKey, Namespace, now) {
				principals = append(principals, e.Principals)
			}
		}
		if len(principals) == 0 {
			who := "any principal"
			if t.Identity != "" {
				who = "identity " + t.Identity
			}
			return set(CheckMismatch, fmt.Sprintf("signed by key %s, which %s does not allow for %s in namespace %s", s.Fingerprint, t.AllowedSigners, who, Namespace))
		}
		res.SignedBy = by
		if t.Identity != "" {
			by.Identity = t.Identity
			res.Principals = []string{t.Identity}
		} else {
			res.Principals = principals
		}
		return set(CheckOK, fmt.Sprintf("valid signature by %s (%s %s)", strings.Join(res.Principals, ", "), by.KeyType, by.Fingerprint))
	}
	res.SignedBy = by
	return set(CheckUntrusted, fmt.Sprintf("valid signature by %s %s, but that key was not checked against a trusted one: pass --allowed-signers FILE --identity ID, or --pubkey FILE", by.KeyType, by.Fingerprint))
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

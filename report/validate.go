package report

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/custodian-forensics/custodian/hashing"
	"golang.org/x/crypto/ssh"
)

// digestHexLen maps each algorithm name, as reports spell it, to the length
// of its digest in hex digits: md5 32, sha1 40, sha256 64, sha512 128.
var digestHexLen = sync.OnceValue(func() map[string]int {
	m := map[string]int{}
	for _, a := range hashing.All() {
		m[a.String()] = 2 * a.New().Size()
	}
	return m
})

// checkHashes accepts a map of known algorithm names to digests of the
// right length in lower-case hex (what Marshal writes and verification
// compares). where names the map in errors.
func checkHashes(where string, h Hashes) error {
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	sort.Strings(names) // the first error is the same on every run
	for _, name := range names {
		want, ok := digestHexLen()[name]
		if !ok {
			return fmt.Errorf("%s: unknown hash algorithm %s", where, quoteShort(name))
		}
		if v := h[name]; len(v) != want || !isLowerHex(v) {
			return fmt.Errorf("%s: %s digest %s is not %d lower-case hex digits", where, name, quoteShort(v), want)
		}
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// fingerprintPrefix starts an OpenSSH SHA-256 key fingerprint.
const fingerprintPrefix = "SHA256:"

// checkFingerprint accepts "SHA256:" and the unpadded standard base64 of 32
// bytes (43 characters, the last one with its unused bits zero), as
// ssh-keygen -l and ssh.FingerprintSHA256 write it.
func checkFingerprint(fp string) error {
	b64, ok := strings.CutPrefix(fp, fingerprintPrefix)
	if !ok || len(b64) != 43 {
		return fmt.Errorf("fingerprint %s is not SHA256: and 43 base64 characters", quoteShort(fp))
	}
	sum, err := base64.RawStdEncoding.Strict().DecodeString(b64)
	if err != nil || len(sum) != 32 {
		return fmt.Errorf("fingerprint %s is not SHA256: and 43 base64 characters", quoteShort(fp))
	}
	return nil
}

// checkSigner accepts a signer whose public key is one key in the form
// signerInfo writes ("TYPE BASE64", nothing else), whose key type is that
// key's, and whose fingerprint is well-formed. It does not check that the
// fingerprint is the key's: verification compares the signature's key with
// both, and says which differs.
func checkSigner(s *SignerInfo) error {
	if err := checkFingerprint(s.Fingerprint); err != nil {
		return err
	}
	if s.PublicKey == "" {
		return errors.New("no public key")
	}
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(s.PublicKey))
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("public key %s is not an OpenSSH public key", quoteShort(s.PublicKey))
	}
	if canonical := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))); canonical != s.PublicKey {
		return fmt.Errorf("public key %s is not written as \"TYPE BASE64\" alone", quoteShort(s.PublicKey))
	}
	if s.KeyType != pub.Type() {
		return fmt.Errorf("key type %s is not the public key's (%s)", quoteShort(s.KeyType), pub.Type())
	}
	return nil
}

// validateEvidence checks the fields that verification compares or prints
// from the evidence: hashes and the signer.
func (r *Report) validateEvidence() error {
	if err := checkHashes("hashes", r.Hashes); err != nil {
		return err
	}
	for i, s := range r.Image.Segments {
		if err := checkHashes(fmt.Sprintf("segment %d (%s) hashes", i+1, quoteShort(s.File)), s.Hashes); err != nil {
			return err
		}
	}
	for i, w := range r.HashWindows {
		if err := checkHashes(fmt.Sprintf("hash window %d (offset %d) hashes", i+1, w.Offset), w.Hashes); err != nil {
			return err
		}
	}
	if err := checkHashes("verification hashes", r.Verification.Hashes); err != nil {
		return err
	}
	if r.Signer != nil {
		if err := checkSigner(r.Signer); err != nil {
			return fmt.Errorf("signer: %w", err)
		}
	}
	return nil
}

// quoteShort quotes s for an error message, escaping everything that is not
// printable and cutting it to a length a terminal line can hold.
func quoteShort(s string) string {
	const limit = 72
	if len(s) > limit {
		cut := limit
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut-- // not in the middle of a UTF-8 sequence
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

package report

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Namespace is the SSHSIG namespace of report signatures (ssh-keygen -n). A
// signature made for another purpose (git commits, files) with the same key
// never verifies as a custodian report signature, and vice versa.
const Namespace = "custodian"

// SignatureHash is the hash algorithm inside the signature, as ssh-keygen
// uses by default.
const SignatureHash = sshsig.HashSHA512

var (
	// ErrKeyEncrypted: the key file needs a passphrase and none was given.
	ErrKeyEncrypted = errors.New("the signing key is encrypted and no passphrase was given")
	// ErrPassphrase: the passphrase does not decrypt the key.
	ErrPassphrase = errors.New("wrong passphrase for the signing key")
	// ErrNoAgent: an agent: key was asked for, but no agent is reachable.
	ErrNoAgent = errors.New("no ssh-agent (SSH_AUTH_SOCK is not set or not reachable)")
	// ErrAgentKey: the agent does not hold the requested key, or holds
	// several and none was named.
	ErrAgentKey = errors.New("key not found in ssh-agent")
	// ErrKeyPermissions: the private key file is not a regular file, or
	// its group or others have any permission on it. ssh and ssh-keygen
	// refuse such a key ("UNPROTECTED PRIVATE KEY FILE"), and so does
	// LoadSigner: a signature by a key others could read proves nothing.
	ErrKeyPermissions = errors.New("signing key file is not private")
)

// Signer signs report bytes. Info describes the key; WriteFiles records it
// in the report before signing, so the signature covers it. Sign returns an
// armored SSHSIG signature ("-----BEGIN SSH SIGNATURE-----") in namespace
// [Namespace], as `ssh-keygen -Y sign -n custodian` makes.
type Signer interface {
	Info() *SignerInfo
	Sign(message []byte) (armored []byte, err error)
}

// AgentPrefix starts a LoadSigner spec that names a key held by ssh-agent.
const AgentPrefix = "agent:"

// LoadSigner returns the signer that spec names, and checks at once that it
// can be used, so that a bad key or a wrong passphrase fails before any
// imaging starts, never after hours of it.
//
// spec is either the path of an OpenSSH private key file (Ed25519 is what
// `custodian keygen` writes; other OpenSSH key types work too), or
// "agent:FINGERPRINT" for a key held by the ssh-agent at $SSH_AUTH_SOCK
// (hardware-token keys included), FINGERPRINT as `ssh-add -l` prints it
// ("SHA256:…"; the "SHA256:" may be left out), or just "agent:" when the
// agent holds exactly one key.
//
// A key file must be a regular file that neither its group nor others
// have any permission on (mode 0600 or 0400; 0640 and 0644 are refused),
// or LoadSigner fails with an error wrapping [ErrKeyPermissions]. Unlike
// ssh, which checks only files owned by the user running it, LoadSigner
// checks whoever owns the file: root signing with an examiner's key
// readable by all is no better. Symbolic links are followed, as ssh does
// (keys kept on another volume); the checks apply to the file reached, and
// are made on the descriptor that is then read, so the file checked is the
// file used.
//
// passphrase is called only if the key file is encrypted; it may be nil, in
// which case an encrypted key gives [ErrKeyEncrypted]. A wrong passphrase
// gives [ErrPassphrase]. For agent keys, the agent is asked again at Sign
// time (it may have been restarted during a long acquisition).
func LoadSigner(spec string, passphrase func() ([]byte, error)) (Signer, error) {
	if fp, ok := strings.CutPrefix(spec, AgentPrefix); ok {
		return loadAgentSigner(os.Getenv("SSH_AUTH_SOCK"), fp)
	}
	return loadFileSigner(spec, passphrase)
}

// signerInfo describes pub; identity is the key's comment, if any.
func signerInfo(pub ssh.PublicKey, identity string) *SignerInfo {
	return &SignerInfo{
		KeyType:     pub.Type(),
		Fingerprint: ssh.FingerprintSHA256(pub),
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Identity:    identity,
	}
}

func signWith(s ssh.Signer, message []byte) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(message), s, SignatureHash, Namespace)
	if err != nil {
		return nil, fmt.Errorf("sign report: %w", err)
	}
	return sshsig.Armor(sig), nil
}

// fileSigner signs with a key read (and decrypted) from a file.
type fileSigner struct {
	s    ssh.Signer
	info *SignerInfo
}

func (f *fileSigner) Info() *SignerInfo {
	c := *f.info
	return &c
}

func (f *fileSigner) Sign(message []byte) ([]byte, error) { return signWith(f.s, message) }

// maxKeyFile bounds the size of a private key file (an OpenSSH RSA-16384
// key is under 13 KiB).
const maxKeyFile = 1 << 20

// readKeyFile reads a private key file after checking, on the open
// descriptor, that it is a regular file private to its owner. O_NONBLOCK
// keeps the open of a FIFO from waiting for a writer; it is refused next.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("signing key %s is not a regular file (%s): %w", path, fi.Mode().Type(), ErrKeyPermissions)
	}
	pem, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read signing key %s: %w", path, err)
	}
	if len(pem) > maxKeyFile {
		return nil, fmt.Errorf("signing key %s: larger than %d bytes, not a private key", path, maxKeyFile)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		if isPublicKey(pem) {
			return nil, errPublicKey(path) // the better message: wrong file, not wrong mode
		}
		return nil, fmt.Errorf("signing key %s has permissions %04o: its group or others may read or change it (ssh-keygen refuses it too; 0600 is required): %w",
			path, uint32(perm), ErrKeyPermissions)
	}
	return pem, nil
}

func isPublicKey(b []byte) bool { return bytes.HasPrefix(bytes.TrimSpace(b), []byte("ssh-")) }

func errPublicKey(path string) error {
	return fmt.Errorf("signing key %s: this is a public key; give the private key file", path)
}

func loadFileSigner(path string, passphrase func() ([]byte, error)) (Signer, error) {
	pem, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("signing key %s: %w", path, ErrKeyEncrypted)
		}
		pass, perr := passphrase()
		if perr != nil {
			return nil, fmt.Errorf("signing key %s: passphrase: %w", path, perr)
		}
		if len(pass) == 0 {
			return nil, fmt.Errorf("signing key %s: %w", path, ErrKeyEncrypted)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
		clear(pass)
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, fmt.Errorf("signing key %s: %w", path, ErrPassphrase)
		}
	}
	if err != nil {
		if isPublicKey(pem) {
			return nil, errPublicKey(path)
		}
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return &fileSigner{s: s, info: signerInfo(s.PublicKey(), pubKeyComment(path+".pub", s.PublicKey()))}, nil
}

// pubKeyComment returns the comment of the public key file next to a
// private key, if that file holds the same key. `custodian keygen` puts the
// identity there.
func pubKeyComment(path string, pub ssh.PublicKey) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	k, comment, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil || !bytes.Equal(k.Marshal(), pub.Marshal()) {
		return ""
	}
	return comment
}

// agentSigner signs through ssh-agent. It holds no connection: each Sign
// dials the agent anew and looks the key up by fingerprint.
type agentSigner struct {
	socket string
	info   *SignerInfo
}

func (a *agentSigner) Info() *SignerInfo {
	c := *a.info
	return &c
}

func (a *agentSigner) Sign(message []byte) ([]byte, error) {
	conn, err := dialAgent(a.socket)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	for _, s := range signers {
		if ssh.FingerprintSHA256(s.PublicKey()) == a.info.Fingerprint {
			return signWith(s, message)
		}
	}
	return nil, fmt.Errorf("%w: %s (was it removed since custodian started?)", ErrAgentKey, a.info.Fingerprint)
}

func dialAgent(socket string) (net.Conn, error) {
	if socket == "" {
		return nil, ErrNoAgent
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoAgent, err)
	}
	return conn, nil
}

func loadAgentSigner(socket, fp string) (Signer, error) {
	if fp != "" && !strings.HasPrefix(fp, "SHA256:") {
		fp = "SHA256:" + fp
	}
	conn, err := dialAgent(socket)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	keys, err := agent.NewClient(conn).List()
	if err != nil {
		return nil, fmt.Errorf("ssh-agent: %w", err)
	}
	var found []*agent.Key
	var all []string
	for _, k := range keys {
		kfp := ssh.FingerprintSHA256(k)
		all = append(all, kfp+" "+k.Comment)
		if fp == "" || kfp == fp {
			found = append(found, k)
		}
	}
	switch {
	case len(found) == 1:
		pub, err := ssh.ParsePublicKey(found[0].Marshal())
		if err != nil {
			return nil, fmt.Errorf("ssh-agent key: %w", err)
		}
		return &agentSigner{socket: socket, info: signerInfo(pub, found[0].Comment)}, nil
	case len(keys) == 0:
		return nil, fmt.Errorf("%w: the agent holds no keys", ErrAgentKey)
	case fp == "":
		return nil, fmt.Errorf("%w: the agent holds %d keys, name one as agent:FINGERPRINT:\n%s",
			ErrAgentKey, len(keys), strings.Join(all, "\n"))
	default:
		return nil, fmt.Errorf("%w: %s; the agent holds:\n%s", ErrAgentKey, fp, strings.Join(all, "\n"))
	}
}

// SignatureInfo is what a signature file says about itself. Nothing in it
// is trusted until the signature has been verified against a key.
type SignatureInfo struct {
	Namespace     string
	HashAlgorithm string
	KeyType       string
	Fingerprint   string
	PublicKey     ssh.PublicKey

	sig *sshsig.Signature
}

// ParseSignature decodes an armored SSHSIG signature, as written by
// WriteFiles or `ssh-keygen -Y sign`.
func ParseSignature(armored []byte) (*SignatureInfo, error) {
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return nil, fmt.Errorf("parse signature: %w", err)
	}
	if sig.PublicKey == nil || sig.Signature == nil {
		return nil, errors.New("parse signature: incomplete signature")
	}
	return &SignatureInfo{
		Namespace:     sig.Namespace,
		HashAlgorithm: string(sig.HashAlgorithm),
		KeyType:       sig.PublicKey.Type(),
		Fingerprint:   ssh.FingerprintSHA256(sig.PublicKey),
		PublicKey:     sig.PublicKey,
		sig:           sig,
	}, nil
}

// verify checks that the signature is a valid signature of message by its
// own key in namespace [Namespace]. It says nothing about whether that key
// is trusted; the caller checks the key against allowed signers.
func (s *SignatureInfo) verify(message []byte) error {
	if s.Namespace != Namespace {
		return fmt.Errorf("%w: signature namespace is %q, not %q", ErrMismatch, s.Namespace, Namespace)
	}
	if err := sshsig.HashAlgorithm(s.HashAlgorithm).Available(); err != nil {
		return fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	if err := sshsig.Verify(bytes.NewReader(message), s.sig, s.PublicKey, sshsig.HashAlgorithm(s.HashAlgorithm), Namespace); err != nil {
		return fmt.Errorf("%w: the signature does not match the report (%v)", ErrMismatch, err)
	}
	return nil
}

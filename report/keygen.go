package report

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/ssh"
)

// ErrIdentity: the identity given for a new key cannot be an
// allowed_signers principal.
var ErrIdentity = errors.New("invalid identity")

// KeyPair is a newly generated signing key, as files and as the line to
// give whoever will verify reports signed with it.
type KeyPair struct {
	PrivatePath string
	PublicPath  string
	Info        *SignerInfo
	// AllowedSigners is the allowed_signers line for the key, restricted
	// to namespace [Namespace].
	AllowedSigners string
}

// GenerateKey writes a new Ed25519 key pair in OpenSSH format: the private
// key to path (mode 0600, encrypted when passphrase is not empty) and the
// public key to path.pub, with identity as its comment. It refuses to
// overwrite either file (the error wraps fs.ErrExist): a signing key that
// silently replaced another would orphan every report signed before.
func GenerateKey(path, identity string, passphrase []byte) (*KeyPair, error) {
	if err := CheckIdentity(identity); err != nil {
		return nil, err
	}
	pubPath := path + ".pub"
	for _, p := range []string{path, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s already exists: %w", p, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var block *pem.Block
	if len(passphrase) > 0 {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, identity, passphrase)
	} else {
		block, err = ssh.MarshalPrivateKey(priv, identity)
	}
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	info := signerInfo(sshPub, identity)
	if err := writeNew(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	if err := writeNew(pubPath, []byte(info.PublicKey+" "+identity+"\n"), 0o644); err != nil {
		os.Remove(path)
		return nil, err
	}
	return &KeyPair{
		PrivatePath:    path,
		PublicPath:     pubPath,
		Info:           info,
		AllowedSigners: AllowedSignersLine(identity, info.PublicKey),
	}, nil
}

// AllowedSignersLine returns the allowed_signers line that admits
// publicKey (authorized_keys format) for identity, for report signatures
// only.
func AllowedSignersLine(identity, publicKey string) string {
	return fmt.Sprintf("%s namespaces=%q %s", identity, Namespace, publicKey)
}

// writeNew creates path (never replacing it), writes data and syncs it.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

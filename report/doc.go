// Package report holds the acquisition report: the document an examiner
// hands to a court. It says what was imaged, how, by whom and with which
// results, and lets anyone prove, with standard tools and without
// custodian, that it was not altered.
//
// # Files
//
// [WriteFiles] writes three files into the evidence folder:
//
//   - NAME.report.json, the document of record, encoded by [Marshal];
//   - NAME.report.json.sig, an OpenSSH SSHSIG signature of exactly those
//     bytes in namespace "custodian" ([Namespace]), when a [Signer] is given;
//   - NAME.report.txt, the same report for people ([RenderText]): a one-page
//     summary, then the details.
//
// # Invariants
//
// The JSON encoding is canonical: field order is the order of the Go
// structs, map keys are sorted, indentation is two spaces, HTML characters
// are not escaped, the file ends in one newline, and empty lists and maps
// are written as [] and {}, never null. The same facts therefore give the
// same bytes, and for any report written by Marshal, Marshal(Parse(b))
// returns b byte for byte (fuzzed by FuzzParse). Timestamps are UTC
// ([Timestamp]); the clock, host and tool version come in through [Env] so
// tests are deterministic.
//
// # What the signature covers
//
// The signature covers the bytes of NAME.report.json as written, nothing
// more and nothing less: all report fields, including the signer's public
// key and fingerprint ([SignerInfo], filled in before signing), the
// segment and whole-image hashes. It does not cover the image files
// directly; they are bound to it through their recorded sizes and hashes,
// which [Verify] checks. The text report is not signed; it is a rendering.
// Anyone can check the signature with
//
//	ssh-keygen -Y verify -f allowed_signers -I ID -n custodian -s NAME.report.json.sig < NAME.report.json
//
// and then the hashes with md5sum/sha256sum against the report.
//
// # Verification
//
// [Verify] checks, in order: the signature (against an allowed_signers
// file or a public key, or only for internal consistency when neither is
// given), the report itself, every segment's size and hashes, the
// whole-image hashes, and optionally the source again. Each check is a
// [Check] that names its file and, on a mismatch, the hash that differs.
// [Parse] never lets a report name a file outside its own folder.
//
// Keys: [LoadSigner] opens an OpenSSH private key file (asking for its
// passphrase through a callback) or a key held by ssh-agent, and checks it
// at once, so that a key problem stops an acquisition before it starts.
// [GenerateKey] makes a new Ed25519 key pair.
package report

package report

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse: Parse never panics, whatever it accepts encodes, the encoding
// parses back to the same report and encodes to the same bytes, and a
// canonical input comes back byte for byte (the property a signed document
// needs: what is signed is exactly what is read).
func FuzzParse(f *testing.F) {
	good, _ := Marshal(sampleReport())
	empty, _ := Marshal(&Report{Schema: Schema, Status: StatusFailed})
	f.Add(good)
	f.Add(empty)
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"complete","image":{"segments":[{"file":"a.001","hashes":null}]}}`))
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"incomplete","events":[{"offset":0}],"hashes":{"md5":"\u2028<>&"}}`))
	// Hashes and signers of the right and of the wrong form.
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"complete","hashes":{"md5":"d41d8cd98f00b204e9800998ecf8427e","sha1":"da39a3ee5e6b4b0d3255bfef95601890afd80709"}}`))
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"complete","hashes":{"md5":"D41D8CD98F00B204E9800998ECF8427E"}}`))
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"complete","hash_windows":[{"hashes":{"sha256":"00"}}],"verification":{"hashes":{"crc32":"00000000"}}}`))
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"complete","signer":{"key_type":"ssh-ed25519","fingerprint":"SHA256:2bPtq4Jtj1rEnWQxm3yVxmDcCfAJ1vSCgQbGxrUn3Ow","public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5e8dBNr3yjbcGVvb3xyNbUl7qZHO0rYGlXmxXb3Bb5"}}`))
	f.Add([]byte(`{"schema":"custodian/report/v1","status":"complete","signer":{"key_type":"ssh-rsa","fingerprint":"SHA256:fake","public_key":"ssh-ed25519 AAAA comment"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever is accepted has well-formed hashes and signer.
		if err := r.validateEvidence(); err != nil {
			t.Fatalf("Parse accepted malformed evidence: %v", err)
		}
		m1, err := Marshal(r)
		if err != nil {
			t.Fatalf("Marshal of a parsed report: %v", err)
		}
		r2, err := Parse(m1)
		if err != nil {
			t.Fatalf("the encoding of a parsed report does not parse: %v\n%s", err, m1)
		}
		m2, _ := Marshal(r2)
		if !bytes.Equal(m1, m2) {
			t.Fatalf("encode → parse → encode changed the bytes:\n%s", cmp.Diff(string(m1), string(m2)))
		}
		if IsCanonical(b) && !bytes.Equal(b, m1) {
			t.Fatal("IsCanonical is true but the round trip differs")
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	f.Add([]byte(sampleSignature))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ==\n-----END SSH SIGNATURE-----\n"))
	f.Add([]byte("-----BEGIN SSH SIGNATURE-----\n-----END SSH SIGNATURE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignature(b)
		if err != nil {
			return
		}
		// A parsed signature must be usable by verify without panicking.
		_ = s.verify([]byte("report"))
	})
}

func FuzzParseAllowedSigners(f *testing.F) {
	f.Add([]byte(`j.doe@lab.example namespaces="custodian" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILk76wVrwIOXXyr2lr4+AunEAdOtuMAQ51XCVHigCsdm comment`))
	f.Add([]byte(`"a b",*@x valid-after="20250101",valid-before="20300101Z" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILk76wVrwIOXXyr2lr4+AunEAdOtuMAQ51XCVHigCsdm` + "\n# c\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := ParseAllowedSigners(b)
		if err != nil {
			return
		}
		for _, e := range entries {
			_ = e.allows("j.doe@lab.example", e.Key, Namespace, e.ValidAfter)
		}
	})
}

// sampleSignature is `ssh-keygen -Y sign -n custodian` of "report\n" by a
// throwaway key.
const sampleSignature = `-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAguTvrBWvAg5dfKvaWvj4C6cQB06
24wBDnVcJUeKAKx2YAAAAJY3VzdG9kaWFuAAAAAAAAAAZzaGE1MTIAAABTAAAAC3NzaC1l
ZDI1NTE5AAAAQEP4x/Sutuzsj4LWk4xymYHkVaRnBi5VUR47QCs+n2tgOplw4tby/x9M03
qXthDDtrTDIPdUF0x2XpJDJ7mUIQw=
-----END SSH SIGNATURE-----
`

package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/blockdev"
	"github.com/custodian-forensics/custodian/report"
)

// acquisition turns the acquire flags (f, parsed into o) into the
// acquire.Options of SOURCE: the one place where flag values get their
// meaning, for `custodian acquire` and for every job of `custodian batch`.
// signers, when not nil, caches the loaded keys by --sign-key (a batch
// asks for a key's passphrase once). OnEvent is left for the caller.
func (o *acquireOptions) acquisition(g *globalOptions, f *pflag.FlagSet, source string, signers map[string]report.Signer) (acquire.Options, error) {
	if strings.TrimSpace(o.output) == "" {
		return acquire.Options{}, usageError(errors.New("-o, --output needs an evidence folder, got an empty name"),
			"custodian acquire "+source+" -o /evidence/case-42 (the folder is created if missing)")
	}
	if !f.Changed("segment-size") {
		o.segmentSize = sizeValue(acquire.DefaultSegmentSize(o.format))
	}
	if o.format == "raw" && f.Changed("compress") && o.compress != "none" {
		return acquire.Options{}, usageErrorf("--compress %s is for --format ewf; raw images are not compressed", o.compress)
	}
	segHashes, err := segmentHashes(o.segmentHash, o.hashes)
	if err != nil {
		return acquire.Options{}, usageError(fmt.Errorf("--segment-hash: %w", err))
	}
	if o.retries < 0 || o.buffers < 2 {
		return acquire.Options{}, usageErrorf("--retries must be ≥ 0 and --buffers ≥ 2")
	}
	name := o.name
	if name == "" {
		name = acquire.DefaultName(source)
	}
	// The key is checked before imaging: a wrong passphrase costs seconds.
	signer, cached := signers[o.signKey]
	if !cached {
		if signer, err = loadSigner(o.signKey, g.stdin, g.stderr); err != nil {
			return acquire.Options{}, err
		}
		if signers != nil {
			signers[o.signKey] = signer
		}
	}
	return acquire.Options{
		Name: name, Format: o.format, SegmentSize: int64(o.segmentSize),
		Hashes: o.hashes, SegmentHashes: segHashes, HashWindow: int64(o.hashWindow),
		Compression: o.compress, Case: o.caseInfo,
		ReadSize: int(o.readSize), Buffers: o.buffers, Retries: o.retries, CheckpointEvery: int64(o.ckpt),
		Verify: o.verify, Resume: o.resume,
		WriteBlock: !o.noWriteBlock, RestoreWriteBlock: o.restoreWB,
		AllowBusy: o.allowBusy, Force: o.force, AllowForeignFolder: o.allowForeign, Signer: signer,
		Origins:     origins(g, f),
		ToolVersion: Version(), CommandLine: append([]string{"custodian"}, g.args...),
		WriteBlockState: &blockdev.StateStore{Dir: o.stateDir},
	}, nil
}

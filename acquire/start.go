package acquire

import (
	"slices"

	"github.com/custodian-forensics/custodian/report"
)

// Start is what an acquisition is about to do, given to [Options.OnStart]
// just before the first read: the source as the report will describe it
// (identity, geometry, write-block), the destination and the image.
type Start struct {
	Source report.Source
	// Name is the source's kernel name ("sdb"); "" for a regular file.
	Name string
	// Dir is the output folder; DirFree the bytes free on its filesystem
	// for this user (statfs f_bavail), -1 when unknown.
	Dir     string
	DirFree int64
	// Format, Compression and SegmentSize describe the image files.
	Format      string
	Compression string
	SegmentSize int64
	// Hashes are the whole-image hash algorithms.
	Hashes []string
	// From is where imaging starts: 0, or a resume's checkpoint.
	From int64
}

// started tells OnStart what the run is about to do.
func (a *Acquisition) started(r *report.Report, from int64) {
	if a.o.OnStart == nil {
		return
	}
	st := Start{
		Source: r.Source, Dir: a.dir, DirFree: -1,
		Format: r.Image.Format, Compression: r.Image.Compression, SegmentSize: r.Image.SegmentSize,
		Hashes: slices.Clone(r.Settings.HashAlgorithms), From: from,
	}
	st.Source.WriteBlock.Devices = slices.Clone(st.Source.WriteBlock.Devices)
	if a.info != nil {
		st.Name = a.info.Name
	}
	if free, err := FreeSpace(a.dir); err == nil {
		st.DirFree = free
	}
	a.o.OnStart(st)
}

package verify

import (
	"fmt"
	"strings"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/report"
)

// maxListedRanges bounds the ranges a check's detail names (all of them
// are in Result.NewlyUnreadable).
const maxListedRanges = 10

// rereadSource re-reads the source as an acquisition does (failed reads
// narrowed to sectors; what is unreadable now, and what the report lists
// as unreadable, compared as zeros), so that a damaged source can be
// verified again: ranges unreadable now that the report lists as read are
// a mismatch of their own, listed; the hashes are compared all the same.
func (v *Verifier) rereadSource(r *report.Report, set hashing.Set) {
	got, err := acquire.RereadSource(v.ctx, v.o.Source, imageLength(r), r.Unreadable, r.Settings.Retries, set, counter{&v.done})
	if err != nil {
		v.addf("source", v.o.Source, classify(err), "read source: "+err.Error())
		return
	}
	v.res.NewlyUnreadable = got.NewlyUnreadable
	if len(got.NewlyUnreadable) > 0 {
		v.addf("source_unreadable", v.o.Source, report.CheckMismatch, fmt.Sprintf("%s newly unreadable (the report lists them as read; they were compared as zeros): %s",
			bytesIn(got.NewlyUnreadable), rangeList(got.NewlyUnreadable, r.Source.LogicalSectorSize)))
	}
	c := compareStream(report.Hashes(got.Sums), got.N, r, "source")
	var notes []string
	if len(r.Unreadable) > 0 {
		notes = append(notes, fmt.Sprintf("the report's %d unreadable bytes compared as zeros, as in the image", r.UnreadableBytes()))
		if len(got.ReadableNow) > 0 {
			notes = append(notes, fmt.Sprintf("%s of them read now", bytesIn(got.ReadableNow)))
		}
	}
	if len(got.NewlyUnreadable) > 0 && c.Status == report.CheckMismatch {
		notes = append(notes, "the newly unreadable sectors explain a mismatch only if the image holds data there")
	}
	if len(notes) > 0 {
		c.Detail += " (" + strings.Join(notes, "; ") + ")"
	}
	c.Name, c.Subject = "source", v.o.Source
	v.add(c)
}

func bytesIn(rs []report.Range) string {
	var n int64
	for _, r := range rs {
		n += r.Length
	}
	s := fmt.Sprintf("%d bytes in %d range", n, len(rs))
	if len(rs) != 1 {
		s += "s"
	}
	return s
}

// rangeList names the first maxListedRanges ranges by sectors and bytes.
func rangeList(rs []report.Range, sectorSize int) string {
	parts := make([]string, 0, min(len(rs), maxListedRanges)+1)
	for i, u := range rs {
		if i == maxListedRanges {
			parts = append(parts, fmt.Sprintf("and %d more", len(rs)-i))
			break
		}
		parts = append(parts, report.SectorRun(u, sectorSize))
	}
	return strings.Join(parts, "; ")
}

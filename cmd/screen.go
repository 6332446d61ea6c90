package cmd

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/report"
)

// header is what an examiner reads before the first sector is read: the
// source as identified, how it is write-blocked, where the image goes and
// how it is made. Values from the device are escaped (report.Printable).
func header(w io.Writer, st acquire.Start) {
	s := st.Source
	f := func(k, v string) { fmt.Fprintf(w, "%-13s%s\n", k+":", v) }
	src := report.Printable(s.Path)
	if s.Device != "" {
		src += " (" + report.Printable(s.Device) + ")"
	}
	if st.Name != "" {
		src += ", kernel name " + report.Printable(st.Name)
	}
	f("source", src)
	if s.Kind == "block device" {
		var id []string
		for _, kv := range [][2]string{{"model", strings.TrimSpace(s.Vendor + " " + s.Model)}, {"serial", s.Serial},
			{"firmware", s.FirmwareRevision}, {"transport", s.Transport}} {
			if kv[1] != "" {
				id = append(id, kv[0]+" "+report.Printable(kv[1]))
			}
		}
		if len(id) == 0 {
			id = append(id, "no model or serial in sysfs")
		}
		f("identity", strings.Join(id, ", "))
	}
	f("size", fmt.Sprintf("%d bytes (%s), sectors %d logical, %d physical", s.Size, humanBytes(s.Size), s.LogicalSectorSize, s.PhysicalSectorSize))
	f("write-block", writeBlockLine(s))
	free := "free space unknown"
	if st.DirFree >= 0 {
		free = humanBytes(st.DirFree) + " free"
	}
	f("destination", fmt.Sprintf("%s (%s)", report.Printable(st.Dir), free))
	img := st.Format
	if st.Format == "ewf" && st.Compression != "" {
		img += ", compression " + st.Compression
	}
	if st.SegmentSize > 0 {
		img += ", segments of " + humanBytes(st.SegmentSize)
	} else {
		img += ", one file"
	}
	f("format", img)
	f("hashes", strings.Join(st.Hashes, ", "))
	if st.From > 0 {
		f("resuming at", fmt.Sprintf("byte %d (%.1f %%)", st.From, float64(st.From)*100/float64(max(s.Size, 1))))
	}
	fmt.Fprintln(w)
}

// writeBlockLine says whether and how the source is kept read-only.
func writeBlockLine(s report.Source) string {
	wb := s.WriteBlock
	switch {
	case s.Kind != "block device":
		return "not applicable (a regular file, opened read-only)"
	case wb.Enabled && wb.Confirmed:
		return fmt.Sprintf("confirmed: %s set, read back by BLKROGET and sysfs on %s", wb.Method, strings.Join(wb.Devices, ", "))
	case wb.Enabled:
		return "SET BUT NOT CONFIRMED"
	case wb.CounterChecked:
		return "OFF (--no-writeblock): only the write counters are compared"
	}
	return "OFF (--no-writeblock), and the write counters cannot be read"
}

// closingInfo is what the closing block says.
type closingInfo struct {
	Report     *report.Report
	ReportPath string // NAME.report.json, "" when it was not written
	Code       int    // the exit status the command ends with
	Started    time.Time
	Finished   time.Time
}

// closing is the block printed after the summary: how long it took, what
// the exit status means, where the reports are and how to check the
// evidence later.
func closing(w io.Writer, c closingInfo) {
	r := c.Report
	f := func(k, v string) { fmt.Fprintf(w, "%-13s%s\n", k+":", v) }
	if !c.Started.IsZero() && c.Finished.After(c.Started) {
		d := c.Finished.Sub(c.Started)
		if d < time.Minute {
			d = d.Round(10 * time.Millisecond)
		} else {
			d = d.Round(time.Second)
		}
		f("duration", d.String())
		if secs := d.Seconds(); secs > 0 && r.BytesAcquired > 0 {
			f("speed", fmt.Sprintf("%s/s on average", humanBytes(int64(float64(r.BytesAcquired)/secs))))
		}
	}
	f("exit status", fmt.Sprintf("%s: exit %d", outcome(r, c.Code), c.Code))
	if c.ReportPath == "" {
		return
	}
	signed := ""
	if r.Signer != nil {
		signed = " (signed: " + filepath.Base(c.ReportPath) + ".sig)"
	}
	f("json report", c.ReportPath+signed)
	f("text report", strings.TrimSuffix(c.ReportPath, ".json")+".txt")
	if r.Status != report.StatusComplete {
		return
	}
	dir := filepath.Dir(c.ReportPath)
	how := "--no-trust " + shellQuote(dir) + "   (the report is not signed)"
	if r.Signer != nil {
		how = "--pubkey KEY.pub " + shellQuote(dir) + "   (the signing key's public half)"
	}
	f("verify with", "custodian verify "+how)
}

// outcome is the exit status in words.
func outcome(r *report.Report, code int) string {
	var unreadable int64
	for _, u := range r.Unreadable {
		unreadable += u.Length
	}
	sectors := unreadable / int64(max(r.Source.LogicalSectorSize, 1))
	switch {
	case code == ExitMismatch:
		return "complete, but the re-read image does NOT match"
	case code == ExitUnreadable || (code == ExitOK && sectors > 0):
		return fmt.Sprintf("complete, %d %s unreadable (zero-filled, listed in the report)", sectors, plural(sectors, "sector", "sectors"))
	case code == ExitOK && r.Verification.Performed:
		return "complete, every sector read, the re-read image matches"
	case code == ExitOK:
		return "complete, every sector read"
	case r.Status == report.StatusComplete:
		return "the image is complete, but the command failed"
	}
	pct := 0.0
	if r.Source.Size > 0 {
		pct = float64(r.BytesAcquired) * 100 / float64(r.Source.Size)
	}
	return fmt.Sprintf("%s, stopped after %s of %s (%.1f %%, %d bytes)", r.Status, humanBytes(r.BytesAcquired), humanBytes(r.Source.Size), pct, r.BytesAcquired)
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// shellQuote quotes s for a shell command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+:@,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

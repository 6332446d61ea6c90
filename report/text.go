package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodian-forensics/custodian/internal/units"
)

// RenderText writes the report for people: a one-page summary first (what
// was imaged, by whom, the hashes, the result, unreadable sectors,
// verification and the signing key), then every detail the JSON holds.
// The JSON report remains the document of record; this text is rendered
// from the same Report and adds nothing to it.
func RenderText(w io.Writer, r *Report) error {
	p := &printer{w: w}
	title := "CUSTODIAN ACQUISITION REPORT"
	p.line(title)
	p.line(strings.Repeat("=", len(title)))
	p.line("")
	p.field("Result", resultLine(r))
	if r.Error != "" {
		p.field("Error", r.Error)
	}
	p.field("Case number", orNone(r.Case.CaseNumber))
	p.field("Evidence number", orNone(r.Case.EvidenceNumber))
	p.field("Examiner", orNone(r.Case.Examiner))
	if r.Case.Description != "" {
		p.field("Description", r.Case.Description)
	}
	p.field("Source", sourceLine(r.Source))
	p.field("Size", sizeLine(r.Source.Size))
	p.field("Write-block", writeBlockLine(r.Source))
	p.field("Image", imageLine(r.Image))
	p.field("Started (UTC)", withLocal(r.StartedAt, r.StartedAtLocal))
	p.field("Finished (UTC)", withLocal(r.FinishedAt, r.FinishedAtLocal))
	p.field("Duration", durationLine(r))
	if len(r.Runs) > 1 {
		p.field("Runs", fmt.Sprintf("%d (interrupted and resumed; listed below)", len(r.Runs)))
	}
	p.line("Hashes of the source as imaged:")
	if len(r.Hashes) == 0 {
		p.line("  (none)")
	}
	for _, k := range sortedKeys(r.Hashes) {
		p.linef("  %-7s %s", k, r.Hashes[k])
	}
	p.field("Unreadable", unreadableLine(r))
	p.field("Verification", verificationLine(r.Verification))
	p.field("Signature", signerLine(r.Signer))
	p.linef("The JSON report %s.report.json is the document of record and the", nameOr(r.Image.Name))
	p.line("one that is signed; this text is rendered from it and adds nothing.")
	p.line("")
	p.line("Check the image and this report's signature with:")
	name := r.Image.Name
	if name == "" {
		name = "NAME"
	}
	p.linef("  custodian verify --allowed-signers FILE --identity %s DIR", identityOr(r.Signer, "ID"))
	p.line("or, for the signature alone, with OpenSSH:")
	p.linef("  ssh-keygen -Y verify -f FILE -I %s -n %s -s %s.report.json.sig < %s.report.json",
		identityOr(r.Signer, "ID"), Namespace, name, name)

	p.line("")
	p.line("DETAILS")
	p.line("=======")
	p.line("")
	p.line("Tool, host and command")
	p.field("Tool", strings.TrimSpace(r.Tool.Name+" "+r.Tool.Version))
	if r.Tool.GoVersion != "" {
		p.field("Built with", r.Tool.GoVersion)
	}
	if r.Tool.ExecutableSHA256 != "" {
		p.field("Binary SHA-256", r.Tool.ExecutableSHA256)
	}
	p.field("Schema", r.Schema)
	p.field("Host", orNone(r.Host.Hostname))
	p.field("Kernel", orNone(r.Host.Kernel))
	p.field("Command line", quoteArgs(r.CommandLine))
	p.line("")
	p.line("Case")
	p.field("Case number", orNone(r.Case.CaseNumber))
	p.field("Evidence number", orNone(r.Case.EvidenceNumber))
	p.field("Examiner", orNone(r.Case.Examiner))
	p.field("Description", orNone(r.Case.Description))
	p.field("Notes", orNone(r.Case.Notes))
	p.line("")
	p.line("Source")
	s := r.Source
	p.field("Path", orNone(s.Path))
	p.field("Kind", orNone(s.Kind))
	p.field("Size", sizeLine(s.Size))
	p.field("Sector size", fmt.Sprintf("%d logical, %d physical", s.LogicalSectorSize, s.PhysicalSectorSize))
	if s.Vendor != "" {
		p.field("Vendor", s.Vendor)
	}
	p.field("Model", orNone(s.Model))
	p.field("Serial", orNone(s.Serial))
	if s.WWID != "" {
		p.field("WWID", s.WWID)
	}
	if s.FirmwareRevision != "" {
		p.field("Firmware", s.FirmwareRevision)
	}
	if s.Transport != "" {
		p.field("Transport", s.Transport)
	}
	p.field("Read-only before", yesNo(s.ReadOnlyBefore))
	p.field("Read-only during", yesNo(s.ReadOnlyDuring))
	p.field("Write-block", yesNo(s.WriteBlock.Enabled))
	if s.WriteBlock.Method != "" {
		p.field("Method", s.WriteBlock.Method)
	}
	if len(s.WriteBlock.Devices) > 0 {
		p.field("Devices", strings.Join(s.WriteBlock.Devices, ", "))
	}
	p.field("Confirmed", yesNo(s.WriteBlock.Confirmed))
	p.field("Restored after", yesNo(s.WriteBlock.Restored))
	p.field("Write counters", writeCounterLine(s))
	if pt := s.PartitionTable; pt != nil {
		p.field("Partition table", partitionTableLine(pt))
		for _, pa := range pt.Partitions {
			p.line("  " + partitionLine(pa, s.LogicalSectorSize))
		}
	}
	p.line("")
	p.line("Settings")
	st := r.Settings
	p.field("Hash algorithms", orNone(strings.Join(st.HashAlgorithms, ", ")))
	p.field("Hash window", windowLine(st.HashWindow))
	p.field("Read size", fmt.Sprintf("%d bytes", st.ReadSize))
	p.field("Retries", strconv.Itoa(st.Retries))
	p.field("Direct I/O", yesNo(st.DirectIO))
	p.field("Resumed", yesNo(st.Resumed))
	p.field("Bytes acquired", sizeLine(r.BytesAcquired))
	p.line("")
	p.linef("Image segments (%s)", orNone(r.Image.Format))
	p.field("Segment size", segmentSizeLine(r.Image.SegmentSize))
	if r.Image.Compression != "" {
		p.field("Compression", r.Image.Compression)
	}
	if len(r.Image.Segments) == 0 {
		p.line("  (none)")
	}
	for _, sg := range r.Image.Segments {
		p.linef("  %s  source bytes %d-%d (%d bytes), file size %d", sg.File, sg.Offset,
			sg.Offset+sg.Length-1, sg.Length, sg.FileSize)
		for _, k := range sortedKeys(sg.Hashes) {
			p.linef("    %-7s %s", k, sg.Hashes[k])
		}
	}
	p.line("")
	p.line("Verification")
	p.field("Performed", yesNo(r.Verification.Performed))
	if r.Verification.Performed {
		p.field("Matched", yesNo(r.Verification.Matched))
	}
	for _, k := range sortedKeys(r.Verification.Hashes) {
		p.linef("  %-7s %s", k, r.Verification.Hashes[k])
	}
	p.line("")
	p.linef("Unreadable ranges (%d)", len(r.Unreadable))
	for _, u := range r.Unreadable {
		p.linef("  bytes %d-%d (%d bytes)%s", u.Offset, u.Offset+u.Length-1, u.Length, sectorNote(u, s.LogicalSectorSize))
	}
	p.line("")
	p.linef("Hash windows (%d)", len(r.HashWindows))
	for _, hw := range r.HashWindows {
		p.linef("  bytes %d-%d", hw.Offset, hw.Offset+hw.Length-1)
		for _, k := range sortedKeys(hw.Hashes) {
			p.linef("    %-7s %s", k, hw.Hashes[k])
		}
	}
	p.line("")
	p.renderRuns(r)
	if r.Signer != nil {
		p.line("")
		p.line("Signing key")
		p.field("Type", r.Signer.KeyType)
		p.field("Fingerprint", r.Signer.Fingerprint)
		if r.Signer.Identity != "" {
			p.field("Identity", r.Signer.Identity)
		}
		p.field("Public key", r.Signer.PublicKey)
	}
	return p.err
}

// printer writes lines and keeps the first error, so RenderText reads as
// the document it produces.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(s string) {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, escapeControl(s)+"\n")
	}
}

// escapeControl makes control characters visible: model and serial strings
// come from devices and must not move a terminal's cursor or hide text.
func escapeControl(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 }

func (p *printer) linef(format string, args ...any) { p.line(fmt.Sprintf(format, args...)) }

// field writes "Label:   value", aligned, with continuation lines of
// multi-line values indented under the value.
func (p *printer) field(label, value string) {
	const width = 18
	pad := strings.Repeat(" ", width)
	value = strings.ReplaceAll(value, "\n", "\n"+pad)
	p.linef("%-*s%s", width, label+":", value)
}

// detailKinds are the damage events kept in the JSON report only: the
// failed reads, retries and probes behind each unreadable run.
var detailKinds = map[string]bool{"read_error": true, "retry_ok": true, "probe": true}

// renderRuns lists the runs (one, or more after --resume), each with its
// events; the per-read and per-sector detail is counted, not listed.
func (p *printer) renderRuns(r *Report) {
	runs := r.Runs
	if len(runs) == 0 {
		runs = []Run{{StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, CommandLine: r.CommandLine, EventCount: len(r.Events)}}
	} else {
		p.linef("Runs (%d)", len(runs))
	}
	detail := 0
	for i, run := range runs {
		if len(r.Runs) > 0 {
			p.linef("  Run %d: %s", i+1, RunOutcomeText(run.Outcome))
			p.field("    Command line", quoteArgs(run.CommandLine))
			p.field("    Started", withLocal(run.StartedAt, run.StartedAtLocal))
			p.field("    Finished", withLocal(run.FinishedAt, run.FinishedAtLocal))
			p.field("    Imaged", imagedLine(run))
			if run.Error != "" {
				p.field("    Error", run.Error)
			}
		}
		lo, hi := min(max(run.FirstEvent, 0), len(r.Events)), min(max(run.FirstEvent+run.EventCount, 0), len(r.Events))
		var shown []Event
		for _, e := range r.Events[lo:max(lo, hi)] {
			if detailKinds[e.Kind] {
				detail++
				continue
			}
			shown = append(shown, e)
		}
		head := ""
		if len(r.Runs) > 0 {
			head = "    "
		}
		p.linef("%sEvents (%d)", head, len(shown))
		for _, e := range shown {
			p.linef("%s  %s %-7s %s: %s%s", head, e.Time, e.Level, e.Kind, e.Message, eventWhere(e))
		}
	}
	if detail > 0 {
		p.linef("%s (failed reads, retries and probes) are listed in the JSON report only.", plural(int64(detail), "further damage event"))
	}
}

func imagedLine(run Run) string {
	if run.EndOffset <= run.StartOffset {
		return fmt.Sprintf("nothing kept (from byte %d)", run.StartOffset)
	}
	return fmt.Sprintf("bytes %d-%d (%d bytes)", run.StartOffset, run.EndOffset-1, run.EndOffset-run.StartOffset)
}

func eventWhere(e Event) string {
	if e.Offset == nil || e.Kind == "unreadable" && e.Sector != nil {
		return "" // an unreadable run's message names its sectors and bytes
	}
	where := fmt.Sprintf(" [offset %d", *e.Offset)
	if e.Length != nil {
		where += fmt.Sprintf(", %d bytes", *e.Length)
	}
	return where + "]"
}

// withLocal is a UTC timestamp with its local time next to it.
func withLocal(utc, local string) string {
	if utc == "" {
		return "(none)"
	}
	if local == "" {
		return utc
	}
	return utc + " (local " + local + ")"
}

func durationLine(r *Report) string {
	if r.DurationSeconds <= 0 {
		return "under a second"
	}
	d := time.Duration(r.DurationSeconds) * time.Second
	s := d.String()
	if r.AverageBytesPerSecond > 0 {
		s += fmt.Sprintf(", average %s/s", shortSize(r.AverageBytesPerSecond))
	}
	return s
}

// shortSize is n in binary units with one decimal ("52.3 MiB"), or in
// bytes below 1 KiB.
func shortSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return units.FormatShort(n)
}

func partitionTableLine(pt *PartitionTable) string {
	s := strings.ToUpper(pt.Type)
	switch pt.Type {
	case "none":
		s = "none found (no MBR or GPT at sector 0)"
	case "unreadable":
		s = "could not be read"
	case "gpt", "mbr":
		s += ", " + plural(int64(len(pt.Partitions)), "partition")
		if pt.DiskGUID != "" {
			s += ", disk GUID " + pt.DiskGUID
		}
	}
	if pt.Error != "" {
		s += " (" + pt.Error + ")"
	}
	return s
}

func partitionLine(pa Partition, sectorSize int) string {
	ss := int64(max(sectorSize, 1))
	s := fmt.Sprintf("%d: sectors %d-%d, %s, type %s", pa.Number, pa.Offset/ss, (pa.Offset+pa.Length)/ss-1, sizeLine(pa.Length), pa.Type)
	if pa.TypeName != "" {
		s += " (" + pa.TypeName + ")"
	}
	if pa.Name != "" {
		s += fmt.Sprintf(", name %q", pa.Name)
	}
	if pa.Bootable {
		s += ", bootable"
	}
	return s
}

func nameOr(name string) string {
	if name == "" {
		return "NAME"
	}
	return name
}

func resultLine(r *Report) string {
	switch r.Status {
	case StatusComplete:
		if n := r.UnreadableBytes(); n > 0 {
			return fmt.Sprintf("COMPLETE, with %d unreadable bytes (zero-filled, listed below)", n)
		}
		return "COMPLETE, every sector read"
	case StatusIncomplete:
		return fmt.Sprintf("INCOMPLETE: %d of %d bytes acquired", r.BytesAcquired, r.Source.Size)
	case StatusFailed:
		return "FAILED"
	}
	return strings.ToUpper(string(r.Status))
}

func sourceLine(s Source) string {
	parts := []string{orNone(s.Path)}
	if s.Kind != "" {
		parts = append(parts, "("+s.Kind+")")
	}
	model := strings.TrimSpace(s.Vendor + " " + s.Model)
	if model != "" {
		parts = append(parts, "model "+model)
	}
	if s.Serial != "" {
		parts = append(parts, "serial "+s.Serial)
	}
	return strings.Join(parts, " ")
}

func sizeLine(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%d bytes (%s)", n, units.FormatShort(n))
}

func writeBlockLine(s Source) string {
	wb := s.WriteBlock
	var b strings.Builder
	switch {
	case !wb.Enabled:
		b.WriteString("not set by custodian")
	case wb.Confirmed:
		fmt.Fprintf(&b, "%s set and confirmed", orNone(wb.Method))
	default:
		fmt.Fprintf(&b, "%s set, NOT confirmed", orNone(wb.Method))
	}
	if s.ReadOnlyDuring {
		b.WriteString("; source read-only during acquisition")
	} else {
		b.WriteString("; source NOT read-only during acquisition")
	}
	b.WriteString("; ")
	b.WriteString(writeCounterLine(s))
	return b.String()
}

func writeCounterLine(s Source) string {
	if !s.WriteBlock.CounterChecked {
		return "write counters not checked"
	}
	if s.SectorsWrittenDuring == 0 {
		return "0 sectors written during acquisition"
	}
	return fmt.Sprintf("%d SECTORS WRITTEN during acquisition", s.SectorsWrittenDuring)
}

func imageLine(im Image) string {
	n := len(im.Segments)
	s := fmt.Sprintf("%s, %d segment", orNone(im.Format), n)
	if n != 1 {
		s += "s"
	}
	switch n {
	case 0:
	case 1:
		s += ": " + im.Segments[0].File
	default:
		s += ": " + im.Segments[0].File + " … " + im.Segments[n-1].File
	}
	if im.Compression != "" && im.Compression != "none" {
		s += ", compression " + im.Compression
	}
	return s
}

func segmentSizeLine(n int64) string {
	if n == 0 {
		return "unlimited (one file)"
	}
	return sizeLine(n)
}

func windowLine(n int64) string {
	if n == 0 {
		return "none"
	}
	return sizeLine(n)
}

func unreadableLine(r *Report) string {
	if len(r.Unreadable) == 0 {
		return "none"
	}
	n := r.UnreadableBytes()
	s := fmt.Sprintf("%d bytes in %s", n, plural(int64(len(r.Unreadable)), "range"))
	if ss := int64(r.Source.LogicalSectorSize); ss > 0 {
		s += fmt.Sprintf(" (%s of %d bytes)", plural(n/ss, "sector"), ss)
	}
	return s + ", zero-filled in the image"
}

func sectorNote(u Range, sectorSize int) string {
	if sectorSize <= 0 {
		return ""
	}
	ss := int64(sectorSize)
	return fmt.Sprintf(", sectors %d-%d", u.Offset/ss, (u.Offset+u.Length)/ss-1)
}

func verificationLine(v Verification) string {
	switch {
	case !v.Performed:
		return "not performed"
	case v.Matched:
		return "image re-read after writing, all hashes match"
	default:
		return "image re-read after writing, HASHES DO NOT MATCH"
	}
}

func signerLine(s *SignerInfo) string {
	if s == nil {
		return "not signed"
	}
	line := s.KeyType + " " + s.Fingerprint
	if s.Identity != "" {
		line += " (" + s.Identity + ")"
	}
	return line
}

func identityOr(s *SignerInfo, def string) string {
	if s != nil && s.Identity != "" && !strings.ContainsAny(s.Identity, " \t") {
		return s.Identity
	}
	return def
}

func quoteArgs(args []string) string {
	if len(args) == 0 {
		return "(none)"
	}
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool {
			safe := r == '-' || r == '_' || r == '.' || r == '/' || r == ',' || r == '=' || r == ':' || r == '@' ||
				r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
			return !safe
		}) {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func sortedKeys(h Hashes) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/acquire/format"
	"github.com/custodian-forensics/custodian/hashing"
	"github.com/custodian-forensics/custodian/internal/rootfile"
	"github.com/custodian-forensics/custodian/report"
)

// ErrOptions marks a verify request that cannot be carried out as asked:
// conflicting options, or a folder with no or several reports.
var ErrOptions = errors.New("invalid verify request")

// MaxReportSize bounds the report file verify reads (report.MaxReportSize):
// a larger file is not a report custodian wrote.
const MaxReportSize = report.MaxReportSize

// maxSignatureSize bounds the signature file (an SSHSIG is under 1 KiB).
const maxSignatureSize = 64 << 10

// Options says what Verify checks against.
type Options struct {
	// Trust says whose signature is trusted.
	report.Trust
	// Source, when set, is re-read (block devices through O_DIRECT, so the
	// medium is read, not cached pages) and its hashes compared with the
	// report's whole-image hashes.
	Source string
	// OnCheck, when set, is called with each check as it completes, from
	// the goroutine that called Run.
	OnCheck func(report.Check)
	// NoTrust accepts evidence whose report is unsigned, or signed by a key
	// not checked against a trusted one (no AllowedSigners, no PubKey):
	// then OK means only that the image matches its report. Without it
	// such evidence is ResultUntrusted.
	NoTrust bool
}

// ErrUntrusted: every check passed, but nothing proves who wrote the
// report (unsigned, or signed by a key that was not checked against a
// trusted one): a folder replaced wholesale would pass as well.
var ErrUntrusted = errors.New("the evidence matches its report, but nothing proves who wrote the report")

// Results, from worst to best: any mismatch makes the result a mismatch;
// otherwise any missing file makes it missing; otherwise any error makes it
// an error.
const (
	ResultOK       = "ok"
	ResultMismatch = "mismatch"
	ResultMissing  = "missing"
	ResultError    = "error"
	// ResultUntrusted: every check passed, but the report is unsigned or
	// its signer was not checked (see ErrUntrusted and Options.NoTrust).
	ResultUntrusted = "untrusted"
)

// Result is the outcome of a verification.
type Result struct {
	Report string `json:"report"`          // the report file checked ("" for an image without one)
	Image  string `json:"image,omitempty"` // an image checked without a report (an E01 set of another tool)
	Result string `json:"result"`          // one of the Result* constants
	// Signed is true when a signature file was found; SignedBy is the key
	// whose signature verified, Principals the allowed_signers principals
	// that admitted it.
	Signed     bool               `json:"signed"`
	SignedBy   *report.SignerInfo `json:"signed_by,omitempty"`
	Principals []string           `json:"principals,omitempty"`
	Checks     []report.Check     `json:"checks"`
	// NewlyUnreadable are the source's ranges that --source could not read
	// now although the report lists them as read (see rereadSource).
	NewlyUnreadable []report.Range `json:"newly_unreadable,omitempty"`
	// Parsed is the report as parsed (nil if it could not be).
	Parsed *report.Report `json:"-"`
}

// Phases of a verification, for progress displays.
const (
	PhaseReport = "report"
	PhaseImage  = "image"
	PhaseSource = "source"
	PhaseDone   = "done"
)

// Progress is a snapshot of a verification's counters.
type Progress struct {
	Phase string `json:"phase"`
	Total int64  `json:"total"` // bytes to read: the image files, then the source
	Done  int64  `json:"done"`  // bytes read so far
}

// Verifier is one verification. Create it with New; poll Progress from any
// goroutine while Run works.
type Verifier struct {
	path  string
	o     Options
	phase atomic.Value
	total atomic.Int64
	done  atomic.Int64

	root *os.Root
	res  *Result
	ctx  context.Context
}

// New prepares a verification of path: an evidence folder holding one
// NAME.report.json, or the report file itself.
func New(path string, o Options) *Verifier {
	v := &Verifier{path: path, o: o}
	v.phase.Store(PhaseReport)
	return v
}

// Verify is New(path, o).Run(ctx).
func Verify(ctx context.Context, path string, o Options) (*Result, error) {
	return New(path, o).Run(ctx)
}

// Progress returns the current counters. Safe from any goroutine.
func (v *Verifier) Progress() Progress {
	return Progress{Phase: v.phase.Load().(string), Total: v.total.Load(), Done: v.done.Load()}
}

// Run checks, in order: the signature over the report file's bytes, the
// report itself, that every segment exists with the recorded size and
// hashes, the whole-image hashes, and with Options.Source the source.
//
// Run returns a result whenever it could start; the returned error is nil
// when every check passed and otherwise wraps report.ErrMismatch (something
// differs), or fs.ErrNotExist (files missing), or describes what could not
// be read. Errors before any check (bad options, no report in the folder)
// come with a nil result and wrap [ErrOptions] or fs.ErrNotExist.
func (v *Verifier) Run(ctx context.Context) (*Result, error) {
	defer v.phase.Store(PhaseDone)
	o := v.o
	if o.PubKey != "" && o.AllowedSigners != "" {
		return nil, fmt.Errorf("%w: use either an allowed signers file or a public key, not both", ErrOptions)
	}
	if o.Identity != "" && o.AllowedSigners == "" {
		return nil, fmt.Errorf("%w: an identity needs an allowed signers file to look it up in", ErrOptions)
	}
	dir, name, err := findReport(v.path)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	v.root, v.ctx = root, ctx
	v.res = &Result{Report: filepath.Join(dir, name), Checks: []report.Check{}}
	if !strings.HasSuffix(name, report.JSONSuffix) {
		f, files, ok, err := acquire.DiscoverImage(root, name)
		if ok {
			v.res.Report = ""
			v.res.Image = filepath.Join(dir, name)
			v.runImage(f, files, err)
			return v.res, v.finish()
		}
	}
	v.run(name)
	return v.res, v.finish()
}

// runImage checks an image another tool wrote, without a custodian report
// (an E01 set), as ewfverify does: every file read once, every section and
// chunk checksum, and the media hashes against those the image stores;
// its header fields are shown.
func (v *Verifier) runImage(f format.Format, files []string, globErr error) {
	subject := filepath.Base(v.res.Image) + " (" + f.Name() + ")"
	if globErr != nil {
		v.addf("image", subject, classify(globErr), globErr.Error())
		return
	}
	rd, err := f.Open(v.root, files)
	if err != nil {
		v.addf("image", subject, classify(err), detailOf(err))
		return
	}
	var st format.Stored
	if sr, ok := rd.(format.StoredReader); ok {
		st = sr.Stored()
	}
	rd.Close()
	v.addf("header", subject, report.CheckOK, headerSummary(st))
	algs := []string{"md5", "sha1"}
	set, _ := hashing.ParseNames(algs)
	media := newMediaHash(set)
	defer media.close()
	segs := make([]report.Segment, len(files))
	var total int64
	for i, name := range files {
		segs[i].File = name
		if fi, err := v.root.Lstat(name); err == nil {
			segs[i].FileSize, total = fi.Size(), total+fi.Size()
		}
	}
	v.total.Store(total)
	v.phase.Store(PhaseImage)
	sc, ok := f.(format.Scanner)
	if !ok {
		v.addf("image", subject, report.CheckSkipped, "the format cannot be scanned")
		return
	}
	sv := &segmentVisitor{v: v, segs: segs, media: media}
	if err := sc.Scan(v.ctx, v.root, files, sv); err != nil {
		v.addf("image", subject, classify(err), err.Error())
		return
	}
	sv.closeFile()
	if !sv.ok {
		v.addf("image", subject, report.CheckSkipped, "not checked, because a segment check failed")
		return
	}
	got := media.sums()
	var bad, good []string
	for _, alg := range algs {
		want, stored := st.Hashes[alg]
		switch {
		case !stored:
		case want != got[alg]:
			bad = append(bad, fmt.Sprintf("%s of the media is %s, the image stores %s", alg, got[alg], want))
		default:
			good = append(good, alg)
		}
	}
	switch {
	case len(bad) > 0:
		v.addf("image", subject, report.CheckMismatch, strings.Join(bad, "; "))
	case len(good) == 0:
		v.addf("image", subject, report.CheckOK, fmt.Sprintf("%d bytes, every chunk valid; the image stores no hash to compare (md5 %s)", media.n, got["md5"]))
	default:
		v.addf("image", subject, report.CheckOK, fmt.Sprintf("%d bytes; %s stored in the image match (md5 %s, sha1 %s)", media.n, strings.Join(good, ", "), got["md5"], got["sha1"]))
	}
	if len(st.Unreadable) > 0 {
		var n int64
		for _, r := range st.Unreadable {
			n += r.Length
		}
		v.addf("status", subject, report.CheckOK, fmt.Sprintf("the image records %d unreadable bytes in %d ranges (zero-filled)", n, len(st.Unreadable)))
	}
}

// headerSummary is one line of an image's own header fields.
func headerSummary(st format.Stored) string {
	var parts []string
	add := func(label, val string) {
		if val != "" {
			parts = append(parts, label+" "+strconv.Quote(val))
		}
	}
	add("case number", st.Case.CaseNumber)
	add("evidence number", st.Case.EvidenceNumber)
	add("examiner", st.Case.Examiner)
	add("description", st.Case.Description)
	add("notes", st.Case.Notes)
	for _, k := range slices.Sorted(maps.Keys(st.Fields)) {
		add(strings.ReplaceAll(k, "_", " "), st.Fields[k])
	}
	if len(parts) == 0 {
		return "no header fields"
	}
	return strings.Join(parts, ", ")
}

// findReport resolves a folder or file argument to the folder and the
// report's name in it.
func findReport(path string) (dir, name string, err error) {
	if p, ok := strings.CutSuffix(path, ".sig"); ok && strings.HasSuffix(p, report.JSONSuffix) {
		path = p // the signature names its report
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	if !fi.IsDir() {
		return filepath.Dir(path), filepath.Base(path), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", "", err
	}
	var found []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), report.JSONSuffix) {
			found = append(found, e.Name())
		}
	}
	switch len(found) {
	case 0:
		return "", "", fmt.Errorf("no *%s in %s: %w", report.JSONSuffix, path, fs.ErrNotExist)
	case 1:
		return path, found[0], nil
	}
	return "", "", fmt.Errorf("%w: %s holds several reports (%s); name one", ErrOptions, path, strings.Join(found, ", "))
}

func (v *Verifier) add(c report.Check) {
	v.res.Checks = append(v.res.Checks, c)
	if v.o.OnCheck != nil {
		v.o.OnCheck(c)
	}
}

func (v *Verifier) addf(name, subject, status, detail string) {
	v.add(report.Check{Name: name, Subject: subject, Status: status, Detail: detail})
}

func (v *Verifier) run(reportName string) {
	data, err := readBounded(v.root, reportName, MaxReportSize)
	if err != nil {
		v.addf("report", reportName, classify(err), err.Error())
		return
	}
	r, perr := report.Parse(data)
	v.res.Parsed = r
	sigName := reportName + ".sig"
	sig, sigErr := readBounded(v.root, sigName, maxSignatureSize)
	sc := report.CheckSignature(sigName, data, sig, sigErr, r, v.o.Trust)
	v.res.Signed, v.res.SignedBy, v.res.Principals = sc.Signed, sc.SignedBy, sc.Principals
	v.add(sc.Check)
	if perr != nil {
		v.addf("report", reportName, report.CheckError, perr.Error())
		return
	}
	detail := "parsed, " + string(r.Status)
	if b, err := report.Marshal(r); err != nil || !bytes.Equal(b, data) {
		detail += "; not in canonical form (written by another version, or edited)"
	}
	v.addf("report", reportName, report.CheckOK, detail)
	v.checkStatus(r)
	var total int64
	for _, s := range r.Image.Segments {
		total += s.FileSize
	}
	if v.o.Source != "" {
		total += imageLength(r)
	}
	v.total.Store(total)
	v.phase.Store(PhaseImage)
	v.checkImage(r)
	v.checkSource(r)
}

// readBounded reads a regular file of the folder, without following a
// symbolic link, refusing one larger than limit (see rootfile.ReadAll).
func readBounded(root *os.Root, name string, limit int64) ([]byte, error) {
	return rootfile.ReadAll(root, name, limit)
}

func (v *Verifier) checkStatus(r *report.Report) {
	name := r.Image.Name
	switch {
	case r.Status != report.StatusComplete:
		v.addf("status", name, report.CheckError, fmt.Sprintf("the acquisition is %s (%d of %d bytes acquired)", r.Status, r.BytesAcquired, r.Source.Size))
	case len(r.Unreadable) > 0:
		v.addf("status", name, report.CheckOK, fmt.Sprintf("complete; %d bytes of the source were unreadable (zero-filled, listed in the report)", r.UnreadableBytes()))
	default:
		v.addf("status", name, report.CheckOK, "complete, every sector read")
	}
}

// imageLength is the length of the source stream the image holds.
func imageLength(r *report.Report) int64 {
	if r.BytesAcquired > 0 {
		return r.BytesAcquired
	}
	return r.Source.Size
}

func imageSubject(r *report.Report) string {
	subject := r.Image.Name
	if subject == "" {
		subject = "image"
	}
	return subject + " (" + r.Image.Format + ")"
}

// checkImage checks every segment and the whole image: through the
// format's scan when it has one (each file read once), otherwise each file
// on its own and then the media through the format's reader.
func (v *Verifier) checkImage(r *report.Report) {
	if len(r.Image.Segments) == 0 {
		v.addf("segment", r.Image.Name, report.CheckMissing, "the report lists no image segments")
		v.addf("image", imageSubject(r), report.CheckSkipped, "not checked, because a segment check failed")
		return
	}
	f, ferr := acquire.LookupFormat(r.Image.Format)
	segs := r.Image.Segments
	files := make([]string, len(segs))
	for i, s := range segs {
		files[i] = s.File
	}
	wholeSet, werr := hashing.ParseNames(slices.Sorted(maps.Keys(r.Hashes)))
	var media *mediaHash
	if ferr == nil && werr == nil && len(r.Hashes) > 0 && contiguous(segs) {
		media = newMediaHash(wholeSet)
		defer media.close()
	}
	sc, scans := f.(format.Scanner)
	segmentsOK := true
	if scans && media != nil {
		sv := &segmentVisitor{v: v, segs: segs, media: media}
		err := sc.Scan(v.ctx, v.root, files, sv)
		sv.closeFile()
		if err != nil {
			v.addf("image", imageSubject(r), classify(err), err.Error())
			return
		}
		segmentsOK = sv.ok
	} else {
		for _, s := range segs {
			c := v.checkFile(s)
			v.add(c)
			if c.Failed() || c.Status == report.CheckSkipped {
				segmentsOK = false
			}
		}
	}
	subject := imageSubject(r)
	switch {
	case len(r.Hashes) == 0:
		v.addf("image", subject, report.CheckSkipped, "the report records no whole-image hashes")
		return
	case werr != nil:
		v.addf("image", subject, report.CheckError, werr.Error())
		return
	case !segmentsOK:
		v.addf("image", subject, report.CheckSkipped, "not checked, because a segment check failed")
		return
	case ferr != nil:
		v.addf("image", subject, report.CheckSkipped, ferr.Error()+"; segment hashes were checked")
		return
	}
	var got report.Hashes
	var n int64
	if scans && media != nil {
		got, n = media.sums(), media.n
	} else {
		rd, err := f.Open(v.root, files)
		if err != nil {
			v.addf("image", subject, classify(err), err.Error())
			return
		}
		sums, k, err := hashing.SumReader(v.ctx, io.NewSectionReader(rd, 0, rd.Size()), wholeSet, nil)
		rd.Close()
		if err != nil {
			v.addf("image", subject, classify(err), "read image: "+err.Error())
			return
		}
		got, n = report.Hashes(sums), k
	}
	c := compareStream(got, n, r, "image")
	c.Name, c.Subject = "image", subject
	v.add(c)
	if c.Status == report.CheckOK {
		v.checkStored(r, f, files, got)
	}
}

// checkStored compares the hashes an image stores about itself (EWF's hash
// and digest sections) with the report's and with the media's.
func (v *Verifier) checkStored(r *report.Report, f format.Format, files []string, media report.Hashes) {
	rd, err := f.Open(v.root, files)
	if err != nil {
		v.addf("stored", imageSubject(r), classify(err), err.Error())
		return
	}
	defer rd.Close()
	sr, ok := rd.(format.StoredReader)
	if !ok {
		return
	}
	st := sr.Stored()
	if len(st.Hashes) == 0 {
		return
	}
	var bad, good []string
	for _, alg := range slices.Sorted(maps.Keys(st.Hashes)) {
		want := st.Hashes[alg]
		if m, ok := media[alg]; ok && m != want {
			bad = append(bad, fmt.Sprintf("the image stores %s %s, its media hash to %s", alg, want, m))
		} else if rep, ok := r.Hashes[alg]; ok && rep != want {
			bad = append(bad, fmt.Sprintf("the image stores %s %s, the report says %s", alg, want, rep))
		} else {
			good = append(good, alg)
		}
	}
	if len(bad) > 0 {
		v.addf("stored", imageSubject(r), report.CheckMismatch, strings.Join(bad, "; "))
		return
	}
	v.addf("stored", imageSubject(r), report.CheckOK, "the hashes stored in the image ("+strings.Join(good, ", ")+") match")
}

func contiguous(segs []report.Segment) bool {
	var off int64
	for _, s := range segs {
		if s.Offset != off {
			return false
		}
		off += s.Length
	}
	return true
}

// mediaHash hashes the media stream of a scan behind a few buffers: the
// scan hands on the next media while the hashers work on the last, so
// decoding and hashing overlap. sums waits for the hashers.
type mediaHash struct {
	p    *hashing.Parallel
	n    int64
	free chan []byte
	full chan []byte
	done chan struct{}
}

// mediaBuffers is how many media buffers a scan may fill ahead of the
// hashers: MD5 is the longest single stream of a verification, and on a
// busy machine the scan's goroutines are descheduled now and then; four
// buffers (of the scan's 4 MiB batches) keep MD5 fed through such gaps.
const mediaBuffers = 4

func newMediaHash(set hashing.Set) *mediaHash {
	m := &mediaHash{p: hashing.NewParallel(set), free: make(chan []byte, mediaBuffers), full: make(chan []byte, mediaBuffers), done: make(chan struct{})}
	for range mediaBuffers {
		m.free <- nil
	}
	go func() {
		defer close(m.done)
		for b := range m.full {
			m.p.Write(b)
			m.free <- b[:0]
		}
	}()
	return m
}

// write copies p for the hashers; it blocks only while every buffer waits
// for them.
func (m *mediaHash) write(p []byte) {
	b := append(<-m.free, p...)
	m.n += int64(len(p))
	m.full <- b
}

// sums waits for the hashers and returns the digests.
func (m *mediaHash) sums() report.Hashes {
	m.stop()
	return report.Hashes(m.p.Sums())
}

func (m *mediaHash) stop() {
	select {
	case <-m.done:
	default:
		close(m.full)
		<-m.done
	}
}

func (m *mediaHash) close() {
	m.stop()
	m.p.Close()
}

// segmentVisitor checks each file of a scan against its report entry and
// hashes the media.
type segmentVisitor struct {
	v     *Verifier
	segs  []report.Segment
	media *mediaHash
	cur   *hashing.Parallel
	curI  int
	ok    bool
}

func (sv *segmentVisitor) BeginFile(i int) io.Writer {
	sv.closeFile()
	if i == 0 {
		sv.ok = true
	}
	sv.curI = i
	set, err := hashing.ParseNames(slices.Sorted(maps.Keys(sv.segs[i].Hashes)))
	if err != nil || len(set) == 0 {
		return counter{&sv.v.done}
	}
	sv.cur = hashing.NewParallel(set)
	return io.MultiWriter(sv.cur, counter{&sv.v.done})
}

func (sv *segmentVisitor) closeFile() {
	if sv.cur != nil {
		sv.cur.Close()
		sv.cur = nil
	}
}

func (sv *segmentVisitor) EndFile(i int, size int64, err error) {
	s := sv.segs[i]
	var c report.Check
	switch {
	case err != nil:
		c = report.Check{Status: classify(err), Detail: detailOf(err)}
	case size != s.FileSize:
		c = report.Check{Status: report.CheckMismatch, Detail: fmt.Sprintf("size is %d bytes, the report says %d", size, s.FileSize)}
	case len(s.Hashes) == 0:
		c = report.Check{Status: report.CheckOK, Detail: fmt.Sprintf("size %d bytes; no hashes recorded for this segment", s.FileSize)}
	case sv.cur == nil:
		c = report.Check{Status: report.CheckError, Detail: "unknown hash algorithm in the report's segment entry"}
	default:
		c = compareHashes(fmt.Sprintf("size %d bytes", s.FileSize), report.Hashes(sv.cur.Sums()), s.Hashes)
	}
	sv.closeFile()
	c.Name, c.Subject = "segment", s.File
	sv.v.add(c)
	if c.Failed() {
		sv.ok = false
	}
}

func (sv *segmentVisitor) Media(p []byte) error {
	sv.media.write(p)
	return nil
}

// checkFile checks one segment file on its own: size and hashes.
func (v *Verifier) checkFile(s report.Segment) report.Check {
	c := report.Check{Name: "segment", Subject: s.File}
	f, err := v.root.OpenFile(s.File, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		c.Status, c.Detail = classify(err), err.Error()
		return c
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		c.Status, c.Detail = report.CheckError, err.Error()
		return c
	case !fi.Mode().IsRegular():
		c.Status, c.Detail = report.CheckMismatch, "not a regular file"
		return c
	case fi.Size() != s.FileSize:
		c.Status, c.Detail = report.CheckMismatch, fmt.Sprintf("size is %d bytes, the report says %d", fi.Size(), s.FileSize)
		return c
	case len(s.Hashes) == 0:
		c.Status, c.Detail = report.CheckOK, fmt.Sprintf("size %d bytes; no hashes recorded for this segment", s.FileSize)
		return c
	}
	set, err := hashing.ParseNames(slices.Sorted(maps.Keys(s.Hashes)))
	if err != nil {
		c.Status, c.Detail = report.CheckError, err.Error()
		return c
	}
	got, _, err := hashing.SumReader(v.ctx, f, set, counter{&v.done})
	if err != nil {
		c.Status, c.Detail = classify(err), err.Error()
		return c
	}
	r := compareHashes(fmt.Sprintf("size %d bytes", s.FileSize), report.Hashes(got), s.Hashes)
	r.Name, r.Subject = c.Name, c.Subject
	return r
}

func (v *Verifier) checkSource(r *report.Report) {
	if v.o.Source == "" {
		return
	}
	v.phase.Store(PhaseSource)
	if len(r.Hashes) == 0 {
		v.addf("source", v.o.Source, report.CheckSkipped, "the report records no whole-image hashes")
		return
	}
	set, err := hashing.ParseNames(slices.Sorted(maps.Keys(r.Hashes)))
	if err != nil {
		v.addf("source", v.o.Source, report.CheckError, err.Error())
		return
	}
	v.rereadSource(r, set)
}

// counter counts the bytes written to it (verification progress).
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// compareHashes compares computed digests with recorded ones and names
// every algorithm that differs.
func compareHashes(prefix string, got, want report.Hashes) report.Check {
	var bad, good []string
	for _, a := range slices.Sorted(maps.Keys(want)) {
		if got[a] != strings.ToLower(want[a]) {
			bad = append(bad, fmt.Sprintf("%s is %s, the report says %s", a, got[a], want[a]))
		} else {
			good = append(good, a)
		}
	}
	if len(bad) > 0 {
		return report.Check{Status: report.CheckMismatch, Detail: strings.Join(bad, "; ")}
	}
	return report.Check{Status: report.CheckOK, Detail: prefix + ", " + strings.Join(good, ", ") + " match"}
}

// compareStream compares a stream's digests and length with the report's
// whole-image hashes and length.
func compareStream(got report.Hashes, n int64, r *report.Report, what string) report.Check {
	if want := imageLength(r); n != want {
		return report.Check{Status: report.CheckMismatch, Detail: fmt.Sprintf("%s is %d bytes, the report says %d", what, n, want)}
	}
	return compareHashes(fmt.Sprintf("%d bytes", n), got, r.Hashes)
}

// classify turns an error into a check status: damage to an image file is
// a mismatch, a missing file is missing, anything else an error.
func classify(err error) string {
	var d *format.Damage
	switch {
	case errors.As(err, &d):
		return report.CheckMismatch
	case errors.Is(err, fs.ErrNotExist):
		return report.CheckMissing
	}
	return report.CheckError
}

// finish sets the overall result and returns the matching error.
// detailOf describes an error for a check line whose subject already names
// the file.
func detailOf(err error) string {
	var d *format.Damage
	if errors.As(err, &d) {
		if d.Where == "" || d.Where == "file" {
			return d.Cause.Error()
		}
		return d.Where + ": " + d.Cause.Error()
	}
	return err.Error()
}

func (v *Verifier) finish() error {
	var mismatch, missing, failed []string
	untrusted := false
	for _, c := range v.res.Checks {
		if c.Name == "signature" && (c.Status == report.CheckUnsigned || c.Status == report.CheckUntrusted) {
			untrusted = true
		}
		what := c.Name + " " + c.Subject
		switch c.Status {
		case report.CheckMismatch:
			mismatch = append(mismatch, what)
		case report.CheckMissing:
			missing = append(missing, what)
		case report.CheckError:
			failed = append(failed, what)
		}
	}
	switch {
	case len(mismatch) > 0:
		v.res.Result = ResultMismatch
		return fmt.Errorf("%w: %s", report.ErrMismatch, strings.Join(mismatch, ", "))
	case len(missing) > 0:
		v.res.Result = ResultMissing
		return fmt.Errorf("missing: %s: %w", strings.Join(missing, ", "), fs.ErrNotExist)
	case len(failed) > 0:
		v.res.Result = ResultError
		return fmt.Errorf("could not verify: %s", strings.Join(failed, ", "))
	case untrusted && !v.o.NoTrust:
		v.res.Result = ResultUntrusted
		return ErrUntrusted
	}
	v.res.Result = ResultOK
	return nil
}

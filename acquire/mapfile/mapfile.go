package mapfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Status is what is known of a block's bytes, as one character.
type Status byte

const (
	NonTried   Status = '?' // not read yet
	NonTrimmed Status = '*' // a read of it failed; its edges were not read sector by sector
	NonScraped Status = '/' // trimmed; its inside was not read sector by sector
	BadSector  Status = '-' // every sector failed (one or more sectors)
	Finished   Status = '+' // read
)

// Valid reports whether s is one of the five block statuses.
func (s Status) Valid() bool {
	switch s {
	case NonTried, NonTrimmed, NonScraped, BadSector, Finished:
		return true
	}
	return false
}

// String names s as ddrescuelog -t does ("rescued" for Finished).
func (s Status) String() string {
	switch s {
	case NonTried:
		return "non-tried"
	case NonTrimmed:
		return "non-trimmed"
	case NonScraped:
		return "non-scraped"
	case BadSector:
		return "bad-sector"
	case Finished:
		return "rescued"
	}
	return fmt.Sprintf("status %q", byte(s))
}

// Phase is what the rescue was doing when the map was saved (the status
// line's character).
type Phase byte

const (
	Copying    Phase = '?' // copying non-tried blocks
	Trimming   Phase = '*' // trimming non-trimmed blocks
	Scraping   Phase = '/' // scraping non-scraped blocks
	Retrying   Phase = '-' // retrying bad sectors
	Filling    Phase = 'F' // filling the blocks given (ddrescue --fill-mode)
	Generating Phase = 'G' // generating an approximate mapfile
	Done       Phase = '+' // finished
)

// Valid reports whether p is one of ddrescue's phases.
func (p Phase) Valid() bool {
	switch p {
	case Copying, Trimming, Scraping, Retrying, Filling, Generating, Done:
		return true
	}
	return false
}

// Block is a range of bytes with one status.
type Block struct {
	Pos, Size int64
	Status    Status
}

// End is the offset just after the block.
func (b Block) End() int64 { return b.Pos + b.Size }

// Map is a mapfile. The zero value is an empty map (no blocks) at
// position 0 in phase 0; set Phase (and Pass) before Marshal.
type Map struct {
	// Creator follows "Created by" in the first heading line, e.g.
	// "custodian version 0.5.0" or "GNU ddrescue version 1.27".
	Creator string
	// CommandLine, Started, Saved and Message are the other heading
	// comments; each is omitted when empty or zero. Message describes the
	// phase for people ("Finished", "Copying non-tried blocks... Pass 1
	// (forwards)").
	CommandLine    string
	Started, Saved time.Time
	Message        string
	// Pos, Phase and Pass are the status line. Pass 0 writes the status
	// line without a pass number, as ddrescue before 1.20 did.
	Pos   int64
	Phase Phase
	Pass  int
	// Blocks are contiguous and sorted by position.
	Blocks []Block
}

// TimeLayout is how ddrescue writes the start and current times (in local
// time, without a zone).
const TimeLayout = "2006-01-02 15:04:05"

// Extent returns the first and the end offset the blocks cover.
func (m *Map) Extent() (start, end int64) {
	if len(m.Blocks) == 0 {
		return 0, 0
	}
	return m.Blocks[0].Pos, m.Blocks[len(m.Blocks)-1].End()
}

// Append adds size bytes of status s at the end of the map, merging them
// into the last block when it has the same status. Zero sizes are ignored.
func (m *Map) Append(size int64, s Status) {
	if size <= 0 {
		return
	}
	if k := len(m.Blocks); k > 0 && m.Blocks[k-1].Status == s {
		m.Blocks[k-1].Size += size
		return
	}
	_, end := m.Extent()
	m.Blocks = append(m.Blocks, Block{Pos: end, Size: size, Status: s})
}

// Set gives the bytes [pos, pos+size) status s, splitting and merging
// blocks as needed. The range may extend the map at its end, or start it
// when the map is empty, but must not leave a gap or start before it.
func (m *Map) Set(pos, size int64, s Status) error {
	if size <= 0 {
		return nil
	}
	if pos < 0 || pos > (1<<63-1)-size {
		return fmt.Errorf("mapfile: range %d+%d out of bounds", pos, size)
	}
	if !s.Valid() {
		return fmt.Errorf("mapfile: invalid status %q", byte(s))
	}
	start, end := m.Extent()
	if len(m.Blocks) == 0 {
		m.Blocks = []Block{{Pos: pos, Size: size, Status: s}}
		return nil
	}
	if pos < start || pos > end {
		return fmt.Errorf("mapfile: range %d+%d leaves a gap with the blocks [%d, %d)", pos, size, start, end)
	}
	last := pos + size
	// i: first block ending after pos; j: first block starting at or after last.
	i := sort.Search(len(m.Blocks), func(k int) bool { return m.Blocks[k].End() > pos })
	j := sort.Search(len(m.Blocks), func(k int) bool { return m.Blocks[k].Pos >= last })
	repl := make([]Block, 0, 3)
	if i < len(m.Blocks) && m.Blocks[i].Pos < pos {
		repl = append(repl, Block{Pos: m.Blocks[i].Pos, Size: pos - m.Blocks[i].Pos, Status: m.Blocks[i].Status})
	}
	repl = append(repl, Block{Pos: pos, Size: size, Status: s})
	if j > 0 && m.Blocks[j-1].End() > last {
		b := m.Blocks[j-1]
		repl = append(repl, Block{Pos: last, Size: b.End() - last, Status: b.Status})
	}
	m.Blocks = append(m.Blocks[:i], append(repl, m.Blocks[j:]...)...)
	m.merge(max(i-1, 0), min(i+len(repl)+1, len(m.Blocks)))
	return nil
}

// merge joins adjacent blocks of one status among m.Blocks[lo:hi].
func (m *Map) merge(lo, hi int) {
	out := m.Blocks[:lo]
	for _, b := range m.Blocks[lo:hi] {
		if k := len(out); k > 0 && out[k-1].Status == b.Status && out[k-1].End() == b.Pos {
			out[k-1].Size += b.Size
			continue
		}
		out = append(out, b)
	}
	m.Blocks = append(out, m.Blocks[hi:]...)
}

// Bytes is the number of bytes with status s.
func (m *Map) Bytes(s Status) int64 {
	var n int64
	for _, b := range m.Blocks {
		if b.Status == s {
			n += b.Size
		}
	}
	return n
}

// Areas is the number of runs of blocks with status s (adjacent blocks of
// one status count once, as in ddrescuelog -t).
func (m *Map) Areas(s Status) int {
	n := 0
	for i, b := range m.Blocks {
		if b.Status == s && (i == 0 || m.Blocks[i-1].Status != s) {
			n++
		}
	}
	return n
}

// oneLine replaces control characters, which would end a comment early or
// corrupt the file, by spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Marshal writes m in ddrescue's layout.
func (m *Map) Marshal() []byte {
	var b bytes.Buffer
	b.Grow(256 + 26*len(m.Blocks))
	fmt.Fprintf(&b, "# Mapfile. Created by %s\n", oneLine(m.Creator))
	if m.CommandLine != "" {
		fmt.Fprintf(&b, "# Command line: %s\n", oneLine(m.CommandLine))
	}
	if !m.Started.IsZero() {
		fmt.Fprintf(&b, "# Start time:   %s\n", m.Started.Format(TimeLayout))
	}
	if !m.Saved.IsZero() {
		fmt.Fprintf(&b, "# Current time: %s\n", m.Saved.Format(TimeLayout))
	}
	if msg := oneLine(m.Message); msg != "" {
		if isHeading(msg) {
			msg = " " + msg // read back as the message, not as that heading
		}
		fmt.Fprintf(&b, "# %s\n", msg)
	}
	if m.Pass > 0 {
		fmt.Fprintf(&b, "# current_pos  current_status  current_pass\n0x%08X     %c               %d\n", m.Pos, m.Phase, m.Pass)
	} else {
		fmt.Fprintf(&b, "# current_pos  current_status\n0x%08X     %c\n", m.Pos, m.Phase)
	}
	b.WriteString("#      pos        size  status\n")
	for _, k := range m.Blocks {
		fmt.Fprintf(&b, "0x%08X  0x%08X  %c\n", k.Pos, k.Size, k.Status)
	}
	return b.Bytes()
}

// ErrSyntax marks a mapfile that cannot be read.
var ErrSyntax = errors.New("mapfile: invalid")

// maxLine bounds one line of a mapfile (a command line can be long).
const maxLine = 1 << 20

// Parse reads a mapfile written by ddrescue, ddrescuelog or Marshal.
// Heading comments are kept when they have the meaning Marshal gives them;
// the first other comment before the status line becomes Message.
func Parse(r io.Reader) (*Map, error) {
	m := &Map{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	status := false
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		data, comment, hasComment := cutComment(text)
		fields := strings.Fields(data)
		if len(fields) == 0 {
			if hasComment && !status && strings.TrimSpace(data) == "" {
				if err := m.heading(comment); err != nil {
					return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, line, err)
				}
			}
			continue
		}
		var err error
		if !status {
			err = m.statusLine(fields)
			status = true
		} else {
			err = m.blockLine(fields)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %w", ErrSyntax, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mapfile: %w", err)
	}
	if !status {
		return nil, fmt.Errorf("%w: no status line", ErrSyntax)
	}
	return m, nil
}

// cutComment splits a line at its comment: '#' at the start of the line or
// after white space.
func cutComment(s string) (data, comment string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// headings are the heading comments Parse gives a meaning.
var headings = []string{"Mapfile. Created by", "Rescue Logfile. Created by", "Command line:", "Start time:", "Current time:", "current_pos"}

func isHeading(c string) bool {
	for _, h := range headings {
		if strings.HasPrefix(c, h) {
			return true
		}
	}
	return false
}

// heading interprets one comment line before the status line.
func (m *Map) heading(c string) error {
	c = strings.TrimPrefix(c, " ")
	switch {
	case strings.HasPrefix(c, "Mapfile. Created by"):
		m.Creator = strings.TrimPrefix(strings.TrimPrefix(c, "Mapfile. Created by"), " ")
	case strings.HasPrefix(c, "Rescue Logfile. Created by"):
		m.Creator = strings.TrimPrefix(strings.TrimPrefix(c, "Rescue Logfile. Created by"), " ")
	case strings.HasPrefix(c, "Command line:"):
		m.CommandLine = strings.TrimPrefix(strings.TrimPrefix(c, "Command line:"), " ")
	case strings.HasPrefix(c, "Start time:"):
		t, err := time.ParseInLocation(TimeLayout, strings.TrimLeft(strings.TrimPrefix(c, "Start time:"), " "), time.Local)
		if err != nil {
			return fmt.Errorf("start time: %w", err)
		}
		m.Started = t
	case strings.HasPrefix(c, "Current time:"):
		t, err := time.ParseInLocation(TimeLayout, strings.TrimLeft(strings.TrimPrefix(c, "Current time:"), " "), time.Local)
		if err != nil {
			return fmt.Errorf("current time: %w", err)
		}
		m.Saved = t
	case strings.HasPrefix(c, "current_pos"):
	default:
		if m.Message == "" {
			m.Message = c
		}
	}
	return nil
}

func (m *Map) statusLine(f []string) error {
	if len(f) != 2 && len(f) != 3 {
		return fmt.Errorf("status line has %d fields, want position, status and pass", len(f))
	}
	pos, err := parseInt(f[0])
	if err != nil {
		return fmt.Errorf("current position: %w", err)
	}
	if len(f[1]) != 1 || !Phase(f[1][0]).Valid() {
		return fmt.Errorf("current status %q is not one of ?*/-FG+", f[1])
	}
	m.Pos, m.Phase = pos, Phase(f[1][0])
	if len(f) == 3 {
		pass, err := strconv.Atoi(f[2])
		if err != nil || pass < 1 {
			return fmt.Errorf("current pass %q is not a positive decimal number", f[2])
		}
		m.Pass = pass
	}
	return nil
}

func (m *Map) blockLine(f []string) error {
	if len(f) != 3 {
		return fmt.Errorf("block line has %d fields, want position, size and status", len(f))
	}
	pos, err := parseInt(f[0])
	if err != nil {
		return fmt.Errorf("position: %w", err)
	}
	size, err := parseInt(f[1])
	if err != nil {
		return fmt.Errorf("size: %w", err)
	}
	if len(f[2]) != 1 || !Status(f[2][0]).Valid() {
		return fmt.Errorf("status %q is not one of ?*/-+", f[2])
	}
	if size == 0 || pos > (1<<63-1)-size {
		return fmt.Errorf("block %#x+%#x: size zero or beyond the largest offset", pos, size)
	}
	if _, end := m.Extent(); len(m.Blocks) > 0 && pos != end {
		return fmt.Errorf("block at %#x does not follow the previous one, which ends at %#x", pos, end)
	}
	m.Blocks = append(m.Blocks, Block{Pos: pos, Size: size, Status: Status(f[2][0])})
	return nil
}

// parseInt reads a non-negative integer in C's syntax: 0x hexadecimal,
// leading-0 octal, or decimal.
func parseInt(s string) (int64, error) {
	base, digits := 10, s
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		base, digits = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, digits = 8, s[1:]
	}
	if digits == "" || digits[0] == '+' || digits[0] == '-' || strings.Contains(digits, "_") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseInt(digits, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number below 2^63", s)
	}
	return v, nil
}

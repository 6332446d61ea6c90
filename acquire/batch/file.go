package batch

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the batch file: a list of disks, not a data set.
const MaxFileSize = 4 << 20

// Setting is one key of the batch file with its value or values.
type Setting struct {
	// Key is the key as written (case_number or case-number).
	Key string
	// Flag is Key with underscores as dashes: the acquire flag it sets.
	Flag string
	// Values holds the scalar, or the elements of a list.
	Values []string
	// List says the value was a YAML list.
	List bool
	// Line is the key's line in the file.
	Line int
	// InDefaults says the setting came from defaults, not from the job.
	InDefaults bool
}

// Value is the setting's value as one flag value: a list joined with
// commas (the acquire flags that take lists accept "md5,sha1").
func (s Setting) Value() string { return strings.Join(s.Values, ",") }

// JobSpec is one entry of jobs.
type JobSpec struct {
	// Index is the job's position in the file (0-based).
	Index int
	// Line is where the entry starts.
	Line int
	// Settings are the job's own keys, in file order.
	Settings []Setting
}

// File is a parsed batch file.
type File struct {
	Defaults []Setting
	Jobs     []JobSpec
}

// Merged returns the settings of job i: the defaults, with the job's own
// keys replacing defaults of the same flag, in file order (defaults
// first).
func (f *File) Merged(i int) []Setting {
	own := map[string]bool{}
	for _, s := range f.Jobs[i].Settings {
		own[s.Flag] = true
	}
	var out []Setting
	for _, s := range f.Defaults {
		if !own[s.Flag] {
			out = append(out, s)
		}
	}
	return append(out, f.Jobs[i].Settings...)
}

// Label names job i for messages: its name (or source) when given, else
// its position.
func (f *File) Label(i int) string {
	for _, key := range []string{"name", "source"} {
		for _, s := range f.Merged(i) {
			if s.Flag == key && !s.List && len(s.Values) == 1 && s.Values[0] != "" {
				return s.Values[0]
			}
		}
	}
	return fmt.Sprintf("job %d", i+1)
}

// Problem is one mistake in a batch, with where it is and what to do.
type Problem struct {
	Job  string // the job's label, "" for the file or the defaults
	Line int    // 0 when not tied to a line
	Msg  string
	Hint string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Job != "" {
		fmt.Fprintf(&b, "%s: ", p.Job)
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every mistake found; it is an error when not empty.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d problem(s) in the batch:\n%s", len(ps), strings.Join(lines, "\n"))
}

// Sort orders problems by line, then job, then message.
func (ps Problems) Sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return strings.Compare(a.Job, b.Job)
	})
}

// Parse reads a batch file. It checks the shape only (a mapping with
// defaults and jobs; scalar or list values; no key twice; a source for
// every job); what the keys mean is the caller's (see package doc).
func Parse(data []byte) (*File, Problems) {
	if len(data) > MaxFileSize {
		return nil, Problems{{Msg: fmt.Sprintf("the batch file is %d bytes, more than the %d allowed", len(data), MaxFileSize)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{{Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "),
			Hint: "the file is YAML: a 'defaults:' mapping and a 'jobs:' list of mappings"}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{Msg: "the batch file is empty or not a mapping",
			Hint: "give 'defaults:' (acquire flags for every job) and 'jobs:' (a list with a source per job)"}}
	}
	f := &File{}
	var ps Problems
	top := doc.Content[0]
	var jobsNode *yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			ps = append(ps, Problem{Line: k.Line, Msg: fmt.Sprintf("%q is given twice (first on line %d)", k.Value, prev)})
			continue
		}
		seen[k.Value] = k.Line
		switch k.Value {
		case "defaults":
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				continue
			}
			var dps Problems
			f.Defaults, dps = settings(v, "", true)
			ps = append(ps, dps...)
		case "jobs":
			jobsNode = v
		default:
			hint := "the top level has only 'defaults:' and 'jobs:'"
			if near(k.Value, "defaults") || near(k.Value, "jobs") {
				hint = "did you mean " + map[bool]string{true: "defaults", false: "jobs"}[near(k.Value, "defaults")] + "?"
			}
			ps = append(ps, Problem{Line: k.Line, Msg: fmt.Sprintf("unknown top-level key %q", k.Value), Hint: hint})
		}
	}
	switch {
	case jobsNode == nil:
		ps = append(ps, Problem{Msg: "the batch has no 'jobs:' list", Hint: "jobs:\n  - source: /dev/sdb\n    name: laptop-ssd"})
	case jobsNode.Kind != yaml.SequenceNode || len(jobsNode.Content) == 0:
		ps = append(ps, Problem{Line: jobsNode.Line, Msg: "'jobs:' must be a non-empty list of mappings (each with a source)"})
	default:
		for i, jn := range jobsNode.Content {
			j := JobSpec{Index: i, Line: jn.Line}
			if jn.Kind != yaml.MappingNode {
				ps = append(ps, Problem{Job: fmt.Sprintf("job %d", i+1), Line: jn.Line, Msg: "a job is a mapping of keys (source:, name:, …)"})
				f.Jobs = append(f.Jobs, j)
				continue
			}
			var jps Problems
			j.Settings, jps = settings(jn, fmt.Sprintf("job %d", i+1), false)
			ps = append(ps, jps...)
			f.Jobs = append(f.Jobs, j)
		}
	}
	ps.Sort()
	if len(ps) > 0 {
		return f, ps
	}
	return f, nil
}

// settings reads a mapping of flag keys.
func settings(n *yaml.Node, job string, inDefaults bool) ([]Setting, Problems) {
	where := job
	if inDefaults {
		where = "defaults"
	}
	if n.Kind != yaml.MappingNode {
		return nil, Problems{{Job: job, Line: n.Line, Msg: where + " must be a mapping of acquire flags (key: value)"}}
	}
	var out []Setting
	var ps Problems
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		s := Setting{Key: k.Value, Flag: strings.ReplaceAll(k.Value, "_", "-"), Line: k.Line, InDefaults: inDefaults}
		if prev, dup := seen[s.Flag]; dup {
			ps = append(ps, Problem{Job: job, Line: k.Line, Msg: fmt.Sprintf("%s: %q is given twice (first on line %d)", where, k.Value, prev)})
			continue
		}
		seen[s.Flag] = k.Line
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				ps = append(ps, Problem{Job: job, Line: k.Line, Msg: fmt.Sprintf("%q has no value", k.Value)})
				continue
			}
			s.Values = []string{v.Value}
		case yaml.SequenceNode:
			s.List = true
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					ps = append(ps, Problem{Job: job, Line: e.Line, Msg: fmt.Sprintf("%q: a list holds plain values, not lists or mappings", k.Value)})
					continue
				}
				s.Values = append(s.Values, e.Value)
			}
		default:
			ps = append(ps, Problem{Job: job, Line: k.Line, Msg: fmt.Sprintf("%q: wrong type: a value or a list of values, not a mapping", k.Value)})
			continue
		}
		out = append(out, s)
	}
	return out, ps
}

// near says whether s is a likely typo of want: at most two edits
// (insertions, deletions, substitutions, swaps of neighbours) away.
func near(s, want string) bool {
	a, b := strings.ToLower(s), want
	// Optimal string alignment distance.
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)] <= 2
}

// errNoSource is the problem of a job without source.
var errNoSource = errors.New("no source: every job needs 'source:' (a block device or an image file)")

package cmd

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/custodian-forensics/custodian/acquire"
	"github.com/custodian-forensics/custodian/internal/exitcode"
)

// Every usage error (an unknown command or subcommand, a missing required
// flag, a wrong number of arguments) exits 2 with one "error:" line and a
// "hint:" with a did-you-mean where one fits. Cobra finds most of them
// before a command runs and returns plain errors; prepareUsage and
// usageOf turn those into usageErrors.

// prepareUsage walks the command tree: every RunE records that the command
// started (errors before that are cobra's, hence the user's), and every
// command that only groups subcommands refuses a missing or unknown one
// instead of printing its help and exiting 0.
func prepareUsage(c *cobra.Command, g *globalOptions) {
	c.SuggestionsMinimumDistance = 2
	for _, sub := range c.Commands() {
		prepareUsage(sub, g)
	}
	// The root keeps cobra's own handling (help without arguments, an
	// "unknown command" error that usageOf rewords).
	if c.HasParent() && c.RunE == nil && c.Run == nil && c.HasSubCommands() {
		c.Args = groupArgs
		c.RunE = func(c *cobra.Command, _ []string) error {
			return usageError(fmt.Errorf("%s needs a subcommand: %s", c.CommandPath(), strings.Join(subcommandNames(c), ", ")),
				fmt.Sprintf("run '%s --help' for what each does", c.CommandPath()))
		}
	}
	if run := c.RunE; run != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			g.running = true
			return run(c, args)
		}
	}
}

// groupArgs refuses arguments of a command that only groups subcommands
// (the first of them names no subcommand, or cobra would have gone there).
func groupArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return usageError(fmt.Errorf("unknown %s subcommand %q", c.CommandPath(), args[0]),
		suggest(c, args[0]))
}

func subcommandNames(c *cobra.Command) []string {
	var names []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return names
}

// suggest is the did-you-mean hint for a mistyped subcommand of c.
func suggest(c *cobra.Command, typed string) string {
	if s := c.SuggestionsFor(typed); len(s) > 0 {
		return fmt.Sprintf("did you mean %s %s?", c.CommandPath(), s[0])
	}
	return fmt.Sprintf("%s has: %s", c.CommandPath(), strings.Join(subcommandNames(c), ", "))
}

// exactArgs is cobra.ExactArgs(n) with an error that says what is missing.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return usageError(fmt.Errorf("%s takes %s, got %d %s", c.CommandPath(), what, len(args), plural(int64(len(args)), "argument", "arguments")),
			"usage: "+c.UseLine())
	}
}

var (
	unknownCommandRE = regexp.MustCompile(`^unknown command "(.*)" for "(.*)"`)
	requiredFlagRE   = regexp.MustCompile(`^required flag\(s\) (.*) not set`)
)

// usageOf classifies err, returned by cobra for command c: errors from
// before the command ran are usage errors with a clear sentence.
func usageOf(g *globalOptions, c *cobra.Command, err error) error {
	var coder exitcode.Coder
	if err == nil || g.running || errors.As(err, &coder) {
		return err
	}
	msg := err.Error()
	if m := unknownCommandRE.FindStringSubmatch(msg); m != nil {
		if c == nil {
			return usageError(fmt.Errorf("unknown command %q", m[1]))
		}
		if !c.HasParent() {
			return usageError(fmt.Errorf("unknown command %q", m[1]), suggest(c, m[1]))
		}
		return usageError(fmt.Errorf("unknown command %q for %s", m[1], c.CommandPath()), suggest(c, m[1]))
	}
	if m := requiredFlagRE.FindStringSubmatch(msg); m != nil && c != nil {
		var flags, hints []string
		for _, name := range strings.Split(m[1], ", ") {
			name = strings.Trim(name, `"`)
			fl := c.Flags().Lookup(name)
			if fl == nil {
				flags = append(flags, "--"+name)
				continue
			}
			s := "--" + name
			if fl.Shorthand != "" {
				s = "-" + fl.Shorthand + ", " + s
			}
			flags = append(flags, s)
			hints = append(hints, fmt.Sprintf("%s: %s", s, fl.Usage))
		}
		return usageError(fmt.Errorf("%s needs %s", c.CommandPath(), strings.Join(flags, " and ")), append(hints, "usage: "+c.UseLine())...)
	}
	return usageError(errors.New(firstLine(msg)), fmt.Sprintf("run '%s --help' for usage", commandPath(c)))
}

var unknownFlagRE = regexp.MustCompile(`^unknown (?:shorthand )?flag: '?-*([^' ]+)`)

// flagError is the usage error of a flag cobra could not parse, with the
// closest flag of c as a did-you-mean.
func flagError(c *cobra.Command, err error) error {
	if m := unknownFlagRE.FindStringSubmatch(err.Error()); m != nil {
		var names []string
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if !f.Hidden {
				names = append(names, f.Name)
			}
		})
		hint := fmt.Sprintf("run '%s --help' for its flags", c.CommandPath())
		best, bestD := "", 3 // at most 2 edits: "--bogus" is no typo of "--notes"
		for _, n := range names {
			if d := levenshtein(m[1], n); d < bestD {
				best, bestD = n, d
			}
		}
		if best != "" {
			hint = "did you mean --" + best + "?"
		}
		return usageError(fmt.Errorf("%s: %s", c.CommandPath(), firstLine(err.Error())), hint)
	}
	return usageError(fmt.Errorf("%s: %s", c.CommandPath(), firstLine(err.Error())), fmt.Sprintf("run '%s --help' for usage", c.CommandPath()))
}

func commandPath(c *cobra.Command) string {
	if c == nil {
		return "custodian"
	}
	return c.CommandPath()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// userMessage is err's text for people: without the "invalid acquisition
// request: " that acquire.ErrUsage puts in front of every refusal (the
// exit status says it is one).
func userMessage(err error) string {
	return strings.ReplaceAll(err.Error(), acquire.ErrUsage.Error()+": ", "")
}

// wantsJSON reports whether the user asked command c for JSON output, also
// when flag parsing stopped before --json was reached.
func wantsJSON(c *cobra.Command, args []string) bool {
	if c != nil {
		if f := c.Flags().Lookup("json"); f != nil && f.Changed {
			return f.Value.String() == "true"
		}
	}
	return slices.Contains(args, "--json") || slices.Contains(args, "--json=true")
}

// streamsJSON: c's --json output ends in a result line (acquire, verify),
// so every failure gets one. Other commands print their JSON document
// before they fail; they get a result line only for a usage error, when
// nothing was printed.
func streamsJSON(c *cobra.Command) bool {
	return c != nil && (c.Name() == "acquire" || c.Name() == "verify")
}

// errorLine is the JSON result line of a command that failed before it
// printed one of its own (a usage error, a refusal).
type errorLine struct {
	Schema   string   `json:"schema"`
	Type     string   `json:"type"`
	Status   string   `json:"status"`
	ExitCode int      `json:"exit_code"`
	Error    string   `json:"error"`
	Hints    []string `json:"hints"`
}

// printJSONError writes err as the JSON result line of command c.
func printJSONError(w io.Writer, c *cobra.Command, err error) {
	schema := "custodian/error/v1"
	if c != nil {
		switch c.Name() {
		case "acquire":
			schema = acquireLineSchema
		case "verify":
			schema = verifySchema
		}
	}
	hints := hintsOf(err)
	if hints == nil {
		hints = []string{}
	}
	status := "failed"
	if exitcode.Of(err) == ExitUsage {
		status = "refused"
	}
	_ = newJSONEncoder(w, "").Encode(errorLine{Schema: schema, Type: "result", Status: status, ExitCode: exitcode.Of(err),
		Error: userMessage(err), Hints: hints})
}

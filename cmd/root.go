package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/custodian-forensics/custodian/internal/exitcode"
)

// globalOptions is what every command shares: the streams it talks through
// and the one viper instance that resolves flags, environment and config.
type globalOptions struct {
	configFile string
	// origins records, for every flag given a value, where it came from
	// (resolveConfig fills it).
	origins map[string]string
	args    []string // the command line, recorded in reports
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	v       *viper.Viper
	// running is set when a command's RunE starts: errors before it are
	// cobra's findings about the command line (see usageOf).
	running bool
	// resultPrinted is set by a --json command once it printed its result
	// line, so that a failure does not print a second one.
	resultPrinted bool
}

// Main runs the CLI with args (without the program name) and returns the
// process exit status. It is main's only job to pass that to os.Exit.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// The first SIGINT/SIGTERM cancels ctx: the command stops cleanly,
	// syncs what it wrote and says how far it got. Then the handler is
	// removed, so a second signal ends the process at once (in case the
	// clean stop hangs on a device that does not answer).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	return run(ctx, args, stdin, stdout, stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{args: args, stdin: stdin, stdout: stdout, stderr: stderr, v: viper.New()}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteContextC(ctx)
	err = usageOf(g, c, err)
	if err != nil {
		if !isSilent(err) {
			printError(stderr, err)
		}
		if wantsJSON(c, args) && !g.resultPrinted && (exitcode.Of(err) == ExitUsage || streamsJSON(c)) {
			printJSONError(stdout, c, err)
		}
	}
	return exitcode.Of(err)
}

// silentError is an error whose message the command has already shown (for
// example a verification table that ends in a mismatch); only its code counts.
type silentError struct{ cliError }

func isSilent(err error) bool {
	var s *silentError
	return errors.As(err, &s)
}

func silent(code int, err error) error {
	return &silentError{cliError{code: code, err: err}}
}

func newRootCommand(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "custodian",
		Short: "Forensic disk acquisition and software write-blocking",
		Long: `custodian images block devices read-only into segmented raw or EWF files,
computes several hashes in one pass, records unreadable sectors exactly,
writes a signed acquisition report, and write-blocks devices in software.

Every acquire flag may also be set in a YAML config file (--config, keys are the long
flag names) or as an environment variable CUSTODIAN_<FLAG> (dashes become
underscores, e.g. CUSTODIAN_SEGMENT_SIZE=2GiB). A flag on the command line wins
over the environment, which wins over the config file.

` + exitStatusHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// "completion bash|zsh|fish|powershell" prints a completion script.
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.resolveConfig(cmd)
		},
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML config file with flag values (keys are long flag names)")
	root.SetFlagErrorFunc(flagError)
	// Every command is built anew for every root: no package-level flag state.
	root.AddCommand(
		newVersionCommand(g),
		newAcquireCommand(g),
		newVerifyCommand(g), newKeygenCommand(g),
		newInfoCommand(g), newListCommand(g),
		newWriteblockCommand(g),
		newBatchCommand(g),
	)
	root.DisableSuggestions = true // usageOf suggests, in one hint line
	// Now, not at Execute, so man pages and usage checks see it; it takes
	// its output stream now, so the streams are set first.
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.InitDefaultCompletionCmd()
	prepareUsage(root, g)
	return root
}

// configAnnotation marks a command whose flags may come from CUSTODIAN_*
// environment variables and the --config file.
const configAnnotation = "custodian/config"

// resolveConfig applies the precedence flag > CUSTODIAN_* env > config file >
// default to cmd's flags, once, before the command runs. Values end up in the
// flags themselves, so commands read only their own option structs.
func (g *globalOptions) resolveConfig(cmd *cobra.Command) error {
	v := g.v
	v.SetEnvPrefix("CUSTODIAN")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	cfg := g.configFile
	if cfg == "" {
		cfg = os.Getenv("CUSTODIAN_CONFIG")
	}
	if cfg != "" {
		v.SetConfigFile(cfg)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return usageError(fmt.Errorf("read config %s: %w", cfg, err),
				"the config file is YAML with long flag names as keys, e.g. 'segment-size: 2GiB'")
		}
	}
	if cmd.Annotations[configAnnotation] == "" {
		// Only commands that opt in take flag values from the environment
		// and the config file: a batch config's "output:" must never turn
		// into keygen's -o, nor "source:" into verify's --source.
		return nil
	}
	g.origins = map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) { g.origins[f.Name] = "command line" })
	if err := checkEnvNames(cmd); err != nil {
		return err
	}
	if cfg != "" {
		if err := checkConfigKeys(cmd, v, cfg); err != nil {
			return err
		}
	}
	var ferr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if ferr != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		val, from, ok := configValue(v, f.Name, cfg)
		if !ok {
			return
		}
		if safetyOff[f.Name] {
			ferr = usageError(fmt.Errorf("--%s turns a safeguard off and is taken only from the command line, not from the %s", f.Name, from),
				fmt.Sprintf("type --%s on the command line if you mean it (it is recorded in the report's command line), and remove it from the %s", f.Name, from))
			return
		}
		if err := cmd.Flags().Set(f.Name, val); err != nil {
			ferr = usageError(fmt.Errorf("invalid value %q for %s from the %s: %w", val, f.Name, from, err))
			return
		}
		g.origins[f.Name] = from
	})
	return ferr
}

// safetyOff are the flags that turn a safeguard off: they must be typed.
var safetyOff = map[string]bool{"no-writeblock": true, "allow-busy": true, "force": true, "allow-foreign-folder": true}

// knownEnv are the CUSTODIAN_* variables that are not flags.
var knownEnv = map[string]bool{"CUSTODIAN_CONFIG": true, passphraseEnv: true}

// envName is the environment variable of a flag.
func envName(flag string) string {
	return "CUSTODIAN_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// checkEnvNames refuses a CUSTODIAN_* variable that names no flag of cmd: a
// typo (CUSTODIAN_EXAMINR) must not be ignored silently.
func checkEnvNames(cmd *cobra.Command) error {
	known := map[string]string{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = f.Name })
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "CUSTODIAN_") || knownEnv[name] {
			continue
		}
		if _, ok := known[name]; !ok {
			return usageError(fmt.Errorf("the environment variable %s names no %s flag", name, cmd.Name()),
				didYouMean(name, slices.Collect(maps.Keys(known)), "unset it"))
		}
	}
	return nil
}

// checkConfigKeys refuses a config key that names no flag of cmd (a typo
// such as "examinr:" must not be dropped silently).
func checkConfigKeys(cmd *cobra.Command, v *viper.Viper, cfg string) error {
	var names []string
	known := map[string]bool{}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		names = append(names, f.Name)
		known[f.Name], known[strings.ReplaceAll(f.Name, "-", "_")] = true, true
	})
	var bad []string
	for _, k := range v.AllKeys() {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	var hints []string
	for _, k := range bad {
		hints = append(hints, fmt.Sprintf("%q: %s", k, didYouMean(k, names, "remove it")))
	}
	return usageError(fmt.Errorf("config %s has %d unknown key(s): %s", cfg, len(bad), strings.Join(bad, ", ")), hints...)
}

// didYouMean suggests the closest of candidates to s, or says what to do.
func didYouMean(s string, candidates []string, otherwise string) string {
	norm := func(x string) string { return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(x)) }
	best, bestD := "", 4
	for _, c := range candidates {
		if d := levenshtein(norm(s), norm(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return otherwise
	}
	return fmt.Sprintf("did you mean %s?", best)
}

// levenshtein is the edit distance of a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// configValue looks a flag up in viper under its long name, also accepting
// snake_case keys in config files (case_number for case-number), and says
// where the value came from.
func configValue(v *viper.Viper, name, cfg string) (val, from string, ok bool) {
	from = "config " + cfg
	if _, set := os.LookupEnv(envName(name)); set {
		from = "environment " + envName(name)
	}
	for _, key := range []string{name, strings.ReplaceAll(name, "-", "_")} {
		if !v.IsSet(key) {
			continue
		}
		switch x := v.Get(key).(type) {
		case []any:
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = fmt.Sprint(p)
			}
			return strings.Join(parts, ","), from, true
		case []string:
			return strings.Join(x, ","), from, true
		default:
			return v.GetString(key), from, true
		}
	}
	return "", "", false
}

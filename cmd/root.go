package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	args       []string // the command line, recorded in reports
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	v          *viper.Viper
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
	err := root.ExecuteContext(ctx)
	if err != nil {
		if !isSilent(err) {
			printError(stderr, err)
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
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.resolveConfig(cmd)
		},
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML config file with flag values (keys are long flag names)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageError(err, "run 'custodian help' for usage")
	})
	// Every command is built anew for every root: no package-level flag state.
	root.AddCommand(
		newVersionCommand(g),
		newAcquireCommand(g),
		newVerifyCommand(g), newKeygenCommand(g),
		newInfoCommand(g),
		newWriteblockCommand(g),
	)
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
	var ferr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if ferr != nil || f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		val, ok := configValue(v, f.Name)
		if !ok {
			return
		}
		if err := cmd.Flags().Set(f.Name, val); err != nil {
			ferr = usageError(fmt.Errorf("invalid value %q for %s from environment or config: %w", val, f.Name, err))
		}
	})
	return ferr
}

// configValue looks a flag up in viper under its long name, also accepting
// snake_case keys in config files (case_number for case-number).
func configValue(v *viper.Viper, name string) (string, bool) {
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
			return strings.Join(parts, ","), true
		case []string:
			return strings.Join(x, ","), true
		default:
			return v.GetString(key), true
		}
	}
	return "", false
}

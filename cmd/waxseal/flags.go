package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
)

// errHelp is returned when -h was asked for and the usage already printed.
var errHelp = errors.New("help shown")

// newFlagSet returns a FlagSet that reports mistakes as usage errors and prints its
// help to stderr only when asked.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fs.SetOutput(stderr)
		io.WriteString(stderr, "usage: waxseal "+synopsis+"\n\n")
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, letting flags and positional arguments mix.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				// fs.Parse has printed the usage already.
				return nil, errHelp
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
		if len(args) > 0 && args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
	}
}

// orEnv returns v, or the environment variable name when v is empty. A secret
// taken this way is never a flag's default, which -h would print.
func orEnv(v, name string) string {
	if v != "" {
		return v
	}
	return os.Getenv(name)
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// parseConfigFlags parses the flags of a command that takes no arguments and runs
// from a config file (the --config flag at *path), and loads that file.
func parseConfigFlags(fs *flag.FlagSet, path *string, args []string) (*fileConfig, error) {
	positional, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if len(positional) > 0 {
		return nil, usagef("unexpected argument %q", positional[0])
	}
	if *path == "" {
		return nil, usagef("--config is required")
	}
	return loadConfig(*path)
}

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// parseCommand parses the flags of a command that takes no positional
// argument. help reports that -h asked for the flags (printed by fs), after
// which the command returns nil.
func parseCommand(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		return false, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("%w: %s takes no arguments", errUsage, fs.Name())
	}
	return false, nil
}

// newLogger logs text to w from level, or from one level lower (more
// detail) with -v.
func newLogger(w io.Writer, level slog.Level, verbose bool) *slog.Logger {
	if verbose {
		level -= 4 // slog's levels are 4 apart
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

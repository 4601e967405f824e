// Command zktap watches ZooKeeper traffic passively and tells what loads an
// ensemble: paths, operations, latency, clients, sessions, watches, ZAB
// replication and leader elections. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/zktap/zktap/config"
	"github.com/zktap/zktap/internal/app"
)

func main() { os.Exit(run()) }

func run() int {
	cfg, err := config.Parse(os.Args[1:], os.Getenv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(os.Stderr, "zktap:", line)
		}
		if errors.Is(err, config.ErrUsage) {
			return app.ExitUsage
		}
		return app.ExitFailure
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Run(ctx, cfg, os.Stdout, os.Stderr, newLogger(cfg.Log))
}

// newLogger logs to stderr, so that dump output on stdout stays clean.
func newLogger(c config.Log) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

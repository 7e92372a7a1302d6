package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/scenario"
)

// runFlags are the flags of atota run.
type runFlags struct {
	seed     uint64
	json     bool
	junit    string
	matrix   int
	parallel int
	work     string
}

func (a *app) runCommand() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run SCENARIO... [flags]",
		Short: "Run hardware-in-the-loop scenarios: an update with faults, checked against expectations",
		Long: `atota run runs a scenario file (YAML, or JSON): an OTA update between the
module and the MCU, either end emulated or a real device on a port, through a
link that injects faults (bit flips, lost bytes, delays, split writes, URC
storms, link loss, module reboots, MCU resets, power cuts at a flash
operation, corrupt blocks, clock jumps), with the emulated module behind a
local platform if asked (MQTT and HTTP on loopback: cut and slowed package
downloads, broker restarts), and checks what the scenario expects: the
outcome, the versions, the events seen, the exit code an MCU would give, the
duration, the bytes read again. examples/scenarios has the built-in
scenarios and documents the format.

Faults are drawn from --seed (default: the scenario's seed); a failing run
prints the seed that replays it. --matrix N runs each scenario with N seeds
from there and prints a table: runs, successes, refusals, failures, corrupt
images reported good (must be 0), mean and worst duration, bytes read again
over the package size.

It prints a summary per run (with --json: JSON lines on stdout, one per event
and one "result" per run, only the results with --matrix, and the summaries
on stderr) and writes JUnit XML with --junit: a test suite per run, a test
case per expectation. Exit status: 0 when every expectation of every run holds, 1
otherwise (or when a run cannot be made), 2 for a scenario file that does not
follow the format.`,
		Example: `  atota run examples/scenarios/happy-path.yaml
  atota run examples/scenarios/*.yaml --junit report.xml
  atota run examples/scenarios/power-cut-every-10.yaml --seed 42 --json
  atota run examples/scenarios/random-faults.yaml --matrix 100`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.matrix < 0 || f.parallel < 0 {
				return usagef("run: --matrix and --parallel cannot be negative")
			}
			var scs []*scenario.Scenario
			for _, path := range args {
				sc, err := scenario.Load(path)
				if err != nil {
					return &usageError{err.Error()}
				}
				scs = append(scs, sc)
			}
			a.begin(cmd)
			return a.runScenarios(cmd, f, scs)
		},
	}
	fl := cmd.Flags()
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the faults (default: the scenario's seed)")
	fl.BoolVar(&f.json, "json", false, "JSON lines on stdout: every event, then a result per run; summaries go to stderr")
	fl.StringVar(&f.junit, "junit", "", "write JUnit XML to this file")
	fl.IntVar(&f.matrix, "matrix", 0, "run each scenario with this many seeds, from --seed on, and print a table")
	fl.IntVar(&f.parallel, "parallel", 0, "with --matrix: runs at a time (default: the number of CPUs)")
	fl.StringVar(&f.work, "work", "", "keep each run's plans, packages, module state and MCU journal in this directory")
	return cmd
}

// runScenarios runs each scenario (or its matrix) and reports.
func (a *app) runScenarios(cmd *cobra.Command, f runFlags, scs []*scenario.Scenario) error {
	ctx := cmd.Context()
	human := a.stdout
	if f.json {
		human = a.stderr
	}
	var out sync.Mutex // --json lines come from the runs' goroutines
	writeJSON := func(v any) {
		data, err := json.Marshal(v)
		if err != nil {
			return
		}
		out.Lock()
		defer out.Unlock()
		a.stdout.Write(append(data, '\n'))
	}
	var (
		results []*scenario.Result
		runErrs []*scenario.RunError
		failed  int
	)
	for _, sc := range scs {
		seed := sc.Seed
		if cmd.Flags().Changed("seed") {
			seed = f.seed
		}
		opts := scenario.Options{Logger: a.runLogger(cmd)}
		if f.work != "" {
			opts.WorkDir = filepath.Join(f.work, sc.Name)
		}
		if f.matrix > 0 {
			seeds := make([]uint64, f.matrix)
			for i := range seeds {
				seeds[i] = seed + uint64(i)
			}
			var progress func(*scenario.Result)
			if f.json {
				progress = func(r *scenario.Result) { writeJSON(r) }
			}
			m, err := scenario.RunMatrix(ctx, sc, seeds, f.parallel, opts, progress)
			if m != nil {
				results = append(results, m.Results...)
				m.WriteTable(human)
				if !m.Passed() {
					failed++
				}
			}
			if err != nil {
				runErrs = append(runErrs, &scenario.RunError{Scenario: sc.Name, File: sc.File, Seed: seed, Err: err})
				fmt.Fprintf(a.stderr, "atota: run: %v\n", err)
			}
			continue
		}
		if f.json {
			opts.OnEvent = func(e scenario.Event) { writeJSON(e) }
		}
		res, err := scenario.Run(ctx, sc, seed, opts)
		if err != nil {
			runErrs = append(runErrs, &scenario.RunError{Scenario: sc.Name, File: sc.File, Seed: seed, Err: err})
			fmt.Fprintf(a.stderr, "atota: run: %v\n", err)
			continue
		}
		results = append(results, res)
		if f.json {
			writeJSON(res)
		}
		res.WriteSummary(human)
		if !res.Passed() {
			failed++
		}
	}
	if f.junit != "" {
		if err := writeJUnitFile(f.junit, results, runErrs); err != nil {
			return err
		}
	}
	switch {
	case len(runErrs) > 0:
		return fmt.Errorf("run: %d of %d scenarios could not run and %d failed; see above", len(runErrs), len(scs), failed)
	case failed > 0:
		return errors.New("run: " + strconv.Itoa(failed) + " of " + strconv.Itoa(len(scs)) + " scenarios failed; the summaries above say what differed and the seed that replays each run")
	}
	return nil
}

// writeJUnitFile writes the JUnit report atomically enough for a CI
// system: to a temporary file renamed over path.
func writeJUnitFile(path string, results []*scenario.Result, errs []*scenario.RunError) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".junit-*")
	if err != nil {
		return fmt.Errorf("run: --junit %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := scenario.WriteJUnit(tmp, results, errs...); err != nil {
		tmp.Close()
		return fmt.Errorf("run: --junit %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("run: --junit %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("run: --junit %s: %w", path, err)
	}
	return nil
}

// runLogger returns the logger of the runs: the module's and the MCU's
// logs only when --log-level asks for them, since the events and the
// summary already tell what happened.
func (a *app) runLogger(cmd *cobra.Command) *slog.Logger {
	if !cmd.Flags().Changed("log-level") {
		return slog.New(slog.DiscardHandler)
	}
	return a.logger(cmd, false)
}

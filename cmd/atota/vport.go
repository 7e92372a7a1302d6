package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/atota/atota/transport"
)

func (a *app) vportCommand() *cobra.Command {
	var links []string
	cmd := &cobra.Command{
		Use:   "vport [--link A --link B]",
		Short: "Make a virtual serial pair: two linked ptys, for terminals and MCU tools",
		Long: `atota vport creates two pseudo-terminals whose bytes are copied to each other,
like a null-modem cable, and links them at the two paths given (by default
atota-a and atota-b in the temporary directory). Either end can be opened,
closed and opened again by any serial program. It runs until stopped.`,
		Example: `  atota vport --link /tmp/ttyM --link /tmp/ttyU &
  atota module --port /tmp/ttyM --plans plans --product p1demo &
  atota mcu --port /tmp/ttyU --target flashsim:flash.bin?part=stm32f407vg --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch len(links) {
			case 0:
				links = []string{filepath.Join(os.TempDir(), "atota-a"), filepath.Join(os.TempDir(), "atota-b")}
			case 2:
			default:
				return usagef("vport: give --link twice (one path for each end), or not at all")
			}
			a.begin(cmd)
			p, err := transport.NewPair(links[0], links[1], transport.WithLogger(a.logger(cmd, false)))
			if err != nil {
				return err
			}
			defer p.Close()
			pa, pb := p.Paths()
			fmt.Fprintf(a.stdout, "%s (%s) <-> %s (%s)\n", links[0], pa, links[1], pb)
			fmt.Fprintln(a.stderr, "atota vport: running (Ctrl-C to stop)")
			<-cmd.Context().Done()
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&links, "link", nil, "path to link one end at (give twice)")
	return cmd
}

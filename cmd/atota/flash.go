package main

import (
	"github.com/spf13/cobra"
)

func (a *app) flashCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "flash",
		Short: "Inspect, create and serve simulated flash (not available yet)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.begin(cmd)
			return usagef("flash: not available yet")
		},
	}
}

package main

import (
	"github.com/spf13/cobra"
)

func (a *app) packCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pack",
		Short: "Build an update package (full, or delta from an old image) (not available yet)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.begin(cmd)
			return usagef("pack: not available yet")
		},
	}
}

package main

import (
	"github.com/spf13/cobra"
)

func (a *app) platformCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "platform",
		Short: "Run a local platform: plans and packages over MQTT and HTTP (not available yet)",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a.begin(cmd)
			return usagef("platform: not available yet")
		},
	}
}

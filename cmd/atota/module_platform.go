package main

import (
	"context"
	"log/slog"

	"github.com/atota/atota/agent/module"
)

// platformLink is the module's link to a platform (--platform): it gives
// the module its plans and hears its version reports and task progress.
type platformLink interface {
	module.PlanSource
	module.Observer
	// Start connects as the device with the given key (the device name
	// on the platform) once the module knows it.
	Start(ctx context.Context, deviceKey string) error
	Close() error
}

// newPlatformLink returns the link for --platform.
func (a *app) newPlatformLink(ctx context.Context, f moduleFlags, log *slog.Logger) (platformLink, error) {
	return nil, usagef("module: --platform is not available yet; use --plans DIR")
}

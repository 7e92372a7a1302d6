package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/agent/platform"
)

// The demo device's identity on the demo platform.
const (
	demoDevice = "atota-demo-1"
	demoSecret = "demo-device-secret"
)

// demoPlatform is the platform side of atota demo --platform: a local
// platform on loopback and the module's link to it.
type demoPlatform struct {
	p    *platform.Platform
	link moduleLink
}

// demoPlatformResult is what the platform saw.
type demoPlatformResult struct {
	broker, packages, device string
	task                     platform.Task
}

// startDemoPlatform starts a platform serving the demo's plans on free
// loopback ports (or through cfg.broker) and a link for the module.
func startDemoPlatform(ctx context.Context, dir string, plans *plan.Dir, cfg demoConfig) (*demoPlatform, error) {
	p, err := platform.New(platform.Config{
		Plans: plans, Broker: cfg.broker, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0",
		StatePath: filepath.Join(dir, "platform.json"),
		Secrets:   func(pk, dn string) string { return demoSecret },
		Tick:      200 * time.Millisecond,
		Logger:    cfg.log.With("side", "platform"),
	})
	if err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	dev, err := platform.NewDevice(platform.DeviceConfig{
		Broker: p.BrokerURL(), ProductKey: "p1demo", DeviceSecret: demoSecret,
		CacheDir: filepath.Join(dir, "link"), MaxReconnectInterval: time.Second,
		Logger: cfg.log.With("side", "platform-link"),
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return &demoPlatform{p: p, link: moduleLink{Device: dev}}, nil
}

// waitReady waits until the link offers the job as a plan.
func (d *demoPlatform) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if plans, _ := d.link.Load(); len(plans) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the platform's job did not reach the module within 10 s (platform state %+v)", d.p.Status())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitSuccess waits until the platform has the device's task as
// succeeded: it heard the new version.
func (d *demoPlatform) waitSuccess(ctx context.Context) (*demoPlatformResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		for _, dev := range d.p.Status().Devices {
			for _, t := range dev.Tasks {
				if dev.Device == demoDevice && t.Status == platform.TaskSucceeded {
					return &demoPlatformResult{broker: d.p.BrokerURL(), packages: d.p.PackageURL(), device: dev.Device, task: *t}, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the platform did not see the new version within 10 s (state %+v)", d.p.Status())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (d *demoPlatform) close() {
	d.link.Close()
	d.p.Close()
}

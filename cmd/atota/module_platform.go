package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/agent/platform"
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

// newPlatformLink returns the link for --platform: Alink OTA over
// mqtt:// or mqtts://, the IoTDA adapter over huawei+mqtt(s)://. The
// product key and device secret come from the flags, else from the
// module's state file (as saved with AT+QIOTCFG); packages and the link's
// own state go in a directory beside the state file.
func (a *app) newPlatformLink(ctx context.Context, f moduleFlags, log *slog.Logger) (platformLink, error) {
	statePath := f.state
	if statePath == "" {
		p, err := defaultStatePath()
		if err != nil {
			return nil, err
		}
		statePath = p
	}
	pk, ds := f.product, f.deviceSecret
	if pk == "" || ds == "" {
		saved := savedIdentity(statePath)
		pk, ds = cmpOr(pk, saved.ProductKey), cmpOr(ds, saved.DeviceSecret)
	}
	huawei := strings.HasPrefix(f.platform, "huawei+")
	switch {
	case ds == "":
		return nil, usagef("module: --platform %s needs --device-secret: the platform link signs its MQTT login with the device secret", f.platform)
	case pk == "" && !huawei:
		return nil, usagef("module: --platform %s needs --product: the Alink login names the product key", f.platform)
	}
	hook := &pushHook{}
	dev, err := platform.NewDevice(platform.DeviceConfig{
		Broker: f.platform, ProductKey: pk, DeviceSecret: ds,
		CacheDir:   statePath + ".platform",
		Logger:     log.With("side", "platform-link"),
		OnJobReady: func(string) { hook.call() },
	})
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	return moduleLink{dev, hook}, nil
}

// moduleLink adapts a platform.Device to the module's Observer.
type moduleLink struct {
	*platform.Device
	push *pushHook
}

// SetPush gives the link the module's push (Module.Push): a job that
// became a plan is then offered to the MCU at once, as spec §6 has a
// pushed job do, instead of at the module's next push round.
func (l moduleLink) SetPush(f func() []string) {
	l.push.mu.Lock()
	defer l.push.mu.Unlock()
	l.push.f = f
}

// pushHook holds the module's push once the module exists.
type pushHook struct {
	mu sync.Mutex
	f  func() []string
}

func (h *pushHook) call() {
	if h == nil {
		return
	}
	h.mu.Lock()
	f := h.f
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

// TaskProgress passes a module task step to the link.
func (l moduleLink) TaskProgress(p module.TaskProgress) {
	l.Device.TaskEvent(platform.TaskEvent{Plan: p.Plan, Component: p.Component, Event: p.Event, Done: p.Done, Total: p.Total, Reason: p.Reason})
}

// savedIdentity reads the product key and device secret a module state
// file holds; a missing or unreadable file gives none.
func savedIdentity(path string) (id struct {
	ProductKey   string `json:"product_key"`
	DeviceSecret string `json:"device_secret"`
}) {
	data, err := os.ReadFile(path)
	if err == nil {
		_ = json.Unmarshal(data, &id)
	}
	return id
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

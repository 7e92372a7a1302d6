package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

// Config configures a [Platform].
type Config struct {
	// Plans is the plans directory jobs come from.
	Plans *plan.Dir
	// Broker is an external broker (mqtt://HOST:PORT); empty starts the
	// embedded one on Listen (default 127.0.0.1:1883).
	Broker string
	Listen string
	// HTTP is the package server's address (default 127.0.0.1:8765);
	// PublicURL, when set, is the base URL devices download from instead
	// of http://HTTP.
	HTTP      string
	PublicURL string
	// WrapPackages, when set, wraps the handler of the package files
	// (the URLs under /p/): a test or a scenario counts, slows or cuts
	// the downloads with it.
	WrapPackages func(http.Handler) http.Handler
	// StatePath keeps the devices and tasks across restarts; empty keeps
	// them in memory.
	StatePath string
	// Secrets returns a device's secret for the embedded broker's login
	// check, "" if unknown; nil lets every device in unchecked.
	Secrets func(pk, dn string) string
	// Batch holds the batch rules; nil uses the zero Rules for all plans.
	Batch *Batch
	// Tick is how often timeouts, retries, pushes and the plans directory
	// are looked at again (default 2 s).
	Tick   time.Duration
	Logger *slog.Logger
	// Now is the platform's clock; nil is time.Now.
	Now func() time.Time
}

// Platform is a local IoT platform speaking Alink OTA: it pushes the plans
// of a plans directory as jobs to the devices they are for, serves the
// packages over HTTP with Range, answers firmware/get, and tracks every
// device's progress. Close stops it.
type Platform struct {
	cfg    Config
	log    *slog.Logger
	broker *broker // nil with an external broker
	client *transport.MQTTClient
	http   *http.Server
	hl     net.Listener
	base   string // package URL base

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	poke   chan struct{}

	mu       sync.Mutex
	st       *Status
	plans    []*plan.Plan
	files    *packageFiles
	lastPush time.Time
	seq      int64
	outbox   []outMsg // pushes and replies to publish, outside p.mu
	saved    []byte   // the state as last written
}

// New returns a platform for cfg; Start starts it.
func New(cfg Config) (*Platform, error) {
	if cfg.Plans == nil {
		return nil, errors.New("platform: no plans directory")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:1883"
	}
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:8765"
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 2 * time.Second
	}
	if cfg.Batch == nil {
		cfg.Batch = &Batch{}
	}
	st := &Status{Version: 1}
	if cfg.StatePath != "" {
		var err error
		if st, err = ReadStatus(cfg.StatePath); err != nil {
			return nil, err
		}
	}
	return &Platform{cfg: cfg, log: cfg.Logger, st: st, files: newPackageFiles(), poke: make(chan struct{}, 1)}, nil
}

// Start starts the broker (unless external), the package server and the
// platform's MQTT client, and waits until the client is connected.
func (p *Platform) Start(ctx context.Context) error {
	p.ctx, p.cancel = context.WithCancel(context.Background())
	hl, err := net.Listen("tcp", p.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("platform: package server on %s: %w; give another --http address", p.cfg.HTTP, err)
	}
	p.hl = hl
	p.base = "http://" + hl.Addr().String()
	if p.cfg.PublicURL != "" {
		p.base = p.cfg.PublicURL
	}
	p.http = &http.Server{Handler: p.handler(), ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.http.Serve(hl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("package server stopped", "err", err)
		}
	}()

	brokerURL, user, pass := p.cfg.Broker, "", ""
	if brokerURL == "" {
		b, err := startBroker(p.cfg.Listen, p.secret, p.cfg.Secrets == nil, p.log)
		if err != nil {
			p.Close()
			return err
		}
		p.broker = b
		brokerURL, user, pass = b.url(), platformUser, b.password
	}
	c, err := transport.NewMQTTClient(transport.MQTTConfig{
		Broker: brokerURL, ClientID: "atota-platform", Username: user, Password: pass,
		MaxReconnectInterval: 2 * time.Second, OnConnect: func() { p.kick() }, Logger: p.log,
	})
	if err != nil {
		p.Close()
		return fmt.Errorf("platform: %w", err)
	}
	p.client = c
	for f, h := range map[string]func(string, []byte){
		"/ota/device/inform/+/+":          p.onInform,
		"/ota/device/progress/+/+":        p.onProgress,
		"/sys/+/+/thing/ota/firmware/get": p.onGet,
	} {
		if err := c.Subscribe(ctx, f, h); err != nil {
			p.Close()
			return err
		}
	}
	if err := c.Connect(ctx); err != nil {
		p.Close()
		return fmt.Errorf("platform: %w", err)
	}
	p.reload()
	p.wg.Add(1)
	go p.loop()
	p.log.Info("platform running", "broker", p.BrokerURL(), "packages", p.base, "plans", p.cfg.Plans.Path())
	return nil
}

func (p *Platform) secret(pk, dn string) string {
	if p.cfg.Secrets == nil {
		return ""
	}
	return p.cfg.Secrets(pk, dn)
}

// BrokerURL returns the broker devices connect to.
func (p *Platform) BrokerURL() string {
	if p.broker != nil {
		return p.broker.url()
	}
	return p.cfg.Broker
}

// ErrExternalBroker is returned by StopBroker and StartBroker on a
// platform that uses an external broker (Config.Broker).
var ErrExternalBroker = errors.New("platform: the MQTT broker is external; only the embedded one can be stopped and started")

// StopBroker takes the embedded broker down as a broker that stops
// does: its listener closes and every client, the platform's own
// included, is dropped and tries to reconnect. The broker keeps its
// sessions, as a broker with persistent sessions does across a restart:
// QoS 1 messages for a client that asked to keep its session (as the
// platform's and the devices' do) wait for it. StartBroker brings it
// back. Stopping a stopped broker does nothing.
func (p *Platform) StopBroker() error {
	if p.broker == nil {
		return ErrExternalBroker
	}
	if p.broker.stop() {
		p.log.Info("MQTT broker stopped", "broker", p.broker.url())
	}
	return nil
}

// StartBroker brings the embedded broker back after StopBroker, on the
// same address; the clients reconnect and subscribe again by
// themselves. Starting a running broker does nothing.
func (p *Platform) StartBroker() error {
	if p.broker == nil {
		return ErrExternalBroker
	}
	started, err := p.broker.start()
	if err != nil {
		return err
	}
	if started {
		p.log.Info("MQTT broker started again", "broker", p.broker.url())
	}
	return nil
}

// PackageURL returns the base URL of the package server.
func (p *Platform) PackageURL() string { return p.base }

// Close stops the platform: its client, broker and package server.
func (p *Platform) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	if p.http != nil {
		p.http.Close()
	}
	p.wg.Wait()
	if p.client != nil {
		p.client.Close()
	}
	if p.broker != nil {
		p.broker.close()
	}
	return nil
}

func (p *Platform) kick() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// loop looks at every device again each tick, and when poked.
func (p *Platform) loop() {
	defer p.wg.Done()
	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.reload()
		case <-p.poke:
		}
		p.mu.Lock()
		for _, d := range p.st.Devices {
			p.evaluate(d, "")
		}
		p.save()
		p.mu.Unlock()
		p.send()
	}
}

// reload reads the plans directory again.
func (p *Platform) reload() {
	plans, errs := p.cfg.Plans.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, err := range errs {
		p.log.Debug("plan skipped", "err", err)
	}
	if len(plans) != len(p.plans) {
		p.log.Info("plans loaded", "dir", p.cfg.Plans.Path(), "good", len(plans), "bad", len(errs))
	}
	p.plans = plans
}

// Status returns a copy of the platform's state.
func (p *Platform) Status() *Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	data := mustJSON(p.st)
	var s Status
	_ = json.Unmarshal(data, &s)
	return &s
}

// Confirm gives the app confirmation of a manual plan for device dn.
func (p *Platform) Confirm(planName, dn string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.st.Devices {
		if d.Device != dn {
			continue
		}
		t := d.task(planName)
		if t == nil {
			return fmt.Errorf("platform: device %s has no task for plan %s", dn, planName)
		}
		t.Confirmed = true
		p.log.Info("upgrade confirmed in the app", "plan", planName, "device", dn)
		p.save()
		p.kick()
		return nil
	}
	return fmt.Errorf("platform: no device %s has been seen", dn)
}

// save writes the state file. p.mu is held.
func (p *Platform) save() {
	if p.cfg.StatePath == "" {
		return
	}
	data := mustJSON(p.st)
	if string(data) == string(p.saved) {
		return
	}
	if err := p.st.save(p.cfg.StatePath); err != nil {
		p.log.Error("platform: saving state failed", "path", p.cfg.StatePath, "err", err)
		return
	}
	p.saved = data
}

package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/transport"
)

// DeviceConfig configures a [Device], the module's link to a platform.
type DeviceConfig struct {
	// Broker is mqtt://HOST:PORT or mqtts://HOST:PORT for Alink OTA, or
	// huawei+mqtt:// and huawei+mqtts:// for the IoTDA $ota adapter.
	Broker       string
	ProductKey   string
	DeviceSecret string
	// CacheDir holds the link's state file (link.json) and the
	// downloaded packages; it is created if missing.
	CacheDir string
	// MaxSize is the largest package accepted (default
	// transport.DefaultDownloadMaxSize).
	MaxSize int64
	// Download options for every package (backoff, time bound).
	Download []transport.DownloadOption
	// MaxReconnectInterval caps the MQTT reconnect backoff.
	MaxReconnectInterval time.Duration
	Logger               *slog.Logger
	// OnJobReady, when set, is called (on the link's own goroutine, with
	// no lock held) when a job's package is verified and its plan is
	// offered by Load: the module can push it to the MCU at once.
	OnJobReady func(plan string)
	// Now is the clock jobs are stamped with; nil is time.Now.
	Now func() time.Time
}

// Device is the module's link to a platform: it connects as the device,
// reports component versions and task progress, receives jobs, downloads
// and verifies their packages into the cache and then offers them as
// upgrade plans (it is a plan source). What it must report survives
// disconnects and restarts in an outbox in its state file. Close stops it.
type Device struct {
	cfg  DeviceConfig
	log  *slog.Logger
	d    dialect
	tls  bool
	path string // state file

	ctx    context.Context // lives from Start to Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *transport.MQTTClient
	wake   chan struct{} // the sender has work
	fetch  chan struct{} // the downloader has work

	mu       sync.Mutex
	dn       string
	st       *deviceState
	lastPull time.Time
	dlCancel context.CancelFunc // cancels the download in progress
	dlKey    string
}

// NewDevice returns a Device with the state kept in cfg.CacheDir. It does
// not connect yet: Start does, once the device key is known.
func NewDevice(cfg DeviceConfig) (*Device, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = transport.DefaultDownloadMaxSize
	}
	d := &Device{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), fetch: make(chan struct{}, 1)}
	u, err := url.Parse(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("platform: --platform %q: %w", cfg.Broker, err)
	}
	scheme, huaweiMode := strings.CutPrefix(u.Scheme, "huawei+")
	switch scheme {
	case "mqtt":
	case "mqtts":
		d.tls = true
	default:
		return nil, fmt.Errorf("platform: --platform %q: scheme %q: want mqtt://, mqtts://, huawei+mqtt:// or huawei+mqtts://", cfg.Broker, u.Scheme)
	}
	u.Scheme = scheme
	d.cfg.Broker = u.String()
	if huaweiMode {
		d.d = huawei{now: cfg.Now, component: d.firstComponent}
	} else {
		d.d = alink{}
	}
	switch {
	case cfg.ProductKey == "" && !huaweiMode:
		return nil, errors.New("platform: no product key: the Alink link signs in as deviceName&productKey; give --product")
	case cfg.DeviceSecret == "":
		return nil, errors.New("platform: no device secret: the platform link signs its MQTT login with it; give --device-secret")
	case cfg.CacheDir == "":
		return nil, errors.New("platform: no cache directory for packages and the link state")
	}
	if err := os.MkdirAll(filepath.Join(cfg.CacheDir, "jobs"), 0o755); err != nil {
		return nil, fmt.Errorf("platform: cache directory: %w", err)
	}
	d.path = filepath.Join(cfg.CacheDir, "link.json")
	if d.st, err = loadDeviceState(d.path); err != nil {
		return nil, err
	}
	return d, nil
}

// Start connects as device dn (the device key) and starts the link's
// goroutines. It waits a few seconds for the first connection: a broker
// that refuses the credentials is an error matching
// transport.ErrMQTTRefused; one that cannot be reached yet is logged and
// tried again in the background. Jobs and reports left from an earlier
// run go on.
func (d *Device) Start(ctx context.Context, dn string) error {
	if dn == "" {
		return errors.New("platform: no device key to sign in with")
	}
	d.mu.Lock()
	d.dn = dn
	if d.st.Device != "" && d.st.Device != dn {
		d.log.Warn("platform link state belongs to another device; starting afresh", "was", d.st.Device, "now", dn)
		versions := d.st.Versions
		d.st = newDeviceState(dn)
		d.st.Versions = versions
	}
	d.st.Device = dn
	d.mu.Unlock()

	cred := d.d.credentials(d.cfg.ProductKey, dn, d.cfg.DeviceSecret, d.cfg.Now(), d.tls)
	c, err := transport.NewMQTTClient(transport.MQTTConfig{
		Broker: d.cfg.Broker, ClientID: cred.ClientID, Username: cred.Username, Password: cred.Password,
		MaxReconnectInterval: d.cfg.MaxReconnectInterval, OnConnect: d.connected, Logger: d.log,
	})
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	d.mu.Lock()
	d.client = c
	d.mu.Unlock()
	for _, f := range d.d.subscriptions(d.cfg.ProductKey, dn) {
		if err := c.Subscribe(ctx, f, d.received); err != nil {
			return fmt.Errorf("platform: %w", err)
		}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	first := make(chan error, 1)
	var waited atomic.Bool // Start returned before the first connection
	d.wg.Add(3)
	go func() {
		defer d.wg.Done()
		err := c.Connect(d.ctx)
		first <- err
		if err != nil && d.ctx.Err() == nil && waited.Load() {
			d.log.Error("platform link cannot connect", "broker", d.cfg.Broker, "err", err)
		}
	}()
	go d.sender()
	go d.downloader()
	d.kick(d.fetch)

	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case err := <-first:
		if err != nil {
			return fmt.Errorf("platform: %w", err)
		}
	case <-t.C:
		waited.Store(true)
		d.log.Warn("platform broker not reachable yet; still trying in the background", "broker", d.cfg.Broker)
	case <-ctx.Done():
		waited.Store(true)
	}
	return nil
}

// Connected reports whether the link's MQTT connection is up now.
func (d *Device) Connected() bool {
	d.mu.Lock()
	c := d.client
	d.mu.Unlock()
	return c != nil && c.Connected()
}

// Close stops the link: it disconnects, stops a download (the cache file
// keeps what came) and waits for its goroutines. What is still in the
// outbox is sent after the next Start.
func (d *Device) Close() error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	d.wg.Wait()
	return d.client.Close()
}

// connected runs after each (re)connection: report every version and ask
// for pending jobs, since the platform may have missed them.
func (d *Device) connected() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log.Info("platform link connected", "broker", d.cfg.Broker, "device", d.dn, "protocol", d.d.name())
	if len(d.st.Versions) > 0 {
		d.queue(d.d.inform(d.cfg.ProductKey, d.dn, d.nextID, d.st.Versions, sortedKeys(d.st.Versions))...)
	}
	d.pullLocked()
	d.kick(d.wake)
}

// kick wakes a goroutine without blocking.
func (d *Device) kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// nextID returns the next message id. d.mu is held.
func (d *Device) nextID() string {
	d.st.NextID++
	return strconv.FormatUint(uint64(d.st.NextID), 10)
}

// queue appends messages to the outbox and saves it. d.mu is held.
func (d *Device) queue(msgs ...outMsg) {
	d.st.push(msgs...)
	d.save()
	d.kick(d.wake)
}

// save writes the state file; a failure is logged, the next change tries
// again. d.mu is held.
func (d *Device) save() {
	if err := d.st.save(d.path); err != nil {
		d.log.Error("platform link: saving state failed", "path", d.path, "err", err)
	}
}

// pullLocked asks for the pending job of every known component that has
// no job in hand. d.mu is held.
func (d *Device) pullLocked() {
	d.lastPull = d.cfg.Now()
	for _, c := range sortedKeys(d.st.Versions) {
		if slices.ContainsFunc(d.st.Jobs, func(r *jobRecord) bool { return r.Job.Module == c && !r.done() }) {
			continue
		}
		if m, ok := d.d.pull(d.cfg.ProductKey, d.dn, d.nextID(), c); ok {
			d.queue(m)
		}
	}
}

// firstComponent is the MCU component an IoTDA software upgrade is for.
func (d *Device) firstComponent() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ks := sortedKeys(d.st.Versions); len(ks) > 0 {
		return ks[0]
	}
	return ""
}

// sender publishes the outbox in order, each message until the broker
// acknowledged it.
func (d *Device) sender() {
	defer d.wg.Done()
	backoff := 200 * time.Millisecond
	for {
		d.mu.Lock()
		m, seq, ok := d.st.head()
		d.mu.Unlock()
		if !ok || !d.client.Connected() {
			select {
			case <-d.ctx.Done():
				return
			case <-d.wake:
			case <-time.After(time.Second):
			}
			continue
		}
		ctx, cancel := context.WithTimeout(d.ctx, 30*time.Second)
		err := d.client.Publish(ctx, m.Topic, m.Payload)
		cancel()
		if err != nil {
			if d.ctx.Err() != nil {
				return
			}
			d.log.Warn("platform report not sent yet; will retry", "topic", m.Topic, "err", err)
			select {
			case <-d.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		d.log.Debug("platform report sent", "topic", m.Topic, "payload", string(m.Payload))
		d.mu.Lock()
		d.st.pop(seq)
		d.save()
		d.mu.Unlock()
	}
}

// received handles a downlink message. It runs on the MQTT client's
// receiving goroutine and does not block.
func (d *Device) received(topic string, payload []byte) {
	in := d.d.parse(topic, payload, d.cfg.MaxSize)
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case in.query:
		d.log.Info("platform asks for the versions")
		d.queue(d.d.inform(d.cfg.ProductKey, d.dn, d.nextID, d.st.Versions, sortedKeys(d.st.Versions))...)
	case in.none:
		d.log.Debug("platform has no job pending", "topic", topic)
	case in.err != nil:
		var je *JobError
		if !errors.As(in.err, &je) {
			je = &JobError{Step: StepFailed, Reason: in.err.Error()}
		}
		job := in.job
		if job == nil {
			job = &Job{}
		}
		d.log.Error("platform job refused", "job", je.Job, "field", je.Field, "topic", topic, "err", je.Reason)
		d.queue(d.d.progress(d.cfg.ProductKey, d.dn, d.nextID(), job, je.Step, je.Desc(), d.st.Versions[job.Module]))
	default:
		d.takeJob(in.job)
	}
}

// takeJob records a job and queues its download, unless the same job is
// already known. A new job for a component replaces the earlier one that
// has not started on the MCU yet. d.mu is held.
func (d *Device) takeJob(j *Job) {
	key := j.Key()
	if r := d.st.job(key); r != nil && r.Status != statusFailed && r.Status != statusDone {
		d.log.Debug("platform job already known", "job", j.Name(), "status", r.Status)
		return
	}
	if v, ok := d.st.Versions[j.Module]; ok && v == j.Version && j.Module != "" {
		d.log.Info("platform job for the version already running", "job", j.Name())
		d.queue(d.d.inform(d.cfg.ProductKey, d.dn, d.nextID, d.st.Versions, []string{j.Module})...)
		return
	}
	for _, r := range d.st.Jobs {
		if r.Job.Module != j.Module || r.done() {
			continue
		}
		if r.Status == statusActive {
			d.log.Warn("platform job left waiting: the MCU is taking an earlier job for the component", "job", j.Name(), "active", r.Job.Name())
			return
		}
		d.log.Info("platform job replaces an earlier one", "job", j.Name(), "replaced", r.Job.Name())
		d.endJob(r, statusDone)
	}
	r := &jobRecord{Job: *j, Key: key, Received: d.cfg.Now().UTC(), Status: statusDownloading,
		Dir: dirName(key), Versions: cloneMap(d.st.Versions)}
	d.st.Jobs = append(d.st.Jobs, r)
	d.log.Info("platform job received", "job", j.Name(), "files", len(j.Files), "size", r.size())
	d.report(r, 1, "download queued")
	d.kick(d.fetch)
}

// report queues a progress report for job r; a positive step below the
// last one reported is skipped, so the platform sees one monotone scale.
// d.mu is held.
func (d *Device) report(r *jobRecord, step int, desc string) {
	if step > 0 && step <= r.Step {
		return
	}
	if step > r.Step || step < 0 {
		r.Step = step
	}
	d.queue(d.d.progress(d.cfg.ProductKey, d.dn, d.nextID(), &r.Job, step, truncate(desc, 128), d.st.Versions[r.Job.Module]))
}

// endJob ends a job and removes its files. d.mu is held.
func (d *Device) endJob(r *jobRecord, status string) {
	r.Status = status
	if d.dlKey == r.Key && d.dlCancel != nil {
		d.dlCancel()
	}
	if err := os.RemoveAll(filepath.Join(d.cfg.CacheDir, "jobs", r.Dir)); err != nil {
		d.log.Warn("platform job files not removed", "job", r.Job.Name(), "err", err)
	}
	d.st.forget()
	d.save()
}

// pullInterval is how often Load asks the platform for pending jobs.
const pullInterval = 30 * time.Second

// Load returns the plans of the jobs whose packages are downloaded and
// verified. It never blocks; it also asks the platform for the pending
// jobs of components that have none in hand (at most every
// pullInterval), whose answer comes later. It implements
// the module's plan source.
func (d *Device) Load() ([]*plan.Plan, []error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dn == "" {
		return nil, nil
	}
	if d.cfg.Now().Sub(d.lastPull) > pullInterval {
		d.pullLocked()
	}
	var plans []*plan.Plan
	var errs []error
	for _, r := range d.st.Jobs {
		if r.Status != statusReady && r.Status != statusActive && r.Status != statusRefused {
			continue
		}
		p, err := r.Job.ToPlan(d.cfg.ProductKey, d.dn, filepath.Join(d.cfg.CacheDir, "jobs", r.Dir), r.Received, r.Versions)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		plans = append(plans, p)
	}
	return plans, errs
}

// VersionsReported reports the MCU's component versions that changed
// (spec §1.4: one inform per component) and ends the jobs they complete.
func (d *Device) VersionsReported(versions map[string]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var changed []string
	for _, c := range sortedKeys(versions) {
		if old, ok := d.st.Versions[c]; !ok || old != versions[c] {
			changed = append(changed, c)
		}
	}
	d.st.Versions = cloneMap(versions)
	d.save()
	if len(changed) == 0 || d.dn == "" {
		return // before Start: the first connection reports them all
	}
	d.queue(d.d.inform(d.cfg.ProductKey, d.dn, d.nextID, d.st.Versions, changed)...)
}

package platform

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// platformUser is the MQTT user name the platform signs in to its own
// broker with.
const platformUser = "atota-platform"

// broker is the embedded MQTT broker (mochi-mqtt): devices sign in with
// the Alink HMAC, checked against the secrets the platform knows. Its
// listener can be stopped and started again on the same address (stop,
// start) while the server keeps its sessions, as a broker with
// persistent sessions restarts.
type broker struct {
	srv      *mqtt.Server
	password string // the platform's own, random per run

	mu     sync.Mutex
	addr   string // the address it listens on, the port resolved at the start
	down   bool   // the listener is stopped
	closed bool
}

// listenerID is the ID of the broker's TCP listener.
const listenerID = "tcp"

// startBroker starts the embedded broker on addr. secret returns a
// device's secret ("" for a device the platform does not know); with
// open set, unknown devices are let in unchecked.
func startBroker(addr string, secret func(pk, dn string) string, open bool, log *slog.Logger) (*broker, error) {
	pw := make([]byte, 16)
	rand.Read(pw)
	b := &broker{password: hex.EncodeToString(pw)}
	quiet := log.With("component", "broker")
	b.srv = mqtt.New(&mqtt.Options{Logger: slog.New(levelFilter{quiet.Handler(), slog.LevelError})})
	if err := b.srv.AddHook(&authHook{b: b, secret: secret, open: open, log: log}, nil); err != nil {
		return nil, fmt.Errorf("platform: broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: listenerID, Address: addr})
	if err := b.srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("platform: MQTT broker on %s: %w; give another --listen address, or --broker to use a running broker", addr, err)
	}
	b.addr = tcp.Address()
	go b.srv.Serve() // Serve returns at once; Close stops the listeners
	return b, nil
}

func (b *broker) url() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return "mqtt://" + b.addr
}

// stop closes the listener and drops every client; the sessions of
// clients that asked to keep theirs stay, with the QoS 1 messages queued
// for them. It reports whether the broker was up.
func (b *broker) stop() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.down || b.closed {
		return false
	}
	b.srv.Listeners.Close(listenerID, func(id string) {
		for _, cl := range b.srv.Clients.GetByListener(id) {
			b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	})
	b.srv.Listeners.Delete(listenerID)
	b.down = true
	return true
}

// start opens the listener again after stop, on the same address. It
// reports whether the broker was down.
func (b *broker) start() (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down || b.closed {
		return false, nil
	}
	tcp := listeners.NewTCP(listeners.Config{ID: listenerID, Address: b.addr})
	if err := b.srv.AddListener(tcp); err != nil {
		return false, fmt.Errorf("platform: MQTT broker on %s again: %w", b.addr, err)
	}
	b.srv.Listeners.Serve(listenerID, b.srv.EstablishConnection)
	b.down = false
	return true, nil
}

// close stops the broker for good; it may be called more than once.
func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.srv.Close()
	}
}

// authHook checks CONNECT credentials.
type authHook struct {
	mqtt.HookBase
	b      *broker
	secret func(pk, dn string) string
	open   bool
	log    *slog.Logger
}

func (h *authHook) ID() string { return "atota-alink-auth" }

func (h *authHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := string(pk.Connect.Username), string(pk.Connect.Password)
	if user == platformUser {
		return pass == h.b.password
	}
	id, err := ParseAlinkUsername(user)
	if err != nil {
		h.log.Warn("MQTT login refused", "client_id", cl.ID, "err", err)
		return false
	}
	ds := h.secret(id.ProductKey, id.DeviceName)
	if ds == "" {
		if h.open {
			h.log.Debug("MQTT login of a device with no known secret let in (no --secrets given)", "device", id.DeviceName)
			return true
		}
		h.log.Warn("MQTT login refused: unknown device", "product", id.ProductKey, "device", id.DeviceName)
		return false
	}
	if _, err := VerifyAlink(Credentials{ClientID: cl.ID, Username: user, Password: pass}, ds); err != nil {
		h.log.Warn("MQTT login refused", "err", err)
		return false
	}
	return true
}

// OnACLCheck keeps a device to its own topics; the platform may use all.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	user := string(cl.Properties.Username)
	if user == platformUser {
		return true
	}
	id, err := ParseAlinkUsername(user)
	if err != nil {
		return false
	}
	return strings.Contains(topic, "/"+id.ProductKey+"/"+id.DeviceName)
}

// levelFilter drops records below a level: the broker logs every
// connection at info.
type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(as), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}

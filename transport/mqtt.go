package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Publisher sends MQTT messages.
type Publisher interface {
	// Publish sends payload to topic at QoS 1 and returns once the broker
	// acknowledged it (PUBACK), or ctx is done. While the connection is
	// down the message waits for the reconnect.
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Subscriber receives MQTT messages.
type Subscriber interface {
	// Subscribe asks the broker for the messages matching filter, at QoS
	// 1, and calls h with each. h is called from the client's receiving
	// goroutine, one message at a time: it must not block.
	Subscribe(ctx context.Context, filter string, h func(topic string, payload []byte)) error
}

// ErrMQTTRefused: the broker refused the connection for the client's
// identity (bad user name or password, not authorised, identifier
// rejected); retrying with the same credentials will not help.
var ErrMQTTRefused = errors.New("transport: MQTT broker refused the credentials")

// MQTTConfig says where and as whom an [MQTTClient] connects.
type MQTTConfig struct {
	// Broker is mqtt://HOST:PORT (also tcp://) or mqtts://HOST:PORT (also
	// ssl:// and tls://); the port defaults to 1883 and 8883. For mqtts,
	// a query parameter ca=FILE names a PEM file of CA certificates to
	// trust instead of the system's.
	Broker   string
	ClientID string
	Username string
	Password string
	// CleanSession asks the broker to forget the session on disconnect.
	// The default (false) keeps subscriptions and QoS 1 messages queued
	// while the client is away.
	CleanSession bool
	// KeepAlive is the MQTT keep-alive (default 60 s).
	KeepAlive time.Duration
	// MaxReconnectInterval caps the backoff between reconnects (default
	// 30 s); the first retry comes after about a second.
	MaxReconnectInterval time.Duration
	// OnConnect, when set, is called after each (re)connection, once the
	// subscriptions have been made again. It runs on its own goroutine.
	OnConnect func()
	// OnConnectionLost, when set, is called when the connection drops.
	OnConnectionLost func(error)
	Logger           *slog.Logger
}

// MQTTClient is an MQTT 3.1.1 client (Eclipse Paho) that implements
// [Publisher] and [Subscriber]. It reconnects by itself with a backoff and
// subscribes again after every reconnect, whether or not the broker kept
// the session.
type MQTTClient struct {
	cfg MQTTConfig
	log *slog.Logger
	c   paho.Client

	mu   sync.Mutex
	subs map[string]paho.MessageHandler // filter → handler, made again on reconnect

	ready     chan struct{} // closed once the first connection subscribed
	readyOnce sync.Once
}

// NewMQTTClient returns a client for cfg; Connect connects it.
func NewMQTTClient(cfg MQTTConfig) (*MQTTClient, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 60 * time.Second
	}
	if cfg.MaxReconnectInterval <= 0 {
		cfg.MaxReconnectInterval = 30 * time.Second
	}
	broker, tlsCfg, err := brokerURL(cfg.Broker)
	if err != nil {
		return nil, err
	}
	m := &MQTTClient{cfg: cfg, log: cfg.Logger, subs: map[string]paho.MessageHandler{}, ready: make(chan struct{})}
	o := paho.NewClientOptions().
		AddBroker(broker).
		SetClientID(cfg.ClientID).
		SetUsername(cfg.Username).
		SetPassword(cfg.Password).
		SetCleanSession(cfg.CleanSession).
		SetKeepAlive(cfg.KeepAlive).
		SetProtocolVersion(4).
		SetAutoReconnect(true).
		SetConnectRetry(false).
		SetMaxReconnectInterval(cfg.MaxReconnectInterval).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		SetOrderMatters(true).
		SetResumeSubs(false).
		SetOnConnectHandler(m.onConnect).
		SetDefaultPublishHandler(m.unrouted).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			m.log.Warn("MQTT connection lost; reconnecting", "broker", cfg.Broker, "err", err)
			if cfg.OnConnectionLost != nil {
				cfg.OnConnectionLost(err)
			}
		})
	if tlsCfg != nil {
		o.SetTLSConfig(tlsCfg)
	}
	m.c = paho.NewClient(o)
	return m, nil
}

// brokerURL turns a broker URL into Paho's form and its TLS settings.
func brokerURL(s string) (string, *tls.Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", nil, fmt.Errorf("transport: MQTT broker %q: %w", s, err)
	}
	if u.Hostname() == "" {
		return "", nil, fmt.Errorf("transport: MQTT broker %q: no host; want mqtt://HOST:PORT or mqtts://HOST:PORT", s)
	}
	var secure bool
	switch u.Scheme {
	case "mqtt", "tcp":
	case "mqtts", "ssl", "tls":
		secure = true
	default:
		return "", nil, fmt.Errorf("transport: MQTT broker %q: scheme %q: want mqtt:// or mqtts://", s, u.Scheme)
	}
	port := u.Port()
	if port == "" {
		port = "1883"
		if secure {
			port = "8883"
		}
	}
	host := u.Hostname()
	addr := "tcp://" + joinHostPort(host, port)
	if !secure {
		return addr, nil, nil
	}
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if ca := u.Query().Get("ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return "", nil, fmt.Errorf("transport: MQTT broker %q: CA file: %w", s, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return "", nil, fmt.Errorf("transport: MQTT broker %q: CA file %s holds no PEM certificate", s, ca)
		}
		cfg.RootCAs = pool
	}
	return "ssl://" + joinHostPort(host, port), cfg, nil
}

func joinHostPort(host, port string) string {
	for i := range len(host) {
		if host[i] == ':' {
			return "[" + host + "]:" + port
		}
	}
	return host + ":" + port
}

// Connect connects, retrying with a backoff (1 s doubling to
// MaxReconnectInterval) while the broker cannot be reached, until ctx is
// done. It returns once the subscriptions made before it are in place. A broker that refuses the credentials ends it with an error
// matching [ErrMQTTRefused]. After the first connection the client
// reconnects by itself.
func (m *MQTTClient) Connect(ctx context.Context) error {
	wait := time.Second
	for {
		t := m.c.Connect()
		select {
		case <-t.Done():
		case <-ctx.Done():
			m.c.Disconnect(0)
			return fmt.Errorf("transport: MQTT connect to %s: %w", m.cfg.Broker, ctx.Err())
		}
		err := t.Error()
		if err == nil {
			// Return once the subscriptions recorded so far are made.
			select {
			case <-m.ready:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("transport: MQTT subscribe at %s: %w", m.cfg.Broker, ctx.Err())
			}
		}
		if errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword) || errors.Is(err, packets.ErrorRefusedNotAuthorised) ||
			errors.Is(err, packets.ErrorRefusedIDRejected) {
			return fmt.Errorf("%w: %s as %q: %v; check the product key, device key and secret", ErrMQTTRefused, m.cfg.Broker, m.cfg.Username, err)
		}
		var cve *tls.CertificateVerificationError
		if errors.As(err, &cve) {
			return fmt.Errorf("transport: MQTT broker %s: its certificate is not trusted: %w; give its CA with ?ca=FILE", m.cfg.Broker, err)
		}
		m.log.Warn("MQTT broker not reachable; retrying", "broker", m.cfg.Broker, "in", wait, "err", err)
		timer := time.NewTimer(jitter(wait))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("transport: MQTT connect to %s: %w (last error: %v)", m.cfg.Broker, ctx.Err(), err)
		}
		wait = min(wait*2, m.cfg.MaxReconnectInterval)
	}
}

// onConnect subscribes again after a (re)connection.
func (m *MQTTClient) onConnect(c paho.Client) {
	m.mu.Lock()
	subs := make(map[string]paho.MessageHandler, len(m.subs))
	for f, h := range m.subs {
		subs[f] = h
	}
	m.mu.Unlock()
	if len(subs) > 0 {
		filters := make(map[string]byte, len(subs))
		for f, h := range subs {
			filters[f] = 1
			c.AddRoute(f, h)
		}
		t := c.SubscribeMultiple(filters, nil)
		if t.WaitTimeout(10*time.Second) && t.Error() != nil {
			m.log.Warn("MQTT subscribe after connecting failed", "err", t.Error())
		}
	}
	m.readyOnce.Do(func() { close(m.ready) })
	m.log.Info("MQTT connected", "broker", m.cfg.Broker, "client_id", m.cfg.ClientID)
	if m.cfg.OnConnect != nil {
		m.cfg.OnConnect()
	}
}

// Publish implements [Publisher].
func (m *MQTTClient) Publish(ctx context.Context, topic string, payload []byte) error {
	t := m.c.Publish(topic, 1, false, payload)
	select {
	case <-t.Done():
	case <-ctx.Done():
		return fmt.Errorf("transport: MQTT publish %s: %w", topic, ctx.Err())
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("transport: MQTT publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe implements [Subscriber]. The subscription is made again after
// every reconnect. Called before Connect, it only records the filter, which
// Connect subscribes to; messages a persistent session kept for the client
// reach h even if they arrive before the subscription is made again.
func (m *MQTTClient) Subscribe(ctx context.Context, filter string, h func(topic string, payload []byte)) error {
	mh := func(_ paho.Client, msg paho.Message) { h(msg.Topic(), msg.Payload()) }
	m.mu.Lock()
	m.subs[filter] = mh
	m.mu.Unlock()
	if !m.c.IsConnectionOpen() {
		return nil
	}
	t := m.c.Subscribe(filter, 1, mh)
	select {
	case <-t.Done():
	case <-ctx.Done():
		return fmt.Errorf("transport: MQTT subscribe %s: %w", filter, ctx.Err())
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("transport: MQTT subscribe %s: %w", filter, err)
	}
	return nil
}

// unrouted delivers a message that arrived before its subscription was
// made again (a persistent session's queue) to the handler of a matching
// filter.
func (m *MQTTClient) unrouted(c paho.Client, msg paho.Message) {
	m.mu.Lock()
	var h paho.MessageHandler
	for f, fh := range m.subs {
		if MatchTopic(f, msg.Topic()) {
			h = fh
			break
		}
	}
	m.mu.Unlock()
	if h == nil {
		m.log.Warn("MQTT message for no subscription dropped", "topic", msg.Topic())
		return
	}
	h(c, msg)
}

// MatchTopic reports whether an MQTT topic filter (with + and #
// wildcards) matches a topic name. Filters starting with a wildcard do not
// match topics starting with $ (MQTT 3.1.1 §4.7.2).
func MatchTopic(filter, topic string) bool {
	if topic != "" && topic[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := cut(filter, '/')
		tl, trest, tmore := cut(topic, '/')
		switch {
		case fl == "#" && !fmore:
			return true
		case fl != "+" && fl != tl:
			return false
		case !fmore || !tmore:
			// "a/#" also matches "a".
			return fmore == tmore || fmore && !tmore && frest == "#"
		}
		filter, topic = frest, trest
	}
}

// Connected reports whether the connection is up now.
func (m *MQTTClient) Connected() bool { return m.c.IsConnectionOpen() }

// Close disconnects, giving in-flight work a moment to finish, and stops
// the client's goroutines.
func (m *MQTTClient) Close() error {
	m.c.Disconnect(250)
	return nil
}

package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/internal/mosquittotest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "atota test broker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o644)
	return certFile, keyFile
}

// TestMQTTTLS connects over mqtts:// to mosquitto with a certificate
// trusted through ?ca=, and fails without it.
func TestMQTTTLS(t *testing.T) {
	cert, key := selfSigned(t)
	b := mosquittotest.Start(t, "certfile "+cert+"\nkeyfile "+key+"\n")
	url := "mqtts://" + b.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := newTestClient(t, url+"?ca="+cert, "tls-ok")
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("Connect with the CA: %v", err)
	}
	got := make(chan string, 1)
	if err := c.Subscribe(ctx, "tls/t", func(_ string, p []byte) { got <- string(p) }); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, "tls/t", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, got); m != "hello" {
		t.Errorf("got %q, want hello", m)
	}

	bad := newTestClient(t, url, "tls-untrusted")
	if err := bad.Connect(ctx); err == nil || !strings.Contains(err.Error(), "not trusted") {
		t.Errorf("Connect without the CA = %v, want an error saying the certificate is not trusted", err)
	}
}

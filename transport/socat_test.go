//go:build linux

package transport

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSocatPair moves bytes between Dial(A) and Dial(B) through a real
// socat pty pair.
func TestSocatPair(t *testing.T) {
	socat := needTool(t, "socat")
	dir := t.TempDir()
	linkA, linkB := filepath.Join(dir, "A"), filepath.Join(dir, "B")
	cmd := exec.Command(socat, "-d", "-d",
		"pty,raw,echo=0,link="+linkA, "pty,raw,echo=0,link="+linkB)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start socat: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(wait)
	for !exists(linkA) || !exists(linkB) {
		if time.Now().After(deadline) {
			t.Fatalf("socat did not create %s and %s; its log:\n%s", linkA, linkB, stderr.String())
		}
		<-time.After(10 * time.Millisecond)
	}

	a := dialT(t, linkA)
	b := dialT(t, linkB, WithParity(true)) // a pty keeps 8N1; the open must still work
	send(t, a, "AT+QIOTMCUVER=\"MCU\",\"1.0.0\"\r")
	expect(t, b, "AT+QIOTMCUVER=\"MCU\",\"1.0.0\"\r")
	block := make([]byte, 4096)
	for i := range block {
		block[i] = byte(i)
	}
	send(t, b, string(block))
	if got := readN(t, a, len(block)); !bytes.Equal(got, block) {
		t.Error("binary block changed on its way through socat")
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

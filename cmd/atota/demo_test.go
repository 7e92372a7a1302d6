package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atota/atota/agent/module"
	"github.com/atota/atota/atcmd/atcmdtest"
	"github.com/atota/atota/flashsim"
)

func otardPayload(line string) (int, bool) {
	rest, ok := strings.CutPrefix(line, "+QIOTOTARD: ")
	if !ok {
		return 0, false
	}
	_, n, ok := strings.Cut(rest, ",")
	if !ok {
		return 0, false
	}
	var k int
	for _, c := range n {
		if c < '0' || c > '9' {
			return 0, false
		}
		k = k*10 + int(c-'0')
	}
	return k, true
}

// TestDemoTranscript runs the demo over a real pty with a small package
// and compares the MCU's view of the AT exchange with a golden file.
// Regenerate with: go test ./cmd/atota -run TestDemoTranscript -update
func TestDemoTranscript(t *testing.T) {
	var rec *atcmdtest.Recorder
	cfg := demoConfig{
		dir: t.TempDir(), size: 5000, pieceSize: 2048, block: 1024, part: "stm32f103c8", sha256: true,
		eventDelay: time.Millisecond, regDelay: time.Millisecond,
		wrapPort: func(rw io.ReadWriteCloser) io.ReadWriteCloser {
			rec = atcmdtest.NewRecorder(rw)
			return rec
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := runDemo(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := res.updated; u.From != "1_0_0" || u.To != "2_0_0" || u.Digests.Size != 5000 || u.Pieces != 3 || u.Blocks != 5 {
		t.Errorf("updated = %+v, want 1_0_0 -> 2_0_0, 5000 bytes, 3 pieces, 5 blocks", u)
	}
	atcmdtest.Golden(t, filepath.Join("testdata", "demo.golden"), rec.Transcript(otardPayload))

	// The image now runs from the other slot of the flash file.
	f, err := flashsim.Load(filepath.Join(cfg.dir, "flash.bin"))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := flashsim.DefaultLayout(f.Part())
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	if d.Active().Name != 'B' {
		t.Errorf("active slot %s, want B", d.Active())
	}
	got := make([]byte, 5000)
	f.ReadAt(got, d.Active().Off)
	if !bytes.Equal(got, demoFirmware(5000, "2_0_0")) {
		t.Error("the active slot does not hold the new firmware")
	}
}

func TestDemoCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"demo", "--size", "20000", "--event-delay", "1ms", "--reg-delay", "1ms"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"STM32: 100%", "verified: MD5", "SHA-256", "summary:  STM32 1_0_0 -> 2_0_0, 20000 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr not empty: %s", stderr.String())
	}
	if matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "atota-demo-*")); len(matches) > 0 {
		t.Logf("note: demo directories in the temp dir: %v", matches)
	}
}

// BenchmarkOTA moves a 1 MiB package in 1024-byte blocks over a real pty
// pair, module to MCU, and reports the transfer rate and time per block.
// The image goes to a file target: no simulated part has a 1 MiB slot.
// Module events come after the default 20 ms delay, four per 64 KiB piece.
func BenchmarkOTA(b *testing.B) {
	const size = 1 << 20
	var transfer time.Duration
	var blocks int
	for range b.N {
		dir := b.TempDir()
		res, err := runDemo(context.Background(), demoConfig{
			dir: dir, size: size, pieceSize: 65536, block: 1024, sha256: true,
			target:     "file:" + filepath.Join(dir, "image.bin"),
			eventDelay: module.DefaultEventDelay, regDelay: module.DefaultRegDelay,
		})
		if err != nil {
			b.Fatal(err)
		}
		transfer += res.updated.Duration
		blocks += res.updated.Blocks
	}
	b.ReportMetric(float64(size)*float64(b.N)/transfer.Seconds(), "bytes/s")
	b.ReportMetric(float64(transfer.Milliseconds())/float64(blocks), "ms/block")
}

// TestDemoDelta runs the demo with a delta package: the device starts on
// 1_0_0, only the delta's blocks cross the pty, and the slot that runs
// afterwards holds the rebuilt 2_0_0.
func TestDemoDelta(t *testing.T) {
	var stdout, stderr bytes.Buffer
	dir := t.TempDir()
	cfg := demoConfig{dir: dir, size: 40000, pieceSize: 8192, block: 1024, part: "stm32f103cb", delta: true,
		eventDelay: time.Millisecond, regDelay: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := runDemo(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	u := res.updated
	want := demoRebuild(40000)
	if u.Package != "delta" || u.Digests.Size != int64(len(want)) || u.PackageSize*10 > u.Digests.Size || u.Blocks != int((u.PackageSize+1023)/1024) {
		t.Errorf("updated = %+v, want a delta under a tenth of the %d-byte image, read in whole blocks", u, len(want))
	}
	f, err := flashsim.Load(filepath.Join(dir, "flash.bin"))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := flashsim.DefaultLayout(f.Part())
	d, err := flashsim.NewDevice(f, l)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	f.ReadAt(got, d.Active().Off)
	if !bytes.Equal(got, want) {
		t.Error("the active slot does not hold the rebuilt firmware")
	}
	code := run(context.Background(), []string{"demo", "--delta", "--size", "20000", "--event-delay", "1ms", "--reg-delay", "1ms"}, &stdout, &stderr)
	if code != exitOK || !strings.Contains(stdout.String(), "delta package in 1 pieces and 1 blocks built the 20700-byte image") {
		t.Fatalf("atota demo --delta: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

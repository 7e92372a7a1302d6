package mcu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/atota/atota/agent/plan"
	"github.com/atota/atota/atcmd"
	"github.com/atota/atota/transport"
)

func TestCRCVariant(t *testing.T) {
	img := image(80, 7000)
	d := digest(t, img)
	ieee := plan.Checksum(plan.IEEE, img)
	tests := []struct {
		name    string
		sent    uint32
		variant plan.CRCVariant
		wantErr string
	}{
		{name: "MPEG-2 by default", sent: d.CRC, variant: plan.DefaultCRC},
		{name: "IEEE when set", sent: ieee, variant: plan.IEEE},
		{name: "IEEE sent, MPEG-2 set", sent: ieee, variant: plan.MPEG2, wantErr: "set the CRC variant to CRC-32/IEEE"},
		{name: "MPEG-2 sent, IEEE set", sent: d.CRC, variant: plan.IEEE, wantErr: "set the CRC variant to CRC-32/MPEG-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img,
					Start: &Start{Component: "STM32", Size: d.Size, MD5: d.MD5, CRC: tt.sent}})
				tg, _ := flashAt(t, "stm32f103c8")
				cfg := testConfig(tg)
				cfg.CRC = tt.variant
				res, err := Run(t.Context(), m.client(t), cfg)
				if tt.wantErr == "" {
					if err != nil || res.Updated[0].Digests.CRC != tt.sent {
						t.Fatalf("Run = %+v, %v; want an update with CRC %d", res, err, tt.sent)
					}
					return
				}
				if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Run = %v, want ErrVerify naming %q", err, tt.wantErr)
				}
			})
		})
	}
}

// corruptTarget is a memTarget whose image reads back with a bit flipped
// at one offset: a target that does not hold what it was given.
type corruptTarget struct {
	memTarget
	at int64
}

type corruptImage struct {
	*memImage
	at int64
}

func (t *corruptTarget) Open(ctx context.Context, spec ImageSpec) (Image, error) {
	im, _ := t.memTarget.Open(ctx, spec)
	return &corruptImage{memImage: im.(*memImage), at: t.at}, nil
}

func (im *corruptImage) ReadAt(p []byte, off int64) (int, error) {
	n, err := im.memImage.ReadAt(p, off)
	if im.at >= off && im.at < off+int64(n) {
		p[im.at-off] ^= 0x08
	}
	return n, err
}

func TestVerifyNamesTheBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		img := image(81, 200000)
		m := newFake(fakeComp{ID: "STM32", Target: "2_0_0", Data: img})
		m.pieceSize = 65536
		tg := &corruptTarget{at: 70000}
		_, err := Run(t.Context(), m.client(t), testConfig(tg))
		if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), "[65536, 131072) differ from what was received") {
			t.Fatalf("Run = %v, want ErrVerify naming bytes [65536, 131072)", err)
		}
		if m.sent("AT+QIOTUPDATE=3") || tg.commits != 0 || tg.aborts != 1 {
			t.Errorf("the bad image was reported or committed (%d commits, %d aborts)", tg.commits, tg.aborts)
		}
	})
}

func TestDiffers(t *testing.T) {
	img := image(82, 300000)
	back, err := digestImage(&memImage{buf: img}, int64(len(img)), plan.MPEG2)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		from int64
		bad  []int // chunks of the read-back that differ
		want string
	}{
		{name: "one", bad: []int{1}, want: "[65536, 131072) differ"},
		{name: "two apart", bad: []int{0, 3}, want: "[0, 65536), [196608, 262144) differ"},
		{name: "run to the end", bad: []int{3, 4}, want: "[196608, 300000) differ"},
		{name: "same", want: "none: the target holds exactly the bytes received in [0, 300000)"},
		{name: "resumed", from: 70000, bad: []int{1, 2}, want: "[131072, 196608) differ from what was received (of [131072, 300000))"},
		{name: "resumed in the last chunk", from: 299000, want: "not known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums := newChunkSums(tt.from, int64(len(img)))
			for off := tt.from; off < int64(len(img)); off += 999 { // odd blocks
				sums.add(img[off:min(off+999, int64(len(img)))])
			}
			chunks := append([]uint32(nil), back.chunks...)
			for _, i := range tt.bad {
				chunks[i]++
			}
			if got := differs(chunks, sums); !strings.Contains(got, tt.want) {
				t.Errorf("differs = %q, want %q", got, tt.want)
			}
		})
	}
}

// rawModule answers AT+QIOTOTARD on a raw link with a scripted timing:
// the header after headerDelay, the payload payloadDelay after it.
func rawModule(t *testing.T, rw *bufio.ReadWriter, headerDelay, payloadDelay time.Duration, cmds *int) {
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		*cmds++
		var start, n int
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "AT+QIOTOTARD=%d,%d", &start, &n); err != nil {
			return
		}
		time.Sleep(headerDelay)
		fmt.Fprintf(rw, "\r\n+QIOTOTARD: %d,%d\r\n", start, n)
		rw.Flush()
		time.Sleep(payloadDelay)
		rw.Write(make([]byte, n))
		rw.WriteString("\r\n\r\nOK\r\n")
		rw.Flush()
	}
}

func TestReadTimeouts(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name                string
		header, payload     time.Duration
		wantOK              bool
		wantCommandsAtLeast int
	}{
		{name: "in time", header: time.Second, payload: time.Second, wantOK: true, wantCommandsAtLeast: 1},
		{name: "slow payload within its 10 s", header: 2 * time.Second, payload: 9 * time.Second, wantOK: true, wantCommandsAtLeast: 1},
		// A header that comes late is taken for the next try's (AT has no
		// sequence numbers; the bytes are the same); one that never comes
		// fails every try.
		{name: "header late", header: def.ReadTimeout + time.Second, payload: 0, wantOK: true, wantCommandsAtLeast: 2},
		{name: "no header", header: time.Hour, payload: 0, wantCommandsAtLeast: 1},
		{name: "payload late", header: time.Second, payload: def.PayloadTimeout + time.Second, wantCommandsAtLeast: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := transport.Pipe()
				cmds := 0
				done := make(chan struct{})
				go func() {
					defer close(done)
					rawModule(t, bufio.NewReadWriter(bufio.NewReader(b), bufio.NewWriter(b)), tt.header, tt.payload, &cmds)
				}()
				c := atcmd.NewClient(a)
				cfg, _ := testConfig(&memTarget{}).check()
				s := &session{cfg: cfg, c: c, log: cfg.Logger}
				d := &download{s: s, start: Start{Component: "STM32", Size: 100}}
				data, err := d.readBlock(t.Context(), 0, 100)
				if tt.wantOK != (err == nil) || tt.wantOK && len(data) != 100 {
					t.Fatalf("readBlock = %d bytes, %v; want success %v", len(data), err, tt.wantOK)
				}
				if !tt.wantOK && !errors.Is(err, ErrLink) {
					t.Errorf("readBlock = %v, want ErrLink", err)
				}
				c.Close()
				b.Close()
				<-done
				if cmds < tt.wantCommandsAtLeast {
					t.Errorf("%d AT+QIOTOTARD sent, want %d", cmds, tt.wantCommandsAtLeast)
				}
			})
		})
	}
}

package flashsim

import (
	"slices"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in       string
		wantPath string
		wantPart string
		wantErr  string // substring of the error; "" for none
	}{
		{in: "dev.flash", wantPath: "dev.flash"},
		{in: "/tmp/a b/dev.flash", wantPath: "/tmp/a b/dev.flash"},
		{in: "dev.flash?part=stm32f407vg", wantPath: "dev.flash", wantPart: "stm32f407vg"},
		{in: "dev.flash?part=NRF52840", wantPath: "dev.flash", wantPart: "nrf52840"},
		{in: "dev.flash?", wantPath: "dev.flash"},
		{in: "odd?name.flash?part=stm32f103cb", wantPath: "odd?name.flash", wantPart: "stm32f103cb"},
		{in: "", wantErr: "missing file name"},
		{in: "?part=nrf52840", wantErr: "missing file name"},
		{in: "dev.flash?part=z80", wantErr: "unknown part"},
		{in: "dev.flash?part=", wantErr: "unknown part"},
		{in: "dev.flash?size=64k", wantErr: `unknown parameter "size"`},
		{in: "dev.flash?part=nrf52840&part=nrf52840", wantErr: "given 2 times"},
		{in: "dev.flash?part=%zz", wantErr: "bad parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			path, part, err := ParseTarget(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTarget(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || path != tt.wantPath || part != tt.wantPart {
				t.Errorf("ParseTarget(%q) = %q, %q, %v; want %q, %q", tt.in, path, part, err, tt.wantPath, tt.wantPart)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"dev.flash", "a?part=stm32f103c8", "a?b?part=nrf52840", "?", "a?part=x&y=z", "a?%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		path, part, err := ParseTarget(s)
		if err != nil {
			return
		}
		if path == "" {
			t.Fatalf("ParseTarget(%q) gave an empty path and no error", s)
		}
		if part != "" && !slices.Contains(PartNames(), part) {
			t.Fatalf("ParseTarget(%q) gave unknown part %q", s, part)
		}
		if !strings.Contains(s, "?") && path != s {
			t.Fatalf("ParseTarget(%q) path = %q, want the input", s, path)
		}
		p2, part2, err := ParseTarget(FormatTarget(path, part))
		if err != nil || p2 != path || part2 != part {
			t.Fatalf("round trip of %q via %q = %q, %q, %v", s, FormatTarget(path, part), p2, part2, err)
		}
	})
}

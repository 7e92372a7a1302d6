package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atota/atota/agent/plan"
)

// packFixture writes two builds of a firmware image and a key pair.
type packFixture struct {
	dir, old, new, key string
	oldImg, newImg     []byte
}

func newPackFixture(t *testing.T) *packFixture {
	t.Helper()
	dir := t.TempDir()
	oldImg := demoFirmware(150_000, "1_0_0")
	newImg := bytes.Clone(oldImg)
	copy(newImg[75_000:], "atota demo firmware 1_0_1\x00")
	copy(newImg[1000:], bytes.Repeat([]byte{0x70, 0x47}, 40)) // a changed function
	f := &packFixture{dir: dir, old: filepath.Join(dir, "old.bin"), new: filepath.Join(dir, "new.bin"), key: filepath.Join(dir, "release"), oldImg: oldImg, newImg: newImg}
	for p, b := range map[string][]byte{f.old: oldImg, f.new: newImg} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, stderr := runAtota(t, "pack", "keygen", "-o", f.key); code != exitOK {
		t.Fatalf("pack keygen: exit %d: %s", code, stderr)
	}
	return f
}

func (f *packFixture) path(name string) string { return filepath.Join(f.dir, name) }

func runAtota(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPackCommands(t *testing.T) {
	f := newPackFixture(t)
	otherKey := f.path("other")
	if code, _, stderr := runAtota(t, "pack", "keygen", "-o", otherKey); code != exitOK {
		t.Fatalf("pack keygen: exit %d: %s", code, stderr)
	}
	// Packages built first; later steps use them.
	steps := []struct {
		name    string
		args    []string
		code    int
		stdout  []string // parts of stdout
		errText string   // part of stderr
	}{
		{name: "full", args: []string{"pack", "full", f.new, "-o", f.path("full.pkg")}, code: exitOK, stdout: []string{"full package", "md5", "sha256", "crc", "memory"}},
		{name: "full uncompressed", args: []string{"pack", "full", f.new, "-o", f.path("raw.pkg"), "--compress", "none", "--chunk-size", "16K"}, code: exitOK, stdout: []string{"chunks  10 of 16384 bytes, none"}},
		{name: "delta", args: []string{"pack", "delta", f.old, f.new, "-o", f.path("delta.pkg")}, code: exitOK, stdout: []string{"delta package", "source  150000 bytes", "% of the image", "to apply on the MCU", "signed  no"}},
		{name: "delta signed", args: []string{"pack", "delta", f.old, f.new, "-o", f.path("signed.pkg"), "--sign", f.key}, code: exitOK, stdout: []string{"signed  key "}},
		{name: "verify full", args: []string{"pack", "verify", f.path("full.pkg")}, code: exitOK, stdout: []string{"every chunk, target sha256"}},
		{name: "verify delta without source", args: []string{"pack", "verify", f.path("delta.pkg")}, code: exitOK, stdout: []string{"give --old"}},
		{name: "verify signed", args: []string{"pack", "verify", f.path("signed.pkg"), "--key", f.key + ".pub", "--old", f.old}, code: exitOK, stdout: []string{"header, signature, source image, every chunk"}},
		{name: "verify wrong key", args: []string{"pack", "verify", f.path("signed.pkg"), "--key", otherKey + ".pub"}, code: exitFailure, errText: "bad package signature"},
		{name: "verify unsigned with a key", args: []string{"pack", "verify", f.path("delta.pkg"), "--key", f.key + ".pub"}, code: exitFailure, errText: "not signed"},
		{name: "verify delta on the wrong source", args: []string{"pack", "verify", f.path("delta.pkg"), "--old", f.new}, code: exitFailure, errText: "delta is for the source image with sha256"},
		{name: "verify a raw image", args: []string{"pack", "verify", f.new}, code: exitFailure, errText: "not an atota package"},
		{name: "apply delta", args: []string{"pack", "apply", f.path("delta.pkg"), "--old", f.old, "-o", f.path("rebuilt.bin")}, code: exitOK, stdout: []string{"150000 bytes"}},
		{name: "apply delta without source", args: []string{"pack", "apply", f.path("delta.pkg"), "-o", f.path("x.bin")}, code: exitFailure, errText: "needs --old"},
		{name: "apply delta to the wrong source", args: []string{"pack", "apply", f.path("delta.pkg"), "--old", f.new, "-o", f.path("y.bin")}, code: exitFailure, errText: "but the current image"},
		{name: "sign with a public key", args: []string{"pack", "full", f.new, "-o", f.path("z.pkg"), "--sign", f.key + ".pub"}, code: exitFailure, errText: "--sign"},
		{name: "missing image", args: []string{"pack", "full", f.path("nope.bin"), "-o", f.path("z.pkg")}, code: exitFailure, errText: "nope.bin"},
		{name: "keygen over a key", args: []string{"pack", "keygen", "-o", f.key}, code: exitFailure, errText: "exists"},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runAtota(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout does not contain %q:\n%s", want, stdout)
				}
			}
			if !strings.Contains(stderr, tt.errText) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.errText)
			}
		})
	}
	if got, err := os.ReadFile(f.path("rebuilt.bin")); err != nil || !bytes.Equal(got, f.newImg) {
		t.Errorf("pack apply rebuilt another image (%v)", err)
	}
	for _, p := range []string{"x.bin", "y.bin", "z.pkg"} {
		if _, err := os.Stat(f.path(p)); err == nil {
			t.Errorf("%s was written by a failed command", p)
		}
	}
}

func TestPackJSON(t *testing.T) {
	f := newPackFixture(t)
	pkg := f.path("d.pkg")
	code, stdout, stderr := runAtota(t, "pack", "delta", f.old, f.new, "-o", pkg, "--sign", f.key, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got struct {
		Kind         string  `json:"kind"`
		MD5          string  `json:"md5"`
		SHA256       string  `json:"sha256"`
		SourceSHA256 string  `json:"source_sha256"`
		TargetSHA256 string  `json:"target_sha256"`
		KeyID        string  `json:"key_id"`
		Size         int64   `json:"size"`
		SourceSize   int64   `json:"source_size"`
		TargetSize   int64   `json:"target_size"`
		ApplyMemory  int64   `json:"apply_memory"`
		CRC          uint32  `json:"crc"`
		Ratio        float64 `json:"ratio"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	d, err := plan.DigestFile(pkg)
	if err != nil {
		t.Fatal(err)
	}
	oldSum, newSum := sha256.Sum256(f.oldImg), sha256.Sum256(f.newImg)
	checks := []struct {
		field     string
		got, want any
	}{
		{"kind", got.Kind, "delta"},
		{"size", got.Size, d.Size},
		{"md5", got.MD5, d.MD5},
		{"sha256", got.SHA256, d.SHA256},
		{"crc", got.CRC, d.CRC},
		{"source_sha256", got.SourceSHA256, hex.EncodeToString(oldSum[:])},
		{"target_sha256", got.TargetSHA256, hex.EncodeToString(newSum[:])},
		{"source_size", got.SourceSize, int64(len(f.oldImg))},
		{"target_size", got.TargetSize, int64(len(f.newImg))},
		{"ratio", got.Ratio, float64(d.Size) / float64(len(f.newImg))},
		{"key_id set", got.KeyID != "", true},
		{"apply_memory under image + 256 KiB", got.ApplyMemory <= int64(len(f.newImg))+256<<10, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.field, c.got, c.want)
		}
	}
	if got.Ratio > 0.1 {
		t.Errorf("delta is %.1f %% of the image, want under 10 %%", 100*got.Ratio)
	}
	code, stdout, stderr = runAtota(t, "pack", "keygen", "-o", f.path("k2"), "--json")
	if code != exitOK || !json.Valid([]byte(stdout)) || !strings.Contains(stdout, `"key_id"`) {
		t.Errorf("keygen --json: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if st, err := os.Stat(f.path("k2")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("private key file: %v, mode %v; want 0600", err, st.Mode())
	}
}

func TestPackUsageErrors(t *testing.T) {
	f := newPackFixture(t)
	tests := []struct {
		name    string
		args    []string
		errText string
	}{
		{name: "no subcommand", args: []string{"pack"}, errText: "name a subcommand"},
		{name: "unknown subcommand", args: []string{"pack", "diff"}, errText: `"diff" is not a subcommand`},
		{name: "full without output", args: []string{"pack", "full", f.new}, errText: "-o PKG is required"},
		{name: "full two images", args: []string{"pack", "full", f.old, f.new, "-o", "x"}, errText: "want one image file"},
		{name: "delta one image", args: []string{"pack", "delta", f.new, "-o", "x"}, errText: "OLD and the NEW"},
		{name: "bad chunk size", args: []string{"pack", "full", f.new, "-o", "x", "--chunk-size", "12"}, errText: "--chunk-size"},
		{name: "chunk size not a number", args: []string{"pack", "delta", f.old, f.new, "-o", "x", "--chunk-size", "big"}, errText: "--chunk-size"},
		{name: "bad dict size", args: []string{"pack", "delta", f.old, f.new, "-o", "x", "--dict-size", "-1"}, errText: "--dict-size"},
		{name: "bad compression", args: []string{"pack", "full", f.new, "-o", "x", "--compress", "lz4"}, errText: "--compress"},
		{name: "unknown flag", args: []string{"pack", "delta", "--frob"}, errText: "unknown flag"},
		{name: "keygen without output", args: []string{"pack", "keygen"}, errText: "-o NAME"},
		{name: "keygen with an argument", args: []string{"pack", "keygen", "x", "-o", "y"}, errText: "unknown command"},
		{name: "verify nothing", args: []string{"pack", "verify"}, errText: "one package file"},
		{name: "apply without output", args: []string{"pack", "apply", "x.pkg"}, errText: "-o IMAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runAtota(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.errText) || !strings.Contains(stderr, "--help") {
				t.Errorf("stderr %q does not mention %q and --help", stderr, tt.errText)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
				t.Errorf("error is not one line: %q", stderr)
			}
		})
	}
}

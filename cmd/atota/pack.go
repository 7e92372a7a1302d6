package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/atota/atota/agent/pack"
	"github.com/atota/atota/agent/plan"
)

// packFlags are the flags of the pack subcommands.
type packFlags struct {
	output    string
	json      bool
	sign      string
	key       string
	old       string
	compress  string
	chunkSize string
	dictSize  string
	force     bool
}

func (a *app) packCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pack",
		Short: "Build an update package (full, or delta from an old image) and print its digests",
		Long: `atota pack builds the package files that upgrade plans name: a full package of
an image, or a delta that rebuilds the new image from the old one the device
runs (zstd with the old image as dictionary), each behind a header with the
images' sizes and SHA-256, optionally signed with ed25519. It prints the size,
MD5, SHA-256 and CRC the module announces for the file (7,10701), and for a
delta its size against the image and the memory the MCU needs to apply it.`,
		Example: `  atota pack full build/fw-2.0.0.bin -o plans/firmware/fw-2.0.0.pkg
  atota pack delta build/fw-1.0.0.bin build/fw-2.0.0.bin -o plans/firmware/fw-1-to-2.pkg
  atota pack keygen -o release-key
  atota pack delta old.bin new.bin -o delta.pkg --sign release-key --json
  atota pack verify delta.pkg --key release-key.pub --old old.bin`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("pack: name a subcommand: full, delta, keygen, verify or apply")
			}
			return usagef("pack: %q is not a subcommand: want full, delta, keygen, verify or apply", args[0])
		},
	}
	cmd.AddCommand(a.packFullCommand(), a.packDeltaCommand(), a.packKeygenCommand(), a.packVerifyCommand(), a.packApplyCommand())
	for _, sub := range cmd.Commands() {
		sub.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return packUsage(c, "%v", err) })
	}
	return cmd
}

func (a *app) packFullCommand() *cobra.Command {
	var f packFlags
	cmd := &cobra.Command{
		Use:   "full IMAGE -o PKG",
		Short: "Build a full package of an image",
		Example: `  atota pack full build/fw-2.0.0.bin -o plans/firmware/fw-2.0.0.pkg
  atota pack full fw.bin -o fw.pkg --compress none --sign release-key --json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return packUsage(cmd, "want one image file, got %d arguments", len(args))
			}
			opts, err := f.buildOptions(cmd, true)
			if err != nil {
				return err
			}
			a.begin(cmd)
			img, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("pack full: %w", err)
			}
			if err := f.signer(&opts); err != nil {
				return err
			}
			return a.packWrite(f, func(w io.Writer) (*pack.Header, error) { return pack.WriteFull(w, img, opts...) })
		},
	}
	f.buildFlags(cmd, true)
	return cmd
}

func (a *app) packDeltaCommand() *cobra.Command {
	var f packFlags
	cmd := &cobra.Command{
		Use:   "delta OLD NEW -o PKG",
		Short: "Build a delta package that turns the OLD image into the NEW one",
		Long: `atota pack delta compresses NEW in chunks, each a zstd frame whose dictionary
is the parts of OLD it repeats. The device applies it only to an image whose
SHA-256 is OLD's; the plan component says package: delta and source_version.`,
		Example: `  atota pack delta build/fw-1.0.0.bin build/fw-2.0.0.bin -o plans/firmware/fw-1-to-2.pkg
  atota pack delta old.bin new.bin -o delta.pkg --chunk-size 16K --dict-size 64K`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return packUsage(cmd, "want the OLD and the NEW image files, got %d arguments", len(args))
			}
			opts, err := f.buildOptions(cmd, false)
			if err != nil {
				return err
			}
			a.begin(cmd)
			oldImg, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("pack delta: old image: %w", err)
			}
			newImg, err := os.ReadFile(args[1])
			if err != nil {
				return fmt.Errorf("pack delta: new image: %w", err)
			}
			if err := f.signer(&opts); err != nil {
				return err
			}
			return a.packWrite(f, func(w io.Writer) (*pack.Header, error) { return pack.WriteDelta(w, oldImg, newImg, opts...) })
		},
	}
	f.buildFlags(cmd, false)
	return cmd
}

func (f *packFlags) buildFlags(cmd *cobra.Command, full bool) {
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "", "package file to write (required)")
	fl.BoolVar(&f.json, "json", false, "print the result as one JSON object")
	fl.StringVar(&f.sign, "sign", "", "sign the header with this ed25519 private key file (from atota pack keygen)")
	fl.StringVar(&f.chunkSize, "chunk-size", "64K", "image bytes per chunk (K and M suffixes are KiB and MiB); the MCU holds about two")
	if full {
		fl.StringVar(&f.compress, "compress", "zstd", "chunk compression: zstd or none")
	} else {
		fl.StringVar(&f.dictSize, "dict-size", "256K", "most OLD bytes one chunk refers to, which the MCU holds while applying it; 0 = all of OLD")
	}
}

// buildOptions checks the build flags of cmd; its errors are usage errors.
func (f *packFlags) buildOptions(cmd *cobra.Command, full bool) ([]pack.Option, error) {
	if f.output == "" {
		return nil, packUsage(cmd, "-o PKG is required")
	}
	chunk, err := parsePackSize(cmd, "--chunk-size", f.chunkSize)
	if err != nil {
		return nil, err
	}
	if chunk < pack.MinChunkSize || chunk > pack.MaxChunkSize {
		return nil, packUsage(cmd, "--chunk-size %s: want %dK to %dM", f.chunkSize, pack.MinChunkSize>>10, pack.MaxChunkSize>>20)
	}
	opts := []pack.Option{pack.WithChunkSize(chunk)}
	if full {
		c, err := pack.ParseCompression(f.compress)
		if err != nil {
			return nil, packUsage(cmd, "--compress %q: want zstd or none", f.compress)
		}
		opts = append(opts, pack.WithCompression(c))
	} else {
		dict, err := parsePackSize(cmd, "--dict-size", f.dictSize)
		if err != nil {
			return nil, err
		}
		opts = append(opts, pack.WithDictSize(dict))
	}
	return opts, nil
}

// signer adds the --sign key to opts.
func (f *packFlags) signer(opts *[]pack.Option) error {
	if f.sign == "" {
		return nil
	}
	priv, err := pack.ReadPrivateKeyFile(f.sign)
	if err != nil {
		return fmt.Errorf("--sign: %w", err)
	}
	*opts = append(*opts, pack.WithSigner(priv))
	return nil
}

// packUsage returns a usage error of the pack subcommand cmd that points at
// its help.
func packUsage(cmd *cobra.Command, format string, args ...any) error {
	name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return usagef("%s: %s (see atota %s --help)", name, fmt.Sprintf(format, args...), name)
}

// parsePackSize reads a byte count with an optional K or M (KiB, MiB) suffix.
func parsePackSize(cmd *cobra.Command, flag, s string) (int, error) {
	mult := 1
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(s), "IB"), "B")
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	}
	n, err := strconv.Atoi(t)
	if err != nil || n < 0 || n > 1<<30/mult {
		return 0, packUsage(cmd, "%s %q: want a byte count such as 65536, 64K or 1M", flag, s)
	}
	return n * mult, nil
}

// packReport is what pack full, delta and verify print.
type packReport struct {
	File         string  `json:"file"`
	Kind         string  `json:"kind"`
	Size         int64   `json:"size"`
	MD5          string  `json:"md5"`
	SHA256       string  `json:"sha256"`
	CRC          uint32  `json:"crc"`
	Compression  string  `json:"compression"`
	Chunks       int     `json:"chunks"`
	ChunkSize    int     `json:"chunk_size"`
	TargetSize   int64   `json:"target_size"`
	TargetSHA256 string  `json:"target_sha256"`
	SourceSize   int64   `json:"source_size,omitempty"`
	SourceSHA256 string  `json:"source_sha256,omitempty"`
	Ratio        float64 `json:"ratio"` // package size / target image size
	ApplyMemory  int64   `json:"apply_memory"`
	KeyID        string  `json:"key_id,omitempty"`
	Verified     string  `json:"verified,omitempty"` // what verify checked
}

func newPackReport(path string, h *pack.Header, d plan.Digests) packReport {
	r := packReport{
		File: path, Kind: h.Kind.String(), Size: d.Size, MD5: d.MD5, SHA256: d.SHA256, CRC: d.CRC,
		Compression: h.Compression.String(), Chunks: len(h.Chunks), ChunkSize: h.ChunkSize,
		TargetSize: h.TargetSize, TargetSHA256: hex.EncodeToString(h.TargetSHA256[:]),
		ApplyMemory: pack.ApplyMemory(h), KeyID: hex.EncodeToString(h.KeyID),
	}
	if h.Kind == pack.Delta {
		r.SourceSize, r.SourceSHA256 = h.SourceSize, hex.EncodeToString(h.SourceSHA256[:])
	}
	if h.TargetSize > 0 {
		r.Ratio = float64(d.Size) / float64(h.TargetSize)
	}
	return r
}

func (a *app) printPackReport(r packReport, asJSON bool) error {
	if asJSON {
		return a.printPackJSON(r)
	}
	w := a.stdout
	fmt.Fprintf(w, "%s: %s package, %d bytes\n", r.File, r.Kind, r.Size)
	fmt.Fprintf(w, "  md5     %s\n  sha256  %s\n  crc     %d (%s)\n", r.MD5, r.SHA256, r.CRC, plan.DefaultCRC)
	fmt.Fprintf(w, "  target  %d bytes, sha256 %s\n", r.TargetSize, r.TargetSHA256)
	if r.Kind == pack.Delta.String() {
		fmt.Fprintf(w, "  source  %d bytes, sha256 %s\n", r.SourceSize, r.SourceSHA256)
	}
	fmt.Fprintf(w, "  ratio   %.2f %% of the image\n", 100*r.Ratio)
	fmt.Fprintf(w, "  chunks  %d of %d bytes, %s\n", r.Chunks, r.ChunkSize, r.Compression)
	fmt.Fprintf(w, "  memory  %d bytes (%.0f KiB) to apply on the MCU\n", r.ApplyMemory, float64(r.ApplyMemory)/1024)
	if r.KeyID != "" {
		fmt.Fprintf(w, "  signed  key %s\n", r.KeyID)
	} else {
		fmt.Fprintln(w, "  signed  no")
	}
	if r.Verified != "" {
		fmt.Fprintf(w, "  checked %s\n", r.Verified)
	}
	return nil
}

func (a *app) printPackJSON(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.stdout, "%s\n", data)
	return err
}

// packWrite builds a package with write into f.output and reports it.
func (a *app) packWrite(f packFlags, write func(io.Writer) (*pack.Header, error)) error {
	var buf bytes.Buffer
	h, err := write(&buf)
	if err != nil {
		return err
	}
	if err := packWriteFile(f.output, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pack: -o: %w", err)
	}
	d, err := plan.DigestFile(f.output)
	if err != nil {
		return err
	}
	r := newPackReport(f.output, h, d)
	if err := a.printPackReport(r, f.json); err != nil {
		return err
	}
	if h.Kind == pack.Delta && r.Ratio > 0.9 && !f.json {
		fmt.Fprintln(a.stderr, "atota pack: note: the images share little; a full package is about as small")
	}
	return nil
}

func (a *app) packKeygenCommand() *cobra.Command {
	var f packFlags
	cmd := &cobra.Command{
		Use:   "keygen -o NAME",
		Short: "Make an ed25519 key pair: NAME (private) and NAME.pub (public)",
		Long: `atota pack keygen writes an ed25519 private key to NAME (mode 0600, for
atota pack --sign) and its public key to NAME.pub (for atota pack verify --key
and atota mcu --verify-key), both PEM as openssl writes them.`,
		Example: `  atota pack keygen -o release-key`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.output == "" {
				return packUsage(cmd, "-o NAME is required")
			}
			a.begin(cmd)
			pubPath := f.output + ".pub"
			if !f.force {
				for _, p := range []string{f.output, pubPath} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("pack keygen: %s exists: choose another -o, or --force to replace it", p)
					}
				}
			}
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return fmt.Errorf("pack keygen: %w", err)
			}
			privPEM, err := pack.MarshalPrivateKey(priv)
			if err != nil {
				return err
			}
			pubPEM, err := pack.MarshalPublicKey(pub)
			if err != nil {
				return err
			}
			if err := packWriteFile(f.output, privPEM, 0o600); err != nil {
				return fmt.Errorf("pack keygen: %w", err)
			}
			if err := packWriteFile(pubPath, pubPEM, 0o644); err != nil {
				return fmt.Errorf("pack keygen: %w", err)
			}
			id := hex.EncodeToString(pack.KeyID(pub))
			if f.json {
				return a.printPackJSON(map[string]string{"private": f.output, "public": pubPath, "key_id": id})
			}
			fmt.Fprintf(a.stdout, "%s: private key (keep it secret; atota pack --sign %s)\n", f.output, f.output)
			fmt.Fprintf(a.stdout, "%s: public key (atota mcu --verify-key %s)\n", pubPath, pubPath)
			fmt.Fprintf(a.stdout, "key id %s\n", id)
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "private key file to write; the public key goes to the same name plus .pub (required)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as one JSON object")
	cmd.Flags().BoolVar(&f.force, "force", false, "replace existing key files")
	return cmd
}

func (a *app) packVerifyCommand() *cobra.Command {
	var f packFlags
	cmd := &cobra.Command{
		Use:   "verify PKG [--key PUB] [--old OLD]",
		Short: "Check a package: header, signature, and every chunk (a delta against --old)",
		Example: `  atota pack verify fw.pkg
  atota pack verify delta.pkg --key release-key.pub --old fw-1.0.0.bin --json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return packUsage(cmd, "want one package file, got %d arguments", len(args))
			}
			a.begin(cmd)
			h, d, checked, err := packCheck(cmd.Context(), args[0], f, io.Discard)
			if err != nil {
				return err
			}
			r := newPackReport(args[0], h, d)
			r.Verified = checked
			return a.printPackReport(r, f.json)
		},
	}
	cmd.Flags().StringVar(&f.key, "key", "", "require a signature by this ed25519 public key file")
	cmd.Flags().StringVar(&f.old, "old", "", "the source image, to check a delta chunk by chunk")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as one JSON object")
	return cmd
}

func (a *app) packApplyCommand() *cobra.Command {
	var f packFlags
	cmd := &cobra.Command{
		Use:   "apply PKG [--old OLD] -o IMAGE",
		Short: "Rebuild the image a package holds (a delta needs --old), as the MCU would",
		Example: `  atota pack apply delta.pkg --old fw-1.0.0.bin -o fw-2.0.0.bin
  atota pack apply fw.pkg --key release-key.pub -o fw.bin`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return packUsage(cmd, "want one package file, got %d arguments", len(args))
			}
			if f.output == "" {
				return packUsage(cmd, "-o IMAGE is required")
			}
			a.begin(cmd)
			var img bytes.Buffer
			h, _, _, err := packCheck(cmd.Context(), args[0], f, &img)
			if err != nil {
				return err
			}
			if h.Kind == pack.Delta && f.old == "" {
				return errors.New("pack apply: a delta needs --old OLD, the image it was built from")
			}
			if err := packWriteFile(f.output, img.Bytes(), 0o644); err != nil {
				return fmt.Errorf("pack apply: -o: %w", err)
			}
			if f.json {
				return a.printPackJSON(map[string]any{"file": f.output, "size": img.Len(), "sha256": hex.EncodeToString(h.TargetSHA256[:])})
			}
			fmt.Fprintf(a.stdout, "%s: %d bytes, sha256 %x\n", f.output, img.Len(), h.TargetSHA256)
			return nil
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "image file to write (required)")
	cmd.Flags().StringVar(&f.key, "key", "", "require a signature by this ed25519 public key file")
	cmd.Flags().StringVar(&f.old, "old", "", "the source image of a delta")
	cmd.Flags().BoolVar(&f.json, "json", false, "print the result as one JSON object")
	return cmd
}

// packCheck reads the package at path, checks its signature against
// f.key and its length, and applies it to out when it can (a full package,
// or a delta with f.old). It returns what it checked, in words.
func packCheck(ctx context.Context, path string, f packFlags, out io.Writer) (*pack.Header, plan.Digests, string, error) {
	d, err := plan.DigestFile(path)
	if err != nil {
		return nil, d, "", err
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, d, "", fmt.Errorf("pack: %w", err)
	}
	defer file.Close()
	h, err := pack.ReadHeader(file)
	if err != nil {
		return nil, d, "", fmt.Errorf("%s: %w", path, err)
	}
	checked := []string{"header"}
	if f.key != "" {
		pub, err := pack.ReadPublicKeyFile(f.key)
		if err != nil {
			return nil, d, "", fmt.Errorf("--key: %w", err)
		}
		if err := h.Verify(pub); err != nil {
			return nil, d, "", fmt.Errorf("%s: %w", path, err)
		}
		checked = append(checked, "signature")
	}
	if want := int64(h.Size()) + h.PayloadSize(); d.Size != want {
		return nil, d, "", fmt.Errorf("pack: %s: %d bytes, its header says %d: the file is truncated or has extra bytes", path, d.Size, want)
	}
	var old io.ReaderAt
	if h.Kind == pack.Delta {
		if f.old == "" {
			return h, d, strings.Join(checked, ", ") + " (give --old to check the chunks)", nil
		}
		o, err := os.Open(f.old)
		if err != nil {
			return nil, d, "", fmt.Errorf("--old: %w", err)
		}
		defer o.Close()
		old = o
		checked = append(checked, "source image")
	}
	if err := pack.Apply(ctx, h, file, old, out); err != nil {
		return nil, d, "", fmt.Errorf("%s: %w", path, err)
	}
	checked = append(checked, "every chunk", "target sha256")
	return h, d, strings.Join(checked, ", "), nil
}

// packWriteFile writes data to path through a temporary file in the same
// directory, synced and renamed, so path is never half written.
func packWriteFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

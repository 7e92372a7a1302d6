package plan

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Dir is a plans directory: one plan per *.json file, package files
// referenced by relative paths inside it. Load reads it again on demand.
// A Dir is safe for concurrent use.
type Dir struct {
	path string // as given, for messages
	abs  string // for Plan.Dir
	log  *slog.Logger

	mu     sync.Mutex
	active map[string]loaded // plan name → activated plan as last loaded
	owners map[string]string // plan name → file that held it at the last load
}

// loaded is a plan as a Load accepted it.
type loaded struct {
	plan *Plan
	file string   // file name inside the directory
	sum  [32]byte // SHA-256 of the plan's canonical JSON
}

type config struct {
	log *slog.Logger
}

// Option configures a [Dir].
type Option func(*config)

// WithLogger makes Load log at debug level which plans it loaded, and at
// warning level when it keeps an activated plan that was changed in place.
// The default discards logs.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// OpenDir returns the plans directory at path. It fails if path is not a
// directory; it does not read any plan yet.
func OpenDir(path string, opts ...Option) (*Dir, error) {
	cfg := config{log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("plan: plans directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("plan: plans directory %s is not a directory: give the directory that holds the *.json plan files", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plan: plans directory %s: %w", path, err)
	}
	return &Dir{path: path, abs: abs, log: cfg.log, active: map[string]loaded{}, owners: map[string]string{}}, nil
}

// Path returns the directory's path as given to OpenDir.
func (d *Dir) Path() string { return d.path }

// Load reads every *.json file of the directory (not recursively; names
// starting with "." are skipped) and returns the good plans sorted by name,
// with Dir set, and one error per bad file (possibly an errors.Join of
// several [*Error]), in file name order. A bad file never hides the good
// ones. Beyond [Parse], Load checks that
//
//   - every component file exists inside the directory, is a regular file
//     and is not empty;
//   - plan names are unique: when two files use one name, the file that
//     held it at the previous Load keeps it, else the first file by name,
//     and the other file is an error naming both;
//   - an activated plan is never changed in place: when a file holds an
//     activated plan whose name matches an activated plan of the previous
//     Load but whose content differs, that file is refused and the
//     previous version is kept, until the file sets state "saved" or
//     "ended" or renames the plan. Formatting and field order do not count
//     as changes. An activated plan whose file now fails to load is kept
//     as well; one whose file was removed is gone.
func (d *Dir) Load() ([]*Plan, []error) {
	d.mu.Lock()
	defer d.mu.Unlock()

	root, err := os.OpenRoot(d.abs)
	if err != nil {
		return nil, []error{fmt.Errorf("plan: open plans directory %s: %w", d.path, err)}
	}
	defer root.Close()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, []error{fmt.Errorf("plan: read plans directory %s: %w", d.path, err)}
	}

	type candidate struct {
		loaded
		src string
	}
	var cands []candidate
	errsOf := map[string][]error{}
	keepPrevious := func(file string) {
		for _, rec := range d.active {
			if rec.file == file {
				cands = append(cands, candidate{rec, rec.plan.Source})
			}
		}
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		files = append(files, name)
		src := filepath.Join(d.path, name)
		p, err := d.loadFile(root, name, src)
		if err != nil {
			errsOf[name] = append(errsOf[name], err)
			keepPrevious(name)
			continue
		}
		sum := sha256.Sum256(mustMarshal(p))
		if prev, ok := d.active[p.Name]; ok && p.State == Activated && prev.sum != sum {
			errsOf[name] = append(errsOf[name], &Error{File: src, Rule: fmt.Sprintf(
				"activated plan %q was changed in place; an activated plan is never changed: "+
					"still serving the version loaded from %s; to change it, set state to %q or %q first, or give it a new name",
				p.Name, prev.plan.Source, Saved, Ended)})
			d.log.Warn("plan: activated plan changed in place; keeping the version loaded before",
				"plan", p.Name, "file", src, "kept", prev.plan.Source)
			cands = append(cands, candidate{prev, prev.plan.Source})
			continue
		}
		cands = append(cands, candidate{loaded{plan: p, file: name, sum: sum}, src})
	}

	// Unique names: the previous holder of a name first, then file order.
	holds := func(c candidate) bool { return d.owners[c.plan.Name] == c.file }
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if ha, hb := holds(a), holds(b); ha != hb {
			if ha {
				return -1
			}
			return 1
		}
		return strings.Compare(a.file, b.file)
	})
	byName := map[string]candidate{}
	for _, c := range cands {
		if first, dup := byName[c.plan.Name]; dup {
			if first.plan == c.plan {
				continue // kept twice: its file is bad and also reused
			}
			errsOf[c.file] = append(errsOf[c.file], &Error{File: c.src, Field: "name", Rule: fmt.Sprintf(
				"%q is already the name of the plan in %s; plan names must be unique", c.plan.Name, first.src)})
			continue
		}
		byName[c.plan.Name] = c
	}

	plans := make([]*Plan, 0, len(byName))
	d.active = map[string]loaded{}
	d.owners = map[string]string{}
	for name, c := range byName {
		plans = append(plans, c.plan)
		d.owners[name] = c.file
		if c.plan.State == Activated {
			d.active[name] = c.loaded
		}
		d.log.Debug("plan: loaded", "plan", name, "file", c.src, "state", c.plan.State)
	}
	slices.SortFunc(plans, func(a, b *Plan) int { return strings.Compare(a.Name, b.Name) })

	var errs []error
	for _, f := range files {
		switch es := errsOf[f]; len(es) {
		case 0:
		case 1:
			errs = append(errs, es[0])
		default:
			errs = append(errs, errors.Join(es...))
		}
	}
	return plans, errs
}

// loadFile reads, parses and checks one plan file.
func (d *Dir) loadFile(root *os.Root, name, src string) (*Plan, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("plan: %s: %w", src, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("plan: %s: %w", src, err)
	} else if !fi.Mode().IsRegular() {
		return nil, &Error{File: src, Rule: "not a regular file"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("plan: read %s: %w", src, err)
	}
	p, err := Parse(src, data)
	if err != nil {
		return nil, err
	}
	p.Dir = d.abs
	if err := d.checkFiles(root, p); err != nil {
		return nil, err
	}
	return p, nil
}

// checkFiles checks that every component file is a non-empty regular file
// inside the directory.
func (d *Dir) checkFiles(root *os.Root, p *Plan) error {
	var errs []*Error
	for i, c := range p.Components {
		field := index("components", i) + ".file"
		fi, err := root.Stat(filepath.FromSlash(c.File))
		var pe *fs.PathError
		switch {
		case errors.Is(err, fs.ErrNotExist):
			errs = append(errs, &Error{File: p.Source, Field: field, Rule: fmt.Sprintf("%s: no such file in the plans directory %s", c.File, d.path)})
		case errors.As(err, &pe):
			errs = append(errs, &Error{File: p.Source, Field: field, Rule: fmt.Sprintf("%s: %v (it must be a file inside the plans directory %s)", c.File, pe.Err, d.path)})
		case err != nil:
			errs = append(errs, &Error{File: p.Source, Field: field, Rule: fmt.Sprintf("%s: %v", c.File, err)})
		case !fi.Mode().IsRegular():
			errs = append(errs, &Error{File: p.Source, Field: field, Rule: fmt.Sprintf("%s is not a regular file", c.File)})
		case fi.Size() == 0:
			errs = append(errs, &Error{File: p.Source, Field: field, Rule: fmt.Sprintf("%s is empty", c.File)})
		}
	}
	return join(errs)
}

// mustMarshal returns p's canonical JSON. Marshalling a Plan cannot fail:
// it holds only strings, ints, bools and maps of strings.
func mustMarshal(p *Plan) []byte {
	b, err := p.MarshalJSON()
	if err != nil {
		panic("plan: marshal: " + err.Error())
	}
	return b
}

package platform

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/atota/atota/agent/plan"
)

// packageFiles serves the package files of the plans over HTTP, each at a
// short URL made from its SHA-256 (the Alink SDK keeps URLs in 256-byte
// buffers), with Range, If-Range and the SHA-256 as ETag.
type packageFiles struct {
	mu     sync.Mutex
	byPath map[string]*pkgFile
	byURL  map[string]*pkgFile
}

// pkgFile is one package file and its digests.
type pkgFile struct {
	root, rel string // the plans directory and the path inside it
	url       string // "/p/<16 hex>/<name>"
	size      int64
	modTime   time.Time
	digests   plan.Digests
}

func newPackageFiles() *packageFiles {
	return &packageFiles{byPath: map[string]*pkgFile{}, byURL: map[string]*pkgFile{}}
}

// add returns the file of component c of plan pl, computing its digests
// when the file is new or changed.
func (f *packageFiles) add(pl *plan.Plan, c plan.Component) (*pkgFile, error) {
	full := c.Path(pl)
	fi, err := os.Stat(full)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	pf, ok := f.byPath[full]
	f.mu.Unlock()
	if ok && pf.size == fi.Size() && pf.modTime.Equal(fi.ModTime()) {
		return pf, nil
	}
	r, err := c.Open(pl)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	d, err := plan.Digest(r)
	if err != nil {
		return nil, err
	}
	pf = &pkgFile{root: pl.Dir, rel: filepath.FromSlash(c.File), size: d.Size, modTime: fi.ModTime(), digests: d,
		url: "/p/" + d.SHA256[:16] + "/" + path.Base(c.File)}
	f.mu.Lock()
	f.byPath[full], f.byURL[pf.url] = pf, pf
	f.mu.Unlock()
	return pf, nil
}

// ServeHTTP serves a package file.
func (f *packageFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	f.mu.Lock()
	pf, ok := f.byURL[r.URL.Path]
	f.mu.Unlock()
	if !ok || !strings.HasPrefix(r.URL.Path, "/p/") {
		http.NotFound(w, r)
		return
	}
	file, err := os.OpenInRoot(pf.root, pf.rel)
	if err != nil {
		http.Error(w, "package gone", http.StatusNotFound)
		return
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil || fi.Size() != pf.size || !fi.ModTime().Equal(pf.modTime) {
		// Changed since its digest was taken: the URL names the old file.
		http.Error(w, "package changed", http.StatusGone)
		return
	}
	w.Header().Set("ETag", `"`+pf.digests.SHA256+`"`)
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "", pf.modTime, file)
}

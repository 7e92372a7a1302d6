package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atota/atota/transport"
)

func ExampleDownload() {
	pkg := bytes.Repeat([]byte("firmware"), 4096)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "pkg.bin", time.Time{}, bytes.NewReader(pkg))
	}))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)

	path := filepath.Join(dir, "pkg.bin")
	n, err := transport.Download(context.Background(), srv.URL+"/pkg.bin", path, int64(len(pkg)))
	fmt.Println(n, err)
	_, err = transport.Download(context.Background(), "ftp://127.0.0.1/pkg.bin", path, 10)
	fmt.Println(strings.Contains(err.Error(), "only http and https"))
	// Output:
	// 32768 <nil>
	// true
}

func ExampleMatchTopic() {
	fmt.Println(transport.MatchTopic("/ota/device/upgrade/+/+", "/ota/device/upgrade/p1demo/dev1"))
	fmt.Println(transport.MatchTopic("#", "$oc/devices/dev1/sys/events/down"))
	// Output:
	// true
	// false
}

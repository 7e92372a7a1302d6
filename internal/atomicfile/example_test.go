package atomicfile_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/atota/atota/internal/atomicfile"
)

func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "image.bin")

	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		fmt.Println(err)
		return
	}
	f.Write([]byte("new image"))
	// Until Commit, path does not exist (or keeps its old content).
	_, err = os.Stat(path)
	fmt.Println("before commit, exists:", err == nil)
	if err := f.Commit(); err != nil {
		fmt.Println(err)
		return
	}
	data, _ := os.ReadFile(path)
	fmt.Println(string(data))
	// Output:
	// before commit, exists: false
	// new image
}

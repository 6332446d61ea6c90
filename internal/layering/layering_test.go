// Package layering holds a test that keeps the architecture's layers apart:
// the library packages never import the CLI frameworks or cmd/ (the same
// rules as .golangci.yml's depguard, enforced on every go test run).
package layering

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

var forbidden = []string{
	"github.com/spf13/cobra",
	"github.com/spf13/viper",
	"github.com/spf13/pflag",
	"github.com/schollz/progressbar/v3",
	"github.com/custodian-forensics/custodian/cmd",
}

var libraries = []string{"acquire", "hashing", "blockdev", "report"}

func TestLibrariesStayCLIFree(t *testing.T) {
	const mod = "github.com/custodian-forensics/custodian/"
	args := []string{"list", "-deps", "-json=ImportPath,Deps"}
	for _, l := range libraries {
		args = append(args, mod+l+"/...")
	}
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !isLibrary(mod, p.ImportPath) {
			continue
		}
		checked++
		for _, d := range p.Deps {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s depends on %s", p.ImportPath, d)
				}
			}
		}
	}
	if checked < len(libraries) {
		t.Fatalf("checked %d library packages, want at least %d", checked, len(libraries))
	}
}

func isLibrary(mod, path string) bool {
	for _, l := range libraries {
		if path == mod+l || strings.HasPrefix(path, mod+l+"/") {
			return true
		}
	}
	return false
}

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

// formatPackages are the image format implementations: only acquire (which
// keeps the one lookup of formats by name) imports them, so the pipeline,
// the verifier and the CLI reach every format through the acquire/format
// seam.
var formatPackages = []string{"acquire/raw", "acquire/ewf"}

// TestFormatsBehindTheSeam: the format packages are imported only by
// acquire; report imports no image package at all (it reads no image
// files); cmd imports no format package.
func TestFormatsBehindTheSeam(t *testing.T) {
	const mod = "github.com/custodian-forensics/custodian/"
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range p.Imports {
			for _, f := range formatPackages {
				if imp == mod+f && p.ImportPath != mod+"acquire" {
					t.Errorf("%s imports the format package %s: reach formats through acquire.LookupFormat", p.ImportPath, f)
				}
			}
			if p.ImportPath == mod+"report" && (strings.HasPrefix(imp, mod+"acquire") || imp == mod+"blockdev") {
				t.Errorf("report imports %s: the report package reads no image files or devices", imp)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("go list listed %d packages", seen)
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

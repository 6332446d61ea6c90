//go:build ignore

// mksample writes testdata/sample.img and testdata/sample.img.sha256 from
// package internal/sampledisk. Run it from the repository root:
//
//	go run ./testdata/mksample.go            # write the image and its hash
//	go run ./testdata/mksample.go -manifest  # print the file tables for README.md
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custodian-forensics/custodian/internal/sampledisk"
)

func main() {
	dir := flag.String("dir", "testdata", "directory to write sample.img and sample.img.sha256 into")
	manifest := flag.Bool("manifest", false, "print the Markdown file tables for testdata/README.md instead of writing files")
	flag.Parse()
	if err := run(*dir, *manifest); err != nil {
		fmt.Fprintln(os.Stderr, "mksample:", err)
		os.Exit(1)
	}
}

func run(dir string, manifest bool) error {
	if manifest {
		return printManifest()
	}
	var buf bytes.Buffer
	if err := sampledisk.Build(&buf); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	img := filepath.Join(dir, "sample.img")
	if err := os.WriteFile(img, buf.Bytes(), 0o644); err != nil {
		return err
	}
	line := hex.EncodeToString(sum[:]) + "  sample.img\n"
	if err := os.WriteFile(img+".sha256", []byte(line), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n%s", img, buf.Len(), line)
	return nil
}

func printManifest() error {
	files, err := sampledisk.Files()
	if err != nil {
		return err
	}
	parts := sampledisk.Partitions()
	fmt.Println("| Slot | Start | End | Sectors | Type | FS | Label | Serial |")
	fmt.Println("|---|---:|---:|---:|---|---|---|---|")
	for _, p := range parts {
		fmt.Printf("| %d | %d | %d | %d | 0x%02X | FAT%d | %s | %04X-%04X |\n",
			p.Slot, p.Start, p.Start+p.Sectors-1, p.Sectors, p.Type, p.FAT, p.Label, p.Serial>>16, p.Serial&0xFFFF)
	}
	for i, p := range parts {
		fmt.Printf("\nPartition %d, %s (FAT%d, `-o %d`):\n\n", i+1, p.Label, p.FAT, p.Start)
		fmt.Println("| Path | 8.3 name | Bytes | Modified | Clusters | SHA-256 |")
		fmt.Println("|---|---|---:|---|---|---|")
		for _, f := range files {
			if f.Partition != i+1 {
				continue
			}
			name := "`" + f.Path + "`"
			if f.Deleted {
				name += " **(deleted)**"
			}
			sum := sha256.Sum256(f.Data)
			fmt.Printf("| %s | %s | %d | %s | %s | `%x` |\n", name, f.ShortName, len(f.Data),
				f.Modified.Format("2006-01-02 15:04:05"), runs(f.Clusters), sum)
		}
	}
	fmt.Print("\nOutside the partitions:\n\n")
	fmt.Println("| What | LBA | Bytes | SHA-256 |")
	fmt.Println("|---|---:|---:|---|")
	for _, f := range files {
		if f.Partition == 0 {
			sum := sha256.Sum256(f.Data)
			fmt.Printf("| PNG in unallocated space | %d | %d | `%x` |\n", f.LBA, len(f.Data), sum)
		}
	}
	return nil
}

// runs prints cluster lists as ranges: "5-9, 11-19".
func runs(cs []uint32) string {
	if len(cs) == 0 {
		return "none"
	}
	s := ""
	for i := 0; i < len(cs); {
		j := i
		for j+1 < len(cs) && cs[j+1] == cs[j]+1 {
			j++
		}
		if s != "" {
			s += ", "
		}
		if i == j {
			s += fmt.Sprint(cs[i])
		} else {
			s += fmt.Sprintf("%d-%d", cs[i], cs[j])
		}
		i = j + 1
	}
	return s
}

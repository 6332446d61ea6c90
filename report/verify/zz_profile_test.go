package verify

import (
	"context"
	"os"
	"testing"
)

func TestZZProfile(t *testing.T) {
	dir := os.Getenv("ZZ_DIR")
	if dir == "" {
		t.Skip()
	}
	r, err := Verify(context.Background(), dir, Options{NoTrust: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		t.Log(c)
	}
}

package ewf

import (
	"context"
	"errors"
	"os"

	"github.com/custodian-forensics/custodian/acquire/format"
)

func open(root *os.Root, files []string) (format.Reader, error) { return nil, errors.New("todo") }
func scan(ctx context.Context, root *os.Root, files []string, v format.ScanVisitor) error {
	return errors.New("todo")
}

//go:build !linux

package blockdev

import (
	"context"
	"fmt"
)

// Watch is only available on Linux.
func Watch(ctx context.Context, o WatchOptions) error {
	return fmt.Errorf("watch: %w", ErrUnsupportedOS)
}

package raw

import (
	"os"

	"golang.org/x/sys/unix"
)

func unixFcntlFlags(f *os.File) (int, error) { return unix.FcntlInt(f.Fd(), unix.F_GETFL, 0) }

//go:build !linux

package blockdev

import (
	"fmt"
	"os"
)

func openDevice(path string, opts OpenOptions) (*Device, error) {
	return nil, fmt.Errorf("open %s: %w", path, ErrUnsupportedOS)
}

func ioctlGetRO(fd uintptr) (bool, error)  { return false, ErrUnsupportedOS }
func ioctlSetRO(fd uintptr, ro bool) error { return ErrUnsupportedOS }
func openBlockForIoctl(path string) (*os.File, error) {
	return nil, fmt.Errorf("open %s: %w", path, ErrUnsupportedOS)
}

func statNode(path string) (node, error) {
	return node{}, fmt.Errorf("stat %s: %w", path, ErrUnsupportedOS)
}

func probeNode(path string) (geometryInfo, error) {
	return geometryInfo{}, fmt.Errorf("%s: %w", path, ErrUnsupportedOS)
}

func devMajor(dev uint64) uint32 { return uint32(((dev >> 32) & 0xfffff000) | ((dev >> 8) & 0xfff)) }
func devMinor(dev uint64) uint32 { return uint32(((dev >> 12) & 0xffffff00) | (dev & 0xff)) }
